"""Issue 18's broken cases, each proven fixed: a checkpoint only for its own run, a report never
shared or overwritten, SIGTERM / SIGINT / a timeout stop sending and still write the summary, a
circuit breaker, and clear refusals of an unusable report path or a full disk."""

from __future__ import annotations

import dataclasses
import errno
import itertools
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from hubassoc_simulator import FaultPlan
from tests.support.airflow_versions import allow_execute_on_this_thread
from tests.support.assertions import LeakScan, check_report_matches_state
from tests.support.operator_runs import batch_op, run_operator, task_context
from tests.support.sim_states import FT, TT, MakeSim, archive_requests, target_pairs

BATCH = 5
PAIRS = target_pairs(froms=6, tos=5)  # 30 pairs -> 6 chunks
CHUNKS = len(PAIRS) // BATCH


def op_for(report: Path | None, **kwargs: Any) -> HubSpotArchiveAssociationsOperator:
    kwargs.setdefault("max_concurrency", 1)
    return batch_op(
        [list(p) for p in PAIRS], batch_size=BATCH, report_path=str(report) if report else None, **kwargs
    )


def at_chunk(op: HubSpotArchiveAssociationsOperator, index: int, action: Callable[[], None]) -> None:
    """Run `action` just before chunk `index` is sent (a mid-run event), on the sending thread:
    the operator's operation is the same value with a `send` that counts requests (one at a time)."""
    original = op.operation
    sent = itertools.count()

    def send_and_act(client: Any, from_type: str, to_type: str, pairs: Any) -> Any:
        if next(sent) == index:
            action()
        return original.send(client, from_type, to_type, pairs)

    op.operation = dataclasses.replace(original, send=send_and_act)


def lines(report: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in report.read_text().splitlines() if line.strip()]


def assert_every_pair_once_and_a_summary(report: Path) -> dict[str, Any]:
    found = lines(report)
    pairs = [(line["fromId"], line["toId"]) for line in found if line["kind"] == "pair"]
    assert sorted(pairs) == sorted(PAIRS), "every input is in the report exactly once"
    assert found[-1]["kind"] == "summary"
    totals = found[-1]["totals"]
    assert totals["confirmed"] + totals["accepted"] + totals["failed"] + totals["skipped"] == len(PAIRS)
    return dict(found[-1])


# -- 1. a checkpoint outlives its run --------------------------------------------------------------


def test_a_finished_report_of_another_run_is_no_checkpoint(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Night 1 archives; the associations come back; night 2 (another DAG run, same fixed
    report_path) must archive them again, and keep night 1's report aside."""
    sim = rel_sim()
    report = tmp_path / "nightly.jsonl"
    night1 = run_operator(op_for(report), sim, leak_scan, report, run_id="scheduled__night1")
    assert night1.error is None
    for from_id, to_id in PAIRS:  # re-created by the CRM sync
        sim.state.add_association(FT, from_id, TT, to_id, [("HUBSPOT_DEFINED", 279)])
    sim.reset_counters()

    night2 = run_operator(op_for(report), sim, leak_scan, report, run_id="scheduled__night2")
    assert night2.error is None, repr(night2.error)
    assert archive_requests(sim) == CHUNKS
    assert night2.summary["totals"]["doneEarlier"] == 0
    assert night2.summary["totals"]["confirmed"] == len(PAIRS)
    assert all(not sim.state.has_association(FT, f, TT, t) for f, t in PAIRS)
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("nightly.jsonl.") and p.suffix != ".lock"]
    assert len(kept) == 1, "night 1's report is kept aside, not overwritten"
    assert lines(kept[0])[0]["run"]["runId"] == "scheduled__night1"
    assert lines(report)[0]["run"]["runId"] == "scheduled__night2"
    assert "held the report of another run" in caplog.text
    assert "starts afresh" in caplog.text


