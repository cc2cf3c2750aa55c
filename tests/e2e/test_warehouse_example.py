"""The warehouse-driven example DAG runs through real Airflow: its SQL source reads a SQLite
"warehouse" through Airflow's sqlite connection, and exactly the due departures are removed."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import Simulator
from tests.support.airflow_versions import RUN_KINDS, dag_bag

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
DATA = EXAMPLES / "data"

pytestmark = pytest.mark.e2e


@RUN_KINDS
def test_warehouse_cleanup_removes_the_due_departures_only(
    airflow_db: Path,
    demo_sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    run_kind: dict[str, Any],
) -> None:
    warehouse = tmp_path / "warehouse.db"
    monkeypatch.setenv("HUBSPOT_WAREHOUSE_DB", str(warehouse))
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    )
    monkeypatch.setenv("HUBSPOT_CLEANUP_REPORT_DIR", str(tmp_path / "reports"))
    before = dict(demo_sim.state.edges("contacts", "companies"))
    with (DATA / "stale_contact_company_pairs.csv").open() as handle:
        due = {(row["from_id"], row["to_id"]) for row in csv.DictReader(handle)}
    existing_due = due & before.keys()
    assert len(existing_due) == len(due) - 1  # the data names one contact deleted in HubSpot

    bag = dag_bag(EXAMPLES / "hubspot_warehouse_cleanup.py")
    assert bag.import_errors == {}
    run = bag.get_dag("hubspot_warehouse_cleanup").test(**run_kind)

    assert str(run.state) == "success"
    after = dict(demo_sim.state.edges("contacts", "companies"))
    assert after == {pair: labels for pair, labels in before.items() if pair not in existing_due}
    assert {("1001", "2010"), ("1003", "2003"), ("1005", "2007")} <= after.keys()  # not yet due: kept
    (report,) = (tmp_path / "reports").glob("*.jsonl")
    summary = json.loads(report.read_text().splitlines()[-1])
    assert summary["totals"]["requested"] == len(due)
    assert summary["totals"]["failed"] == 1
