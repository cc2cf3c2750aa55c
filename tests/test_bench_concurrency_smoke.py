"""The concurrency benchmark runs end to end (tiny N): 1 and 2 tasks in each of its four modes.

Requests and 429s come from the simulator's own counters; the harness itself fails when a mode did
not run as labelled (the shared mode left no budget key in Redis, or another mode did). No speed is
asserted here; docs/benchmarks.md holds the measured numbers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODES = ("shared", "machine-local", "static split", "uncoordinated")


def test_quick_concurrency_benchmark_runs_every_mode_on_one_account() -> None:
    result = subprocess.run(
        [sys.executable, "bench/concurrency.py", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in result.stdout.splitlines()
        if line.startswith("| ") and line.count("|") == 14
    ]
    measured = {(row[0], row[1]): row for row in rows if row[0] in MODES}
    assert set(measured) == {(mode, tasks) for mode in MODES for tasks in ("1", "2")}
    for row in measured.values():
        assert row[2] == "2,000"
        assert row[9] == "20"  # requests: 2,000 pairs in chunks of 100, none refused or retried
        assert row[10] == "0"  # 429s
        assert row[12] == "0"  # failed pairs
    assert "PROBLEM" not in result.stdout
