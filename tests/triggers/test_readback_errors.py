"""A pair whose from record's read failed (an error other than not-found) is unknown: not gone."""

from __future__ import annotations

from typing import Any

from airflow_provider_hubassoc.batch.readback import ReadbackPlan, UnknownPair, find_still_present
from airflow_provider_hubassoc.models.associations import Pair
from tests.triggers.read_errors import LOCKED

UNLABELED = ("HUBSPOT_DEFINED", 279)


def test_a_failed_read_leaves_its_pairs_unknown_not_gone(erroring_reader: Any) -> None:
    erroring_reader.edges = {("1", "10"): {UNLABELED}, ("2", "20"): {UNLABELED}}
    erroring_reader.failing = {"2": LOCKED}
    pairs = [Pair("1", "10"), Pair("2", "20"), Pair("2", "21"), Pair("3", "30")]

    result = find_still_present(erroring_reader, "contacts", "companies", pairs)

    assert result.still_present == [Pair("1", "10")]
    reason = "the batch read of record 2 failed: LOCKED: too many writes to this record, try again later"
    assert result.unknown == [UnknownPair(Pair("2", "20"), reason), UnknownPair(Pair("2", "21"), reason)]
    assert not result.all_gone
    assert "2 of 4 pairs unknown (their read failed): 2->20 (the batch read of record 2" in result.describe()
    assert result.unknown_sample(1) == [{"fromId": "2", "toId": "20", "types": None, "reason": reason}]


def test_unknown_pairs_alone_are_not_all_gone_and_are_read_again(erroring_reader: Any) -> None:
    erroring_reader.failing = {"2": LOCKED}
    plan = ReadbackPlan(
        "contacts", "companies", sample=[("accepted", Pair("1", "10")), ("accepted", Pair("2", "20"))]
    )

    first = plan.read_back(erroring_reader)
    assert (first.still_present, [u.pair for u in first.unknown], first.all_gone) == (
        [],
        [Pair("2", "20")],
        False,
    )
    assert plan.pending_pairs() == [Pair("2", "20")]

    erroring_reader.failing = {}  # HubSpot answers this time: the record has nothing left
    second = plan.read_back(erroring_reader)
    assert second.all_gone
    assert (second.checked, plan.accepted) == (2, 2)
    assert erroring_reader.calls == [["1", "2"], ["2"]]


def test_the_pass_reads_one_batch_per_step(erroring_reader: Any) -> None:
    pairs = [("accepted", Pair(str(i), "1")) for i in range(1, 2502)]
    plan = ReadbackPlan("contacts", "companies", sample=pairs)
    started = plan.start(erroring_reader)
    steps = 0
    while not started.step():
        steps += 1
        assert len(erroring_reader.calls) == steps
    assert [len(c) for c in erroring_reader.calls] == [1000, 1000, 501]
    assert plan.finish(started).checked == 2501
