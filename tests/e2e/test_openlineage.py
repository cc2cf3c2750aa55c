"""OpenLineage through real Airflow: `airflow dags test` of the warehouse example with the
OpenLineage provider's file transport, and the COMPLETE event of the archive task read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import Simulator

pytestmark = pytest.mark.e2e

DAG_ID = "hubspot_warehouse_cleanup"
TASK_ID = "archive_departed_contacts"


def _complete_events(events_file: Path, job_name: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    return [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == job_name]


def test_dags_test_emits_the_archive_lineage(
    airflow_db: Path, demo_sim: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.db"
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "HUBSPOT_WAREHOUSE_DB": str(warehouse),
        "AIRFLOW_CONN_HUBSPOT_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "HUBSPOT_CLEANUP_REPORT_DIR": str(tmp_path / "reports"),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "hubassoc-tests",
    }
    before = len(demo_sim.state.edges("contacts", "companies"))

    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", DAG_ID],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    removed = before - len(demo_sim.state.edges("contacts", "companies"))
    (report,) = (tmp_path / "reports").glob("*.jsonl")
    summary = json.loads(report.read_text().splitlines()[-1])
    (event,) = _complete_events(events_file, f"{DAG_ID}.{TASK_ID}")
    assert event["job"]["namespace"] == "hubassoc-tests"
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
        (f"sqlite://{warehouse}", "contact_departures")
    ]
    (output,) = event["outputs"]
    assert (output["namespace"], output["name"]) == (
        f"hubspot://{demo_sim.config.portal_id}",
        "associations/contacts/companies",
    )
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == removed > 0
    facet = event["run"]["facets"]["hubspotRun"]
    assert facet["summary"]["totals"] == summary["totals"]
    assert facet["summary"]["operation"] == "batch_archive"
    assert facet["_schemaURL"].startswith("urn:airflow-provider-hubassoc:")