def test_resume_lets_another_runs_report_skip_its_done_chunks(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    sim = rel_sim(daily_limit=2)
    report = tmp_path / "r.jsonl"
    first = run_operator(op_for(report), sim, leak_scan, report, run_id="run-a")
    assert isinstance(first.error, AirflowFailException)
    sim.configure(daily_limit=None)
    sim.reset_counters()
    resumed = run_operator(op_for(report, resume=True), sim, leak_scan, report, run_id="manual__b")
    assert resumed.error is None, repr(resumed.error)
    assert resumed.summary["totals"]["doneEarlier"] == 2 * BATCH
    assert archive_requests(sim) == CHUNKS - 2


# -- 3. two live runs, one report_path -------------------------------------------------------------


def test_a_report_in_use_by_a_live_run_is_refused(rel_sim: MakeSim, tmp_path: Path) -> None:
    sim = rel_sim()
    report = tmp_path / "shared.jsonl"
    first = op_for(report)
    inside, release = threading.Event(), threading.Event()
    at_chunk(first, 1, lambda: (inside.set(), release.wait(10)))
    results: dict[str, Any] = {}

    def run_first() -> None:
        allow_execute_on_this_thread()
        try:
            results["value"] = first.execute(task_context("run-a", map_index=0))  # type: ignore[arg-type]
        except Exception as err:  # pragma: no cover - reported below
            results["error"] = err

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert inside.wait(10), f"the first run never got going: {results.get('error')!r}"
        sent = archive_requests(sim)
        second = op_for(report)
        with pytest.raises(AirflowFailException, match="is in use by a live run") as info:
            second.execute(task_context("run-a", map_index=1))  # type: ignore[arg-type]
        assert str(report) in str(info.value)
        assert archive_requests(sim) == sent, "the refused run sent nothing"
    finally:
        release.set()
        thread.join(10)
    assert "error" not in results, repr(results.get("error"))
    assert_every_pair_once_and_a_summary(report)
    assert lines(report)[0]["run"]["mapIndex"] == 0, "the report is still the first run's"


# -- 2. SIGTERM (on_kill), SIGINT and execution_timeout mid-run ------------------------------------


@pytest.fixture
def sigterm_calls_on_kill() -> Iterator[Callable[[HubSpotArchiveAssociationsOperator], None]]:
    """Install Airflow's task-runner behaviour: SIGTERM calls the task's on_kill."""
    previous = signal.getsignal(signal.SIGTERM)

    def install(op: HubSpotArchiveAssociationsOperator) -> None:
        signal.signal(signal.SIGTERM, lambda signum, frame: op.on_kill())

    yield install
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_stops_sending_records_in_flight_and_writes_the_summary(
    rel_sim: MakeSim,
    leak_scan: LeakScan,
    tmp_path: Path,
    sigterm_calls_on_kill: Callable[[HubSpotArchiveAssociationsOperator], None],
) -> None:
    sim = rel_sim(faults=FaultPlan(latency_ms=50))
    report = tmp_path / "r.jsonl"
    op = op_for(report, max_concurrency=2)
    sigterm_calls_on_kill(op)
    at_chunk(op, 2, lambda: os.kill(os.getpid(), signal.SIGTERM))
    run = run_operator(op, sim, leak_scan, report)
    assert type(run.error) is AirflowException
    assert "on_kill" in str(run.error)
    assert archive_requests(sim) <= 2 + 2, "no request after SIGTERM but the ones in flight"
    summary = assert_every_pair_once_and_a_summary(report)
    assert summary["stoppedBy"] == "the task was killed (on_kill)"
    assert summary["totals"]["skipped"] >= len(PAIRS) - 4 * BATCH
    by_status = check_report_matches_state(run, PAIRS)
    assert len(by_status["done"]) == BATCH * archive_requests(sim), "each request sent is recorded done"


def test_sigint_mid_run_records_in_flight_chunks_and_writes_the_summary(
    rel_sim: MakeSim, tmp_path: Path
) -> None:
    sim = rel_sim(faults=FaultPlan(latency_ms=50))
    report = tmp_path / "r.jsonl"
    op = op_for(report, max_concurrency=2)
    at_chunk(op, 2, lambda: os.kill(os.getpid(), signal.SIGINT))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            op.execute(task_context())  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGINT, previous)
    summary = assert_every_pair_once_and_a_summary(report)
    sent = archive_requests(sim)
    assert sent <= 4
    done = summary["totals"]["confirmed"] + summary["totals"]["accepted"]
    assert done == BATCH * sent, "every request sent, in flight at the interrupt included, is recorded"
    assert summary["stoppedBy"] == "KeyboardInterrupt on the task's thread"


def test_execution_timeout_mid_run_writes_the_summary(rel_sim: MakeSim, tmp_path: Path) -> None:
    # What the task runner's timeout raises, and the timer that raises it.
    from airflow.providers.common.compat.sdk import AirflowTaskTimeout, timeout

    rel_sim(faults=FaultPlan(latency_ms=400))
    report = tmp_path / "r.jsonl"
    op = op_for(report)
    with pytest.raises(AirflowTaskTimeout), timeout(1):
        op.execute(task_context())  # type: ignore[arg-type]
    summary = assert_every_pair_once_and_a_summary(report)
    assert summary["stoppedBy"] == "AirflowTaskTimeout on the task's thread"
    assert summary["totals"]["skipped"] > 0


# -- 4. circuit breaker ----------------------------------------------------------------------------


