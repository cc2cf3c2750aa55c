"""The benchmark harness runs end to end (tiny N): ours and both baselines, side by side.

Requests and 429s come from the simulator's own counters (the client keeps no statistics).
No speed is asserted here; docs/benchmarks.md holds the measured numbers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.airflow_versions import requires_airflow

REPO = Path(__file__).resolve().parent.parent


# bench/import_cost.py measures our import cost over `import airflow.sdk`, the module DAG files
# import on Airflow 3 (the numbers in docs/benchmarks.md); Airflow 2.11 has no airflow.sdk.
@requires_airflow("3.0", "bench/import_cost.py baselines on airflow.sdk")
def test_quick_benchmark_measures_every_client_against_the_same_simulator(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    result = subprocess.run(
        [sys.executable, "bench/run_bench.py", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("500 ")]
    table = [row for row in rows if len(row) == 13]  # the results table, not the ratio table
    clients = {row[1]: row for row in table}
    assert set(clients) == {"ours", "sdk", "requests"}
    for row in clients.values():
        assert row[5] == "5"  # requests: 500 pairs in chunks of 100, nothing retried
        assert row[9] == "0"  # left in the simulator: every pair archived
    assert "ours vs sdk" in result.stdout
    assert "ours vs requests" in result.stdout
    assert "| ours |" in out.read_text()
    # The default date version answers with a body listing each input: every pair is confirmed.
    assert "Ours at 500 pairs: 500 confirmed by HubSpot's reply, 0 accepted" in out.read_text()
