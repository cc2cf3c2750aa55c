"""The fault matrix, through the operators, against the stateful simulator.

For every fault: the task ends in the right state (success / AirflowException, which Airflow may
retry / AirflowFailException, which it never retries), the simulator's final state matches the
JSONL report pair by pair, and requests stay bounded (<= chunks x (1 + max retries)).
Secrets are checked at teardown by the autouse `leak_scan` fixture.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_hubassoc.client.errors import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotMissingScopesError,
)
from airflow_provider_hubassoc.operators.archive import (
    HubSpotArchiveAssociationLabelsOperator,
    HubSpotArchiveAssociationsOperator,
)
from hubassoc_simulator import FaultPlan, Simulator
from tests.support.assertions import LeakScan, check_report_matches_state
from tests.support.connections import MAX_RETRIES, TOKEN
from tests.support.operator_runs import Run, chunk_count, run_operator
from tests.support.sim_states import BOSS, FT, TT, MakeSim, archive_requests, target_pairs

BATCH = 5
PAIRS = target_pairs()  # 30 pairs of a 64-edge grid -> 6 chunks of 5
CHUNKS = chunk_count(len(PAIRS), BATCH)
BOUND = CHUNKS * (1 + MAX_RETRIES)


def batch_op(report: Path, **kwargs: Any) -> HubSpotArchiveAssociationsOperator:
    kwargs.setdefault("batch_size", BATCH)
    kwargs.setdefault("max_concurrency", 1)
    return HubSpotArchiveAssociationsOperator(
        task_id="archive",
        from_object_type=FT,
        to_object_type=TT,
        inputs=[{"from_id": f, "to_id": t} for f, t in PAIRS],
        report_path=str(report),
        **kwargs,
    )


def mid_run(
    cls: type[HubSpotArchiveAssociationsOperator], at_chunk: int, action: Callable[[], None]
) -> type[HubSpotArchiveAssociationsOperator]:
    """The operator, with `action` run just before chunk `at_chunk` is sent (a mid-run event):
    its operation is the same value with a `send` that counts the requests (one at a time)."""
    from airflow_provider_hubassoc.batch.operations import OPERATIONS

    original = OPERATIONS[cls.operation_name]
    sent = itertools.count()

    def send(client: Any, from_type: str, to_type: str, pairs: Any) -> Any:
        if next(sent) == at_chunk:
            action()
        return original.send(client, from_type, to_type, pairs)

    class MidRun(cls):  # type: ignore[valid-type,misc]
        operation = dataclasses.replace(original, send=send)  # the class value wins over the property

    return MidRun


def go(sim: Simulator, op: Any, leak_scan: LeakScan, report: Path) -> Run:
    run = run_operator(op, sim, leak_scan, report)
    assert archive_requests(sim) <= BOUND, f"retry storm: {sim.counters()}"
    return run


def assert_success(run: Run) -> None:
    assert run.error is None, repr(run.error)
    by_status = check_report_matches_state(run, PAIRS)
    assert by_status["done"] == set(PAIRS)
    totals = run.summary["totals"]
    assert totals["confirmed"] + totals["accepted"] == len(PAIRS)


# -- 429 storms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_429_storm_from_a_real_ten_secondly_limit(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, retry_after: bool
) -> None:
    """The account allows 3 requests per 500 ms; the connection believes 10,000: 429s, then the
    governor learns the limit from the headers and the run completes without a storm."""
    # 100 ms latency keeps 4 requests in flight before the first reply teaches the governor.
    sim = rel_sim(
        rate_limit=3, rate_interval_ms=500, retry_after=retry_after, faults=FaultPlan(latency_ms=100)
    )
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report, max_concurrency=4), leak_scan, report)
    assert_success(run)
    counters = sim.counters()
    assert counters["rate_limited"] >= 1, "the storm must actually happen"
    assert archive_requests(sim) == CHUNKS + counters["rate_limited"]


@pytest.mark.parametrize(
    ("retry_after", "min_wait"), [(True, 1.0), (False, 0.5)], ids=["retry-after", "interval-header"]
)
def test_scheduled_429s_honour_the_wait_hubspot_asked_for(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, retry_after: bool, min_wait: float
) -> None:
    """Two 429s on one chunk: waits Retry-After (1 s) when sent, else the window header (500 ms)."""
    sim = rel_sim(retry_after=retry_after, faults=FaultPlan(schedule={2: "429", 3: "429"}))
    report = tmp_path / "r.jsonl"
    started = time.monotonic()
    run = go(sim, batch_op(report), leak_scan, report)
    elapsed = time.monotonic() - started
    assert_success(run)
    assert archive_requests(sim) == CHUNKS + 2
    assert elapsed >= 2 * min_wait * 0.95
    assert elapsed < 2 * min_wait + 4


def test_429_storm_outlasting_the_retries_fails_that_chunk_retryably(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """1 + max_retries 429s in a row: that chunk fails (RATE_LIMIT), the rest is done, and the task
    fails with a plain AirflowException (Airflow's own retries may help later)."""
    schedule = dict.fromkeys(range(1, MAX_RETRIES + 2), "429")
    sim = rel_sim(retry_after=False, faults=FaultPlan(schedule=schedule))
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert type(run.error) is AirflowException
    by_status = check_report_matches_state(run, PAIRS)
    assert by_status["failed"] == set(PAIRS[:BATCH])
    assert by_status["done"] == set(PAIRS[BATCH:])
    assert run.summary["errorsByCategory"] == {"RATE_LIMITS": BATCH}
    assert archive_requests(sim) == MAX_RETRIES + CHUNKS


def test_daily_limit_mid_run_fails_fast_and_a_rerun_resumes(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """The day's budget runs out after 3 requests: no retry (retrying before midnight is pointless),
    no wait for the day's Retry-After, AirflowFailException; a re-run skips the done chunks."""
    sim = rel_sim(daily_limit=3)
    report = tmp_path / "r.jsonl"
    started = time.monotonic()
    run = go(sim, batch_op(report, max_concurrency=2), leak_scan, report)
    assert time.monotonic() - started < 5
    assert isinstance(run.error, AirflowFailException)
    assert isinstance(run.error.__cause__, HubSpotDailyLimitError)
    assert "daily" in str(run.error)
    by_status = check_report_matches_state(run, PAIRS)
    assert len(by_status["done"]) == 3 * BATCH
    assert archive_requests(sim) <= 3 + 2, "at most the in-flight requests hit the spent budget"
    assert sim.counters()["by_status"].get("429", 0) <= 2

    # The next day: the same task with the same report_path only sends what is left.
    sim.configure(daily_limit=None)
    sim.reset_rate_limits()
    sim.reset_counters()
    second = go(sim, batch_op(report, max_concurrency=2), leak_scan, report)  # a retry of the run
    assert second.error is None, repr(second.error)
    assert second.summary["totals"]["doneEarlier"] == 3 * BATCH
    assert archive_requests(sim) == CHUNKS - 3
    second.before = run.before
    assert check_report_matches_state(second, PAIRS)["done"] == set(PAIRS)


# -- 5xx, resets, timeouts, malformed replies -----------------------------------------------------


def test_5xx_burst_is_retried_to_success(rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path) -> None:
    sim = rel_sim(faults=FaultPlan(schedule={1: "500", 2: "502", 4: "503", 6: "504"}))
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert_success(run)
    assert archive_requests(sim) == CHUNKS + 4
    assert {k: v for k, v in sim.counters()["by_status"].items() if k.startswith("5")} == {
        "500": 1,
        "502": 1,
        "503": 1,
        "504": 1,
    }


def test_5xx_after_the_server_applied_it_is_replayed_safely(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """The ambiguous case: HubSpot applied the archive, then answered 502. The replay is idempotent."""
    sim = rel_sim(faults=FaultPlan(schedule={2: "502", 3: "503"}, commit_on_error=True))
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert_success(run)
    assert archive_requests(sim) == CHUNKS + 2


def test_5xx_outlasting_the_retries_fails_the_chunk_retryably(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    schedule = dict.fromkeys(range(BATCH + 1, BATCH + MAX_RETRIES + 2), "503")  # chunk 5's attempts
    sim = rel_sim(faults=FaultPlan(schedule=schedule))
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert type(run.error) is AirflowException
    by_status = check_report_matches_state(run, PAIRS)
    assert by_status["failed"] == set(PAIRS[-BATCH:])
    assert archive_requests(sim) == CHUNKS + MAX_RETRIES
    assert run.pushed["summary"]["totals"]["failed"] == BATCH


@pytest.mark.parametrize("commit_on_error", [False, True], ids=["reset-before", "reset-after-commit"])
def test_connection_resets_are_retried(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, commit_on_error: bool
) -> None:
    plan = FaultPlan(schedule={1: "reset", 3: "reset", 4: "reset"}, commit_on_error=commit_on_error)
    sim = rel_sim(faults=plan)
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report, max_concurrency=2), leak_scan, report)
    assert_success(run)
    assert sim.counters()["by_status"]["reset"] == 3
    assert archive_requests(sim) == CHUNKS + 3


def test_read_timeouts_are_retried_and_the_replay_is_idempotent(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """The server applied the archive but answered after the read timeout: retried, still exact."""
    sim = rel_sim(
        faults=FaultPlan(schedule={2: "slow", 5: "slow"}, slow_seconds=1.5), extra={"read_timeout": 0.4}
    )
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert_success(run)
    assert archive_requests(sim) == CHUNKS + 2


@pytest.mark.parametrize("reply_mode", ["200", "204"])
def test_malformed_json_replies_are_retried(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, reply_mode: str
) -> None:
    sim = rel_sim(reply_mode=reply_mode, faults=FaultPlan(schedule={1: "malformed", 4: "malformed"}))
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert_success(run)
    # A 204 says nothing per pair: accepted; a 200 batch body confirms them.
    assert run.summary["totals"]["accepted" if reply_mode == "204" else "confirmed"] == len(PAIRS)
    assert archive_requests(sim) == CHUNKS + 2


def test_malformed_replies_outlasting_the_retries_report_failed_not_done(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """Unreadable replies to a request the server did apply: the operator cannot confirm it, so it
    reports the chunk failed (never done); the pairs may be gone server-side (ambiguous)."""
    schedule = dict.fromkeys(range(1, MAX_RETRIES + 2), "malformed")
    sim = rel_sim(reply_mode="200", faults=FaultPlan(schedule=schedule))
    report = tmp_path / "r.jsonl"
    run = go(sim, batch_op(report), leak_scan, report)
    assert type(run.error) is AirflowException
    by_status = check_report_matches_state(run, PAIRS, ambiguous=PAIRS[:BATCH])
    assert by_status["failed"] == set(PAIRS[:BATCH])
    assert archive_requests(sim) == CHUNKS + MAX_RETRIES


# -- auth: token expiry, refresh, scopes -----------------------------------------------------------


def _expire_oauth_tokens(sim: Simulator) -> None:
    for token, spec in sim.config.tokens.items():
        if spec.oauth:
            sim.expire_token(token)


def test_oauth_token_expiring_mid_run_is_refreshed_once(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    sim = rel_sim(oauth=True)
    report = tmp_path / "r.jsonl"
    cls = mid_run(HubSpotArchiveAssociationsOperator, 2, lambda: _expire_oauth_tokens(sim))
    run = go(sim, cls(**_op_kwargs(report)), leak_scan, report)
    assert_success(run)
    counters = sim.counters()
    assert counters["by_endpoint"]["oauth_token"] == 2, "one initial token, one refresh"
    assert counters["by_status"]["401"] == 1
    assert archive_requests(sim) == CHUNKS + 1
    assert sum(1 for spec in sim.config.tokens.values() if spec.oauth) == 2


def test_oauth_refresh_token_revoked_mid_run_fails_fast(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    sim = rel_sim(oauth=True)
    report = tmp_path / "r.jsonl"

    def revoke() -> None:
        sim.configure(refresh_tokens=frozenset())
        _expire_oauth_tokens(sim)

    cls = mid_run(HubSpotArchiveAssociationsOperator, 2, revoke)
    run = go(sim, cls(**_op_kwargs(report)), leak_scan, report)
    assert isinstance(run.error, AirflowFailException)
    assert isinstance(run.error.__cause__, HubSpotAuthError)
    by_status = check_report_matches_state(run, PAIRS)
    assert by_status["done"] == set(PAIRS[: 2 * BATCH])
    assert archive_requests(sim) == 3, "nothing sent after the refusal"
    assert sim.counters()["by_endpoint"]["oauth_token"] == 2


def test_static_token_expiring_mid_run_fails_fast_without_retry(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    sim = rel_sim()
    report = tmp_path / "r.jsonl"
    cls = mid_run(HubSpotArchiveAssociationsOperator, 3, lambda: sim.expire_token(TOKEN))
    run = go(sim, cls(**_op_kwargs(report)), leak_scan, report)
    assert isinstance(run.error, AirflowFailException)
    assert isinstance(run.error.__cause__, HubSpotAuthError)
    by_status = check_report_matches_state(run, PAIRS)
    assert by_status["done"] == set(PAIRS[: 3 * BATCH])
    assert len(by_status["skipped"]) + len(by_status["failed"]) == 3 * BATCH
    assert sim.counters()["by_status"]["401"] == 1
    assert archive_requests(sim) == 4
    assert run.summary["totals"]["skipped"] == 2 * BATCH


@pytest.mark.parametrize("oauth", [False, True], ids=["private-app", "oauth"])
def test_scopes_revoked_mid_run_fail_fast_naming_the_scope(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, oauth: bool
) -> None:
    sim = rel_sim(oauth=oauth)
    report = tmp_path / "r.jsonl"

    def revoke() -> None:
        for token in list(sim.config.tokens):
            sim.set_scopes(token, {"crm.objects.contacts.write"})

    cls = mid_run(HubSpotArchiveAssociationsOperator, 1, revoke)
    run = go(sim, cls(**_op_kwargs(report, max_concurrency=1)), leak_scan, report)
    assert isinstance(run.error, AirflowFailException)
    assert isinstance(run.error.__cause__, HubSpotMissingScopesError)
    assert "crm.objects.companies.write" in str(run.error)
    by_status = check_report_matches_state(run, PAIRS)
    assert by_status["done"] == set(PAIRS[:BATCH])
    assert sim.counters()["by_status"]["403"] == 1
    assert archive_requests(sim) == 2


# -- the label operator under faults ---------------------------------------------------------------


def test_label_archive_under_mixed_faults_removes_exactly_the_labels(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """GET labels + label archive through 5xx, a reset, a 429 and a malformed reply."""
    schedule = {1: "503", 3: "reset", 5: "429", 7: "malformed"}
    sim = rel_sim(reply_mode="200", retry_after=False, faults=FaultPlan(schedule=schedule))
    report = tmp_path / "r.jsonl"
    op = HubSpotArchiveAssociationLabelsOperator(
        task_id="labels",
        from_object_type=FT,
        to_object_type=TT,
        inputs=[[f, t, "Decision maker"] for f, t in PAIRS],
        batch_size=BATCH,
        max_concurrency=1,
        report_path=str(report),
    )
    run = run_operator(op, sim, leak_scan, report)
    assert run.error is None, repr(run.error)
    by_status = check_report_matches_state(run, PAIRS, label_types={key: {BOSS} for key in PAIRS})
    assert by_status["done"] == set(PAIRS)
    assert archive_requests(sim, "labels_archive") + archive_requests(sim, "labels") <= (CHUNKS + 1) * (
        1 + MAX_RETRIES
    )
    assert archive_requests(sim, "labels_archive") == CHUNKS + 3


def _op_kwargs(report: Path, **kwargs: Any) -> dict[str, Any]:
    return {
        "task_id": "archive",
        "from_object_type": FT,
        "to_object_type": TT,
        "inputs": [{"from_id": f, "to_id": t} for f, t in PAIRS],
        "report_path": str(report),
        "batch_size": BATCH,
        "max_concurrency": 1,
        **kwargs,
    }
