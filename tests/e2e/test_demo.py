"""`make demo` keeps working: its script runs the example DAG through `airflow dags test`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "dags_examples" / "demo" / "run_demo.py"


@pytest.mark.e2e
def test_demo_runs_the_cleanup_dag_and_reports_what_it_removed() -> None:
    result = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "airflow dags test hubspot_association_cleanup: success" in out
    removed = re.search(r"removed (\d+) associations \(simulator state (\d+) -> (\d+)\)", out)
    assert removed is not None
    count, before, after = (int(g) for g in removed.groups())
    assert count == before - after == 24
    assert "requested 25, confirmed 24, accepted 0, failed 1, skipped 0 (done earlier 0)" in out
    assert "failed: contact 1999 -> company 2001" in out
