"""Honest per-pair outcomes (issue 12): what a reply proves, what it only accepts, and the
operator's end-of-run read-back that turns `accepted` into `confirmed` or `failed`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubassoc.batch.outcomes import outcome_of_reply
from airflow_provider_hubassoc.batch.sender import CircuitBreaker, Progress
from airflow_provider_hubassoc.batch.store import Chunk
from airflow_provider_hubassoc.models.associations import Pair
from airflow_provider_hubassoc.models.responses import BatchResponse, BatchResult
from airflow_provider_hubassoc.models.summary import ArchiveSummary, fan_out_breach
from hubassoc_simulator import FaultPlan, Simulator
from tests.support.operator_runs import batch_op, task_context
from tests.support.sim_states import FT, TT

MakeSim = Callable[..., Simulator]
CHUNK = Chunk(0, [Pair("1", "101"), Pair("1", "102"), Pair("2", "101")])


def reply(status: int, body: dict[str, Any] | None) -> BatchResult:
    batch = None if body is None else BatchResponse.model_validate(body)
    return BatchResult(http_status=status, batch=batch)


def body(
    status: str = "COMPLETE", errors: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    when = "2026-01-01T00:00:00Z"
    return {
        "status": status,
        "results": [],
        "startedAt": when,
        "completedAt": when,
        "errors": errors or [],
        **extra,
    }


def states(result: BatchResult) -> list[str]:
    return [v.status for v in outcome_of_reply(CHUNK, result).verdicts]


def test_a_reply_without_a_body_only_accepts() -> None:
    outcome = outcome_of_reply(CHUNK, reply(204, None))
    assert [v.status for v in outcome.verdicts] == ["accepted"] * 3
    assert (outcome.batch_status, outcome.status) == ("NO_BODY", "done")  # sent and answered: checkpoint


def test_a_complete_body_confirms_all_but_the_attributed_failures() -> None:
    error = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "no", "context": {"toId": ["102"]}}
    assert states(reply(200, body(errors=[error]))) == ["confirmed", "failed", "confirmed"]


@pytest.mark.parametrize(
    "errors",
    [
        [{"status": "error", "category": "X", "message": "about nobody we sent", "context": {"id": ["999"]}}],
        [{"status": "error", "category": "X", "message": "no ids at all"}],
    ],
)
def test_an_error_naming_no_pair_of_the_chunk_fails_the_whole_chunk(errors: list[dict[str, Any]]) -> None:
    assert states(reply(200, body(errors=errors))) == ["failed"] * 3


def test_more_errors_counted_than_listed_fails_the_whole_chunk() -> None:
    assert states(reply(200, body(numErrors=2))) == ["failed"] * 3


@pytest.mark.parametrize("status", ["PENDING", "PROCESSING"])
def test_an_unfinished_batch_is_accepted_and_never_a_checkpoint(status: str) -> None:
    outcome = outcome_of_reply(CHUNK, reply(200, body(status)))
    assert [v.status for v in outcome.verdicts] == ["accepted"] * 3
    assert outcome.status == "unfinished"


def test_a_canceled_batch_fails() -> None:
    assert states(reply(200, body("CANCELED"))) == ["failed"] * 3


def test_v4_run_against_a_silent_drop_never_claims_done(make_sim: MakeSim, tmp_path: Path) -> None:
    """v4 answers 204: HubSpot says nothing per pair. The simulator drops (1, 101) silently."""
    sim = make_sim(silent_drops=frozenset({("1", "101")}))
    pairs = [(1, 101), (1, 102), (2, 103)]
    report = tmp_path / "plain.jsonl"
    value = batch_op(pairs, api_version="v4", report_path=str(report)).execute(task_context())
    assert value["totals"]["confirmed"] == 0
    assert value["totals"]["accepted"] == 3
    assert sim.state.has_association(FT, "1", TT, "101")
    statuses = {(x["fromId"], x["toId"]): x["status"] for x in _pairs(report)}
    assert statuses[("1", "101")] == "accepted"

    report = tmp_path / "read_back.jsonl"
    value = batch_op(
        [*pairs, (3, 104)],
        api_version="v4",
        report_path=str(report),
        read_back=True,
        read_back_timeout=0,
        on_error="ignore",
    ).execute(task_context("run-2"))
    totals = value["totals"]
    assert (totals["confirmed"], totals["accepted"], totals["failed"]) == (3, 0, 1)
    assert value["readBack"] is True
    assert value["errorsByCategory"] == {"STILL_PRESENT": 1}
    assert [(f["fromId"], f["toId"]) for f in value["failedSample"]] == [("1", "101")]
    statuses = {(x["fromId"], x["toId"]): x["status"] for x in _pairs(report)}
    assert statuses == {
        ("1", "101"): "failed",
        ("1", "102"): "confirmed",
        ("2", "103"): "confirmed",
        ("3", "104"): "confirmed",
    }
    assert all(p["status"] == "confirmed" for p in value["verifySample"])

    # The chunk with a pair still present is no checkpoint: a retry of the run sends it again.
    sim.configure(silent_drops=frozenset())
    sim.reset_counters()
    value = batch_op(
        [*pairs, (3, 104)], api_version="v4", report_path=str(report), read_back=True, read_back_timeout=0
    ).execute(task_context("run-2"))
    assert (value["totals"]["confirmed"], value["totals"]["doneEarlier"]) == (4, 0)
    assert sim.counters()["by_endpoint"]["batch_archive"] == 1
    assert not sim.state.has_association(FT, "1", TT, "101")


def test_read_back_failure_on_error_fail_fails_the_task(make_sim: MakeSim) -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    make_sim(silent_drops=frozenset({("1", "101")}))
    with pytest.raises(AirflowException, match="1 of 2 pairs failed"):
        batch_op([(1, 101), (1, 102)], api_version="v4", read_back=True, read_back_timeout=0).execute({})


def test_read_back_waits_for_hubspot_reads_to_catch_up(
    make_sim: MakeSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads lag writes: the first pass still sees the archived pairs; later passes see them gone."""
    import time
    from types import SimpleNamespace

    from airflow_provider_hubassoc.batch import run as runner

    sim = make_sim(faults=FaultPlan(visibility_delay_s=0.3))
    fake = SimpleNamespace(now=0.0, sleeps=[])

    def sleep(seconds: float) -> None:  # the wait is counted in fake time, 50 ms of real time
        fake.sleeps.append(seconds)
        fake.now += seconds
        time.sleep(0.05)

    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: fake.now, sleep=sleep))
    value = batch_op([(1, 101), (1, 102)], api_version="v4", read_back=True).execute({})
    assert (value["totals"]["confirmed"], value["totals"]["accepted"]) == (2, 0)
    assert fake.sleeps, "the first pass saw the pairs (HubSpot's lag), so the read-back waited"
    assert set(fake.sleeps) == {runner.READ_BACK_POLL_S}
    assert sim.counters()["by_endpoint"]["batch_read"] == len(fake.sleeps) + 1