def test_every_request_failing_stops_after_consecutive_failed_chunks(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    sim = rel_sim(faults=FaultPlan(error_rate=1.0), extra={"max_retries": 0})
    report = tmp_path / "r.jsonl"
    run = run_operator(
        op_for(report, on_error="ignore", max_consecutive_failed_chunks=2), sim, leak_scan, report
    )
    assert type(run.error) is AirflowException
    assert "2 chunks in a row failed" in str(run.error)
    assert archive_requests(sim) == 2
    summary = assert_every_pair_once_and_a_summary(report)
    assert (summary["totals"]["failed"], summary["totals"]["skipped"]) == (2 * BATCH, len(PAIRS) - 2 * BATCH)
    reasons = {line["message"] for line in lines(report) if line.get("status") == "skipped"}
    assert reasons == {
        "not attempted: 2 chunks in a row failed (max_consecutive_failed_chunks): stopped early"
    }


def test_threshold_that_can_no_longer_be_met_stops_early(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    sim = rel_sim(faults=FaultPlan(error_rate=1.0), extra={"max_retries": 0})
    report = tmp_path / "r.jsonl"
    op = op_for(report, on_error="threshold", max_error_ratio=0.05, max_consecutive_failed_chunks=None)
    run = run_operator(op, sim, leak_scan, report)
    assert type(run.error) is AirflowException
    assert "above max_error_ratio 5.00%" in str(run.error)
    assert archive_requests(sim) == 1, "one failed chunk already breaks 5% of 30 pairs"
    assert_every_pair_once_and_a_summary(report)


# -- unusable report paths --------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["proc", "proc_folder", "file_as_folder", "a_folder"])
def test_an_unwritable_report_path_fails_before_any_request_naming_it(
    rel_sim: MakeSim, tmp_path: Path, where: str
) -> None:
    sim = rel_sim()
    (tmp_path / "a_file").write_text("")
    report = {
        "proc": "/proc/x/report.jsonl",
        "proc_folder": "/proc/x/",
        "file_as_folder": str(tmp_path / "a_file" / "report.jsonl"),
        "a_folder": str(tmp_path),
    }[where]
    op = batch_op([list(p) for p in PAIRS], batch_size=BATCH, report_path=report)
    with pytest.raises(AirflowFailException, match="is not writable") as info:
        op.execute(task_context())  # type: ignore[arg-type]
    assert report in str(info.value)
    assert len(str(info.value)) <= 2000
    assert sim.counters()["requests"] == 0


class _FullDisk:
    """A text handle whose writes fail once `room` characters were written (ENOSPC)."""

    def __init__(self, handle: IO[str], room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, text: str) -> int:
        if len(text) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(text)
        return self.handle.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def test_a_full_disk_while_reporting_names_the_path_and_stops_sending(
    rel_sim: MakeSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_hubassoc.batch import report as report_module

    sim = rel_sim()
    report = tmp_path / "r.jsonl"
    real_open = report_module._open

    def small_disk(location: str, mode: str) -> Any:
        handle = real_open(location, mode)
        return _FullDisk(handle, 2500) if "w" in mode else handle

    monkeypatch.setattr(report_module, "_open", small_disk)
    with pytest.raises(AirflowException, match="could not write report_path") as info:
        op_for(report).execute(task_context())  # type: ignore[arg-type]
    assert str(report) in str(info.value)
    assert not isinstance(info.value, AirflowFailException)
    assert archive_requests(sim) < CHUNKS, "sending stopped once the report could not be written"
    kept = lines(report)
    assert kept[0]["kind"] == "header"
    assert any(line["kind"] == "pair" for line in kept)


# -- the progress line after a checkpointed re-run ---------------------------------------------------


def test_progress_counts_done_earlier_pairs_and_ends_once_at_100_percent(
    rel_sim: MakeSim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = rel_sim(daily_limit=3)
    report = tmp_path / "r.jsonl"
    with pytest.raises(AirflowFailException):
        op_for(report).execute(task_context())  # type: ignore[arg-type]
    sim.configure(daily_limit=None)
    caplog.clear()
    op_for(report, progress_interval=0.0).execute(task_context())  # type: ignore[arg-type]
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("archived ")]
    assert progress[-1].startswith(f"archived {len(PAIRS)}/{len(PAIRS)} pairs (100.0%, 15 done earlier)")
    assert "ETA 0s" in progress[-1]
    assert sum(1 for line in progress if "(100.0%" in line) == 1, "the final line is logged once"
    told = [r.getMessage() for r in caplog.records if r.getMessage().startswith("requested ")]
    plain = "15 confirmed, 15 done earlier (by an earlier attempt of this run)"
    assert told == [f"requested {len(PAIRS)}: {plain}; 0 duplicate input rows dropped"]
