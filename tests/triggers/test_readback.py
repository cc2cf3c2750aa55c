"""The shared read-back plan: chunking, association vs exact-label presence, narrowing, sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubassoc.batch.readback import (
    READ_BATCH_LIMIT,
    ReadbackPlan,
    find_still_present,
)
from airflow_provider_hubassoc.batch.report import ReportUnreadableError
from airflow_provider_hubassoc.models.associations import AssociationCategory, AssociationType, Pair
from tests.support.readback import FakeReader
from tests.support.reports import write_report

UNLABELED = ("HUBSPOT_DEFINED", 279)
PRIMARY = ("HUBSPOT_DEFINED", 1)
CUSTOM = ("USER_DEFINED", 36)


def pair(fid: str, tid: str, *types: tuple[str, int]) -> Pair:
    labels = tuple(AssociationType(category=AssociationCategory(c), type_id=t) for c, t in types)
    return Pair(fid, tid, labels)


def test_association_pairs_present_and_gone(fake_reader: Any) -> None:
    fake_reader.edges = {("1", "10"): {UNLABELED}, ("2", "20"): {UNLABELED, PRIMARY}}
    pairs = [pair("1", "10"), pair("1", "11"), pair("2", "20"), pair("3", "30")]

    result = find_still_present(fake_reader, "contacts", "companies", pairs)

    assert result.checked == 4
    assert [(p.from_id, p.to_id) for p in result.still_present] == [("1", "10"), ("2", "20")]
    assert not result.all_gone
    assert fake_reader.calls == [["1", "2", "3"]]  # one read, each from id once


def test_label_pairs_only_the_archived_labels_count(fake_reader: Any) -> None:
    fake_reader.edges = {("1", "10"): {UNLABELED}, ("2", "20"): {UNLABELED, CUSTOM}}
    pairs = [
        pair("1", "10", CUSTOM),  # label gone, association stays: gone
        pair("2", "20", CUSTOM),  # label still there: present
        pair("3", "30", UNLABELED),  # unlabeled archived removes the whole association: gone
    ]

    result = find_still_present(fake_reader, "contacts", "companies", pairs)

    assert [(p.from_id, p.to_id) for p in result.still_present] == [("2", "20")]


def test_the_exact_label_is_checked_category_and_type_id(fake_reader: Any) -> None:
    """A label is verified gone only when that label (category and type id) is gone."""
    fake_reader.edges = {("1", "10"): {UNLABELED, CUSTOM}, ("2", "20"): {UNLABELED, CUSTOM}}
    pairs = [
        pair("1", "10", ("HUBSPOT_DEFINED", 36)),  # a label that is not on the pair: nothing to wait for
        pair("2", "20", PRIMARY, CUSTOM),  # Primary is gone but USER_DEFINED/36 is still there
    ]

    result = find_still_present(fake_reader, "contacts", "companies", pairs)

    assert [(p.from_id, p.to_id) for p in result.still_present] == [("2", "20")]


def test_reads_are_chunked_to_1000_from_ids(fake_reader: Any) -> None:
    # 2,500 distinct from ids, each with two pairs: three reads, none over 1,000 ids.
    pairs = [pair(str(i), str(t)) for i in range(1, 2501) for t in (1, 2)]
    fake_reader.edges = {("2500", "2"): {UNLABELED}}

    result = find_still_present(fake_reader, "contacts", "companies", iter(pairs))

    assert [len(c) for c in fake_reader.calls] == [1000, 1000, 500]
    assert result.checked == 5000
    assert [(p.from_id, p.to_id) for p in result.still_present] == [("2500", "2")]


def test_smaller_chunk_and_bounds(fake_reader: Any) -> None:
    pairs = [pair(str(i), "1") for i in range(1, 6)]
    find_still_present(fake_reader, "contacts", "companies", pairs, chunk_size=2)
    assert [len(c) for c in fake_reader.calls] == [2, 2, 1]
    with pytest.raises(ValueError, match="chunk_size"):
        find_still_present(fake_reader, "contacts", "companies", pairs, chunk_size=READ_BATCH_LIMIT + 1)


def test_report_ids_are_read_canonically(fake_reader: Any, tmp_path: Path) -> None:
    report = tmp_path / "r.jsonl"
    write_report(report, [("007", "0042", "confirmed")])
    fake_reader.edges = {("7", "42"): {UNLABELED}}
    plan = ReadbackPlan("contacts", "companies", report_path=str(report))
    assert len(plan.read_back(fake_reader).still_present) == 1
    assert fake_reader.calls == [["7"]]


def test_describe_names_pairs_and_counts_the_rest(fake_reader: Any) -> None:
    fake_reader.edges = {("1", str(t)): {CUSTOM} for t in range(1, 31)}
    pairs = [pair("1", str(t), CUSTOM) for t in range(1, 31)] + [pair("2", "1")]

    result = find_still_present(fake_reader, "contacts", "companies", pairs)

    text = result.describe(3)
    assert text.startswith("30 of 31 pairs still present: 1->1 [USER_DEFINED/36], 1->2")
    assert text.endswith("and 27 more")
    assert len(result.sample(5)) == 5
    assert result.sample(1) == [
        {
            "fromId": "1",
            "toId": "1",
            "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 36}],
        }
    ]


def test_one_record_linked_to_ten_thousand_is_checked_by_lookup() -> None:
    """Every pair of a from id with 10,000 links: correct per pair (indexed once per from id)."""
    still_linked = {("1", str(to_id)): {("HUBSPOT_DEFINED", 279)} for to_id in range(1, 10_001)}
    reader = FakeReader(still_linked)
    asked = [Pair("1", str(to_id)) for to_id in range(5_001, 15_001)]
    result = find_still_present(reader, "contacts", "companies", asked)
    assert result.checked == 10_000
    assert [p.to_id for p in result.still_present] == [str(t) for t in range(5_001, 10_001)]


# -- the plan: sources and narrowing --------------------------------------------------------------


def test_plan_reads_every_sent_pair_of_the_report_then_only_what_is_left(
    fake_reader: Any, tmp_path: Path
) -> None:
    report = tmp_path / "r.jsonl"
    rows = [("1", "10", "confirmed"), ("2", "20", "accepted"), ("3", "30", "failed"), ("4", "40", "accepted")]
    write_report(report, rows)
    write_report(tmp_path / "earlier.jsonl", [("5", "50", "skipped")], category="checkpoint")
    report.write_text(report.read_text() + (tmp_path / "earlier.jsonl").read_text())
    fake_reader.edges = {("2", "20"): {UNLABELED}}
    plan = ReadbackPlan("contacts", "companies", report_path=str(report))

    first = plan.read_back(fake_reader)
    fake_reader.edges.clear()
    second = plan.read_back(fake_reader)

    # failed pairs are not read back; a pair an earlier attempt of the run did is
    assert fake_reader.calls == [["1", "2", "4", "5"], ["2"]]
    assert (first.checked, len(first.still_present)) == (4, 1)
    assert (second.checked, second.all_gone) == (4, True)
    assert plan.accepted == 2  # the pairs the run left `accepted`, now confirmed
    assert plan.scope == "report"


def test_plan_falls_back_to_the_sample_when_the_report_is_unreadable(
    fake_reader: Any, tmp_path: Path
) -> None:
    sample = [("accepted", pair("1", "10")), ("confirmed", pair("2", "20"))]
    plan = ReadbackPlan("contacts", "companies", report_path=str(tmp_path / "gone.jsonl"), sample=sample)

    result = plan.read_back(fake_reader)

    assert result.checked == 2
    assert plan.scope == "sample"
    assert plan.accepted == 1
    assert plan.fallback_reason is not None
    assert "gone.jsonl" in plan.fallback_reason
    assert "sample instead" in plan.fallback_reason


def test_plan_without_a_sample_refuses_an_unreadable_report(fake_reader: Any, tmp_path: Path) -> None:
    report = tmp_path / "bad.jsonl"
    report.write_text('{"kind":"pair","fromId":"x","toId":"1","types":null,"status":"confirmed"}\n')
    plan = ReadbackPlan("contacts", "companies", report_path=str(report))
    with pytest.raises(ReportUnreadableError, match=r"bad.jsonl' line 1"):
        plan.read_back(fake_reader)
    assert fake_reader.calls == []
