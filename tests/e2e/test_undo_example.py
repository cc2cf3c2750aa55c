"""The undo example DAG, through real Airflow: the nightly clean-up (snapshot on) removes its pairs,
then `hubspot_undo_cleanup`, triggered with that run's report, puts exactly them back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import Simulator
from tests.support.airflow_versions import UI_RUN, dag_bag

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"

pytestmark = pytest.mark.e2e


def _dag(name: str) -> Any:
    bag = dag_bag(EXAMPLES / f"{name}.py")
    assert bag.import_errors == {}
    return bag.get_dag(name)


def test_undo_puts_back_what_the_nightly_cleanup_removed(
    airflow_db: Path, demo_sim: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUBSPOT_CLEANUP_REPORT_DIR", str(tmp_path))
    before = dict(demo_sim.state.edges("contacts", "companies"))

    cleanup = _dag("hubspot_association_cleanup").test(**UI_RUN)
    assert str(cleanup.state) == "success"
    after_cleanup = dict(demo_sim.state.edges("contacts", "companies"))
    removed = before.keys() - after_cleanup.keys()
    assert removed
    (report,) = tmp_path.rglob("association_cleanup_*.jsonl")
    assert '"kind":"snapshot"' in report.read_text()

    undo = _dag("hubspot_undo_cleanup").test(**UI_RUN, run_conf={"report_path": str(report)})
    assert str(undo.state) == "success"
    assert dict(demo_sim.state.edges("contacts", "companies")) == before
    (undo_report,) = tmp_path.rglob("undo_*.jsonl")
    summary = json.loads(undo_report.read_text().splitlines()[-1])
    assert summary["operation"] == "batch_create"
    assert summary["totals"]["confirmed"] == len(removed)
