"""The deferrable path end to end: real archive operator, real trigger, simulator with a delay."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import FaultPlan
from tests.support.airflow_versions import dag_bag, xcom_rows

pytestmark = pytest.mark.e2e

DAG_ID = "hubassoc_sensor_deferrable"
DAG_FILE = "sensor_deferrable_dag.py"


def test_deferrable_sensor_waits_for_the_read_back_then_passes(
    airflow_db: Path, hubspot_simulator: Any, hubspot_conn: str, tmp_path: Path
) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    sim = hubspot_simulator
    edges = sorted(sim.state.edges("contacts", "companies"))[:6]
    assert len(edges) == 6
    # Archived pairs stay readable until two reads have seen them (the sensor's read on the worker,
    # then the trigger's first poll), however long Airflow takes between tasks (3.0/3.1 take 4-15 s).
    sim.configure(faults=FaultPlan(visibility_delay_s=600.0))
    sim.reset_counters()
    stop = threading.Event()
    catch_up = threading.Thread(target=_expire_after_reads, args=(sim, 2, stop), daemon=True)
    catch_up.start()

    # dag.test() only runs DAGs found in the dags folder (conftest links tests/dags/ into it).
    dag = dag_bag(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / DAG_FILE).get_dag(DAG_ID)
    assert dag is not None
    try:
        run = dag.test(
            run_conf={"pairs": [{"from_id": f, "to_id": t} for f, t in edges], "report_dir": str(tmp_path)}
        )
    finally:
        stop.set()
        catch_up.join()

    assert str(run.state) == "success"
    for from_id, to_id in edges:
        assert not sim.state.has_association("contacts", from_id, "companies", to_id)
    reads = sim.counters()["by_endpoint"].get("batch_read", 0)
    # One read on the worker (still visible), then the trigger polled until the delay passed.
    assert reads >= 3, sim.counters()
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(run_id=run.run_id, task_id="confirm_removed").one()
        assert str(ti.state) == "success"
    (xcom,) = xcom_rows(run_id=run.run_id, task_id="confirm_removed")
    result = xcom.value
    assert result["scope"] == "report"  # the archive wrote a report: every done pair was read back
    assert result["verified"] == 6
    report = next(tmp_path.glob("*.jsonl"))
    assert json.loads(report.read_text().splitlines()[-1])["totals"]["confirmed"] == 6


def _expire_after_reads(sim: Any, reads: int, stop: threading.Event) -> None:
    """Once `reads` batch reads have been answered (counted after the reply), expire the ghosts."""
    while not stop.wait(0.05):
        if sim.counters()["by_endpoint"].get("batch_read", 0) >= reads:
            sim.state.expire_ghosts()
            return
