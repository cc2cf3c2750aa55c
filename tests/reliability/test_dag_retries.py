"""A real `dag.test()` run: a fatal HubSpot error fails the task once, without using its retries=2;
a transient one does use them. Logs, XComs and rendered fields of the run are scanned for secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import FaultPlan, Simulator
from tests.dag_files import load_test_dag
from tests.support.airflow_versions import xcom_rows
from tests.support.assertions import LeakScan
from tests.support.connections import TOKEN
from tests.support.sim_states import MakeSim, archive_requests

pytestmark = pytest.mark.e2e


def _run(sim: Simulator, tmp_path: Path, scan: LeakScan, home: Path) -> tuple[Any, Any]:
    report = tmp_path / "report.jsonl"
    dag = load_test_dag("reliability_fatal_dag").reliability_retries()
    run = dag.test(run_conf={"to_type": "companies", "report_path": str(report)})
    ti = next(ti for ti in run.get_task_instances() if ti.task_id == "archive")

    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    xcoms = xcom_rows(dag_id=run.dag_id, run_id=run.run_id)
    scan.add("xcom rows", [(x.key, x.value) for x in xcoms])
    with create_session() as session:
        rendered = (
            session.query(RenderedTaskInstanceFields).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        )
        scan.add("rendered fields", [r.rendered_fields for r in rendered])
        keys = {x.key for x in xcoms if x.task_id == "archive"}
    if report.exists():
        scan.add("report", report.read_text())
    for log in (home / "logs").rglob("*"):
        if log.is_file():
            scan.add(f"log file {log.name}", log.read_text(errors="replace"))
    return ti, keys


def test_fatal_error_fails_the_task_once_despite_retries(
    airflow_db: Path, rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    sim = rel_sim()
    sim.set_scopes(TOKEN, {"crm.objects.contacts.write"})  # companies.write missing: 403, fatal
    ti, keys = _run(sim, tmp_path, leak_scan, airflow_db)
    assert ti.state == "failed"
    assert ti.try_number == 1, "AirflowFailException: no Airflow retry"
    assert archive_requests(sim) == 1, "the first 403 stops the run: nothing else is sent"
    assert "summary" in keys, "the failure summary is pushed to XCom"


def test_transient_failure_uses_the_airflow_retries(
    airflow_db: Path, rel_sim: MakeSim, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """The control: every request answers 503 and the connection allows no client retry, so each
    try fails both chunks with a plain AirflowException and Airflow retries the task twice."""
    sim = rel_sim(faults=FaultPlan(error_rate=1.0, error_statuses=(503,)), extra={"max_retries": 0})
    ti, _ = _run(sim, tmp_path, leak_scan, airflow_db)
    assert ti.state == "failed"
    assert ti.try_number == 3
    assert archive_requests(sim) == 3 * 2
