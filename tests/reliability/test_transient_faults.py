"""HubSpot's "try again later" replies through the operators (issue 23, item 10), in the fault
matrix's style (tests/reliability/test_fault_matrix.py): 423 Locked, 477 Migration in Progress,
502, 504 and the CDN's 521, 522, 524 are retried within `retry_total_timeout` instead of failing
the chunk at once; when they outlast the retries, the chunk's pairs are failed with a message that
says HubSpot may have applied the request, and the report still matches the simulator's state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from hubassoc_simulator import FaultPlan, Simulator
from tests.reliability.test_fault_matrix import BATCH, CHUNKS, PAIRS, assert_success, batch_op, go
from tests.support.assertions import LeakScan, check_report_matches_state
from tests.support.connections import MAX_RETRIES
from tests.support.sim_states import MakeSim, archive_requests

TRANSIENT = ("423", "477", "502", "504", "521", "522", "524")


def statuses(sim: Simulator) -> dict[str, int]:
    return {k: v for k, v in sim.counters()["by_status"].items() if k in TRANSIENT}


def failed_messages(report: list[dict[str, Any]]) -> list[str]:
    return [line["message"] for line in report if line.get("kind") == "pair" and line["status"] == "failed"]


@pytest.mark.parametrize("commit_on_error", [False, True], ids=["refused", "applied-then-refused"])
def test_every_transient_status_is_retried_to_success(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, commit_on_error: bool
) -> None:
    """Today each of these fails its chunk at the first reply (and five in a row trip the breaker).
    Applied before the reply or not, the replay is exact."""
    schedule = {1: "477", 2: "502", 4: "504", 6: "521", 8: "522", 10: "524"}
    plan = FaultPlan(schedule=schedule, migration_retry_after_s=0.2, commit_on_error=commit_on_error)
    sim = rel_sim(faults=plan)
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert_success(run)
    assert statuses(sim) == dict.fromkeys(schedule.values(), 1)
    assert archive_requests(sim) == CHUNKS + len(schedule)


def test_a_423_waits_at_least_two_seconds_then_succeeds(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    sim = rel_sim(faults=FaultPlan(schedule={3: "423"}))
    report = tmp_path / "r.jsonl"
    started = time.monotonic()
    run = go(sim, batch_op(report), leak_scan, report)
    assert_success(run)
    assert time.monotonic() - started >= 2.0
    assert statuses(sim) == {"423": 1}
    assert archive_requests(sim) == CHUNKS + 1


def test_a_cdn_timeout_outlasting_the_retries_fails_the_chunk_as_maybe_applied(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """HubSpot did the work every time, but the CDN answered 524 each time: the chunk fails, its
    pairs say the request may have been applied, and the rest of the run is done."""
    schedule = dict.fromkeys(range(1, MAX_RETRIES + 2), "524")  # the first chunk's every attempt
    sim = rel_sim(faults=FaultPlan(schedule=schedule, commit_on_error=True))
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert type(run.error) is AirflowException  # not final: Airflow's own retry may help
    by_status = check_report_matches_state(run, PAIRS, ambiguous=PAIRS[:BATCH])
    assert by_status["failed"] == set(PAIRS[:BATCH])
    assert by_status["done"] == set(PAIRS[BATCH:])
    messages = failed_messages(run.report)
    assert len(messages) == BATCH
    for message in messages:
        assert "CDN timed out" in message
        assert "may have applied the request" in message
    assert archive_requests(sim) == CHUNKS + MAX_RETRIES


def test_a_migration_longer_than_the_deadline_fails_the_chunk_without_waiting(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """477 with Retry-After: 3600, past the connection's retry_total_timeout (30 s): that chunk is
    not retried, not waited for, and reported failed naming the migration; the others are done."""
    sim = rel_sim(faults=FaultPlan(schedule={1: "477"}, migration_retry_after_s=3_600))
    report = tmp_path / "r.jsonl"
    started = time.monotonic()
    run = go(sim, batch_op(report), leak_scan, report)
    assert time.monotonic() - started < 20
    assert type(run.error) is AirflowException
    by_status = check_report_matches_state(run, PAIRS, ambiguous=PAIRS[:BATCH])
    assert by_status["failed"] == set(PAIRS[:BATCH])
    assert by_status["done"] == set(PAIRS[BATCH:])
    assert all("477 Migration in Progress" in message for message in failed_messages(run.report))
    assert archive_requests(sim) == CHUNKS
