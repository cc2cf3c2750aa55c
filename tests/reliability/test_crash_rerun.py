"""Crash and re-run: kill the task's process mid-run (SIGKILL: no cleanup at all), run it again
with the same report_path, and check the checkpoint skips what was done and the end state is exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_hubassoc.batch.report import read_checkpoint
from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from hubassoc_simulator import FaultPlan, Simulator
from tests.support.assertions import LeakScan, check_report_matches_state
from tests.support.operator_runs import run_operator
from tests.support.sim_states import FT, TT, MakeSim, archive_requests, target_pairs

RUNNER = Path(__file__).resolve().parent / "crash_runner.py"
BATCH = 5
PAIRS = target_pairs(froms=8, tos=5)  # 40 of the 64 grid edges -> 8 chunks
CHUNKS = len(PAIRS) // BATCH


def _done_chunks(report: Path) -> set[str]:
    """Digests of the chunks a (killed) run recorded done; a torn last line is ignored."""
    done = set()
    for line in report.read_text().splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if obj.get("kind") == "chunk" and obj.get("status") == "done":
            done.add(obj["digest"])
    return done


def _settle(sim: Simulator, quiet_s: float = 0.5, limit_s: float = 10.0) -> None:
    """Wait until the killed client's last request (inside its simulated latency) is counted,
    so that it cannot land in the counters of the re-run that follows."""
    deadline = time.monotonic() + limit_s
    seen = sim.counters()["requests"]
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = sim.counters()["requests"]
        if now == seen:
            return
        seen = now


def _run_and_kill(sim: Simulator, tmp_path: Path, report: Path, after: int, scan: LeakScan, n: int) -> None:
    """Start the operator in a subprocess; SIGKILL it once `after` more archive requests arrived."""
    pairs_file = tmp_path / "pairs.json"
    pairs_file.write_text(json.dumps([list(p) for p in PAIRS]))
    start = archive_requests(sim)
    out, err = tmp_path / f"out{n}.txt", tmp_path / f"err{n}.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), str(pairs_file), str(report), str(BATCH)],
            env=os.environ.copy(),
            stdout=stdout,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while archive_requests(sim) - start < after:
                assert proc.poll() is None, f"the runner ended early: {err.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "the runner never got going"
                time.sleep(0.01)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    _settle(sim)
    scan.add(f"subprocess {n} stdout", out.read_text())
    scan.add(f"subprocess {n} stderr", err.read_text())


@pytest.mark.parametrize("crashes", [1, 2])
def test_killed_run_then_rerun_skips_done_chunks_and_ends_exact(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, crashes: int
) -> None:
    sim = rel_sim(faults=FaultPlan(latency_ms=150))
    before = sim.state.edges(FT, TT)
    report = tmp_path / "report.jsonl"
    recorded: set[str] = set()
    for n in range(crashes):
        _run_and_kill(sim, tmp_path, report, 3, leak_scan, n)
        recorded |= _done_chunks(report)
        assert 0 < len(recorded) < CHUNKS, "the kill must land mid-run"
    assert len(recorded) >= crashes  # the second crashed run added to what the first did

    run_of = {"dagId": "cleanup", "taskId": "archive", "runId": "run-1", "mapIndex": -1}
    header = {"operation": "batch_archive", "fromObjectType": FT, "toObjectType": TT, "run": run_of}
    assert recorded <= read_checkpoint(str(report), header), "the checkpoint holds every recorded chunk"
    sim.configure(faults=FaultPlan())
    sim.reset_counters()
    op = HubSpotArchiveAssociationsOperator(
        task_id="archive",
        from_object_type=FT,
        to_object_type=TT,
        inputs=[list(p) for p in PAIRS],
        report_path=str(report),
        batch_size=BATCH,
        max_concurrency=2,
    )
    run = run_operator(op, sim, leak_scan, report)
    assert run.error is None, repr(run.error)
    totals = run.summary["totals"]
    assert totals["skipped"] == BATCH * len(recorded), "every chunk recorded done is skipped"
    assert totals["doneEarlier"] == totals["skipped"]
    assert totals["confirmed"] == len(PAIRS) - totals["skipped"]
    sent_log = [(r.endpoint, r.status) for r in sim.request_log]
    assert archive_requests(sim) == CHUNKS - len(recorded), f"only unrecorded chunks are sent: {sent_log}"
    skipped = {line["chunk"] for line in run.report if line["kind"] == "pair" and line["status"] == "skipped"}
    assert len(skipped) == len(recorded)
    run.before = before
    assert check_report_matches_state(run, PAIRS)["done"] == set(PAIRS)
    # A further re-run sends nothing at all.
    sim.reset_counters()
    again = run_operator(op, sim, leak_scan, report)
    assert again.error is None
    assert again.summary["totals"]["doneEarlier"] == len(PAIRS)
    assert archive_requests(sim) == 0
