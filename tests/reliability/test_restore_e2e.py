"""Issue 16 end to end: archive with snapshot under faults (and crashes), restore, and get the seed back.

10,000 mirrored pairs with mixed labels (unlabeled, HUBSPOT_DEFINED primary, USER_DEFINED); 5,000
of them archived plus 50 that do not exist; then restored from the report. The simulator's state,
both directions, must equal the seed exactly: same pairs, same labels, nothing extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import FaultPlan, Simulator
from tests.reliability.restore_runner import build
from tests.support.assertions import LeakScan
from tests.support.operator_runs import task_context
from tests.support.sim_states import TT, MakeSim, both_directions, mixed_label_state

RUNNER = Path(__file__).resolve().parent / "restore_runner.py"
ARCHIVED = [(f, t) for f in range(1, 51) for t in range(1001, 1101)]  # 5,000 of the 100 x 100 seed
NO_RECORD = [(90_000 + i, 1001) for i in range(25)]  # the contact does not exist
UNLINKED = [(i, 2001 + i) for i in range(1, 26)]  # both records exist, nothing links them
FAULTS = FaultPlan(error_rate=0.03, reset_rate=0.02, schedule={4: "429", 15: "429", 40: "429", 70: "503"})
LABELS = ["Decision maker", "HUBSPOT_DEFINED:1"]


def seeded(rel_sim: MakeSim, **config: Any) -> Simulator:
    state = mixed_label_state(100, 100)
    state.add_records(TT, range(2001, 2026))
    return rel_sim(state, rate_limit=100_000, **config)


def request_of(mode: str, tmp_path: Path) -> dict[str, Any]:
    targets = ARCHIVED + NO_RECORD + UNLINKED
    inputs: list[Any] = [{"from_id": f, "to_id": t, "labels": LABELS} for f, t in targets]
    if mode == "batch":
        inputs = [[f, t] for f, t in targets]
    report, restore_report = tmp_path / "archive.jsonl", tmp_path / "restore.jsonl"
    return {"inputs": inputs, "report": str(report), "restore_report": str(restore_report)}


def run_in_process(mode: str, request: dict[str, Any], scan: LeakScan) -> dict[str, Any]:
    value: dict[str, Any] = build(mode, request).execute(task_context("run-1", task_id=mode))
    scan.add(f"{mode} xcom", value)
    return value


def requests_to(sim: Simulator, endpoint: str) -> int:
    return int(sim.counters()["by_endpoint"].get(endpoint, 0))


def run_and_kill(sim: Simulator, mode: str, request: dict[str, Any], tmp_path: Path, after: int) -> None:
    """Start the operator in a subprocess; SIGKILL it once `after` more write requests arrived."""
    endpoint = (
        "batch_create" if mode == "restore" else ("labels_archive" if mode == "labels" else "batch_archive")
    )
    request_file = tmp_path / f"{mode}-request.json"
    request_file.write_text(json.dumps(request))
    start = requests_to(sim, endpoint)
    with (tmp_path / f"{mode}-err.txt").open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), mode, str(request_file)], env=os.environ.copy(), stderr=stderr
        )
        try:
            deadline = time.monotonic() + 60
            while requests_to(sim, endpoint) - start < after:
                assert proc.poll() is None, (tmp_path / f"{mode}-err.txt").read_text()[-2000:]
                assert time.monotonic() < deadline, "the runner never got going"
                time.sleep(0.01)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    time.sleep(0.3)  # the killed client's last request (inside its latency) lands before the re-run


@pytest.mark.parametrize("mode", ["batch", "labels"])
def test_archive_under_faults_then_restore_gives_the_seed_back(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, mode: str
) -> None:
    sim = seeded(rel_sim, faults=FAULTS)
    seed = both_directions(sim)
    request = request_of(mode, tmp_path)

    archived = run_in_process(mode, request, leak_scan)["totals"]
    assert archived["requested"] == len(ARCHIVED) + 50
    assert archived["failed"] <= 50, archived
    assert archived["confirmed"] + archived["accepted"] >= len(ARCHIVED), archived
    assert both_directions(sim) != seed
    assert sim.counters()["by_status"].get("429"), "the faults must include rate limiting"

    restored = run_in_process("restore", request, leak_scan)["totals"]
    assert restored["failed"] == 0, restored
    assert both_directions(sim) == seed
    # Replaying the restore (a new DAG run) is safe: the state stays the seed.
    build("restore", {**request, "restore_report": str(tmp_path / "again.jsonl")}).execute({})
    assert both_directions(sim) == seed


@pytest.mark.parametrize("mode", ["batch", "labels"])
def test_crash_mid_archive_and_mid_restore_then_reruns_give_the_seed_back(
    rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path, mode: str
) -> None:
    sim = seeded(rel_sim, faults=FaultPlan(latency_ms=40))
    seed = both_directions(sim)
    request = request_of(mode, tmp_path)

    run_and_kill(sim, mode, request, tmp_path, after=12)
    archived = run_in_process(mode, request, leak_scan)["totals"]
    assert archived["doneEarlier"] > 0, "the re-run must skip what the killed attempt did"
    assert archived["requested"] == len(ARCHIVED) + 50

    run_and_kill(sim, "restore", request, tmp_path, after=8)
    assert both_directions(sim) != seed, "the kill must land mid-restore"
    restored = run_in_process("restore", request, leak_scan)["totals"]
    assert restored["doneEarlier"] > 0, restored
    assert restored["failed"] == 0, restored
    assert both_directions(sim) == seed