def _pairs(report: Path) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in report.read_text().splitlines()]
    pairs = [line for line in found if line["kind"] == "pair"]
    assert len({(p["fromId"], p["toId"]) for p in pairs}) == len(pairs), "one line per pair"
    return pairs


# -- the circuit breaker and the progress line, alone ---------------------------------------------


def test_breaker_counts_failed_requests_in_a_row_not_refused_inputs() -> None:
    from airflow_provider_hubassoc.batch.outcomes import request_failed
    from airflow_provider_hubassoc.client.errors import HubSpotServerError

    breaker = CircuitBreaker(1000, on_error="ignore", max_error_ratio=None, max_failed_in_a_row=2)
    refused = outcome_of_reply(CHUNK, reply(200, body(errors=[{"category": "X", "message": "m", "id": "1"}])))
    assert breaker.observe(refused) is None
    assert breaker.observe(refused) is None  # per-input refusals are HubSpot working, not failing
    down = request_failed(CHUNK, HubSpotServerError("boom", status=503))
    assert breaker.observe(down) is None
    assert breaker.observe(down) == "2 chunks in a row failed (max_consecutive_failed_chunks): stopped early"


def test_progress_counts_done_earlier_and_reaches_100_percent() -> None:
    from airflow_provider_hubassoc.batch.outcomes import done_earlier

    now = [0.0]
    progress = Progress(6, verb="archived", interval=10.0, clock=lambda: now[0])
    progress.add(done_earlier(CHUNK, "checkpoint"))
    now[0] = 1.0
    progress.add(
        outcome_of_reply(Chunk(1, [Pair("3", "1"), Pair("3", "2"), Pair("3", "3")]), reply(204, None))
    )
    assert progress.line() == "archived 6/6 pairs (100.0%, 3 done earlier), 3.0 pairs/s, ETA 0s"


# -- a fan-out judged as one clean-up ---------------------------------------------------------------


def _summary(failed: int, requested: int) -> dict[str, Any]:
    value = ArchiveSummary(
        operation="batch_archive",
        from_object_type=FT,
        to_object_type=TT,
        api_version="2026-03",
        on_error="ignore",
        started_at="x",
    )
    value.totals.requested, value.totals.failed, value.totals.confirmed = (
        requested,
        failed,
        requested - failed,
    )
    return value.to_xcom()


def test_fan_out_ratio_is_over_the_whole_clean_up() -> None:
    parts = [_summary(1, 7), _summary(0, 7), _summary(0, 7)]  # 1 of 21 = 4.8%; one part alone: 14%
    assert fan_out_breach(parts, "threshold", 0.05) is None
    assert fan_out_breach([*parts, _summary(1, 1)], "threshold", 0.05) == (
        "2 of 22 pairs failed (9.09%), above max_error_ratio 5.00%"
    )
