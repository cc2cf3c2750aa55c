"""Nightly warehouse mirror: HubSpot's contact -> company associations follow the warehouse.

The warehouse holds the desired state, one row per association and label (a row without a label:
the association with no label). `HubSpotSyncAssociationsOperator` in `mirror` mode creates what is
missing, adds and removes labels, and removes what the warehouse no longer has, for the contacts
the table names and nothing else. Here the "warehouse" is a SQLite file the first task fills from
the example data, reached through the Airflow connection `hubspot_warehouse` (conn_type sqlite,
host = the file; set HUBSPOT_WAREHOUSE_DB and AIRFLOW_CONN_HUBSPOT_WAREHOUSE to move it).

1. `preview_sync` is a dry run: its summary (XCom) and report list what would be created,
   relabelled, removed and left unchanged, and say whether `max_removals` would refuse the run.
2. `mirror_sync` does it. `max_removals=0.25` refuses, before any write, a night on which more
   than a quarter of the contacts' current associations would lose something (an empty or partial
   extract looks exactly like that). Its report is snapshotted: trigger `hubspot_undo_cleanup`
   with it (`{"report_path": ...}`) to put HubSpot back as it was before the sync.
A second run on unchanged data sends no write request.
"""

from __future__ import annotations

import csv
import os
import sqlite3
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_hubassoc.batch.sql_source import SqlSource
from airflow_provider_hubassoc.operators.sync import HubSpotSyncAssociationsOperator

DATA = Path(__file__).resolve().parent / "data"
WAREHOUSE_DB = os.environ.get("HUBSPOT_WAREHOUSE_DB", "/tmp/hubspot-warehouse.db")
REPORT_DIR = os.environ.get("HUBSPOT_CLEANUP_REPORT_DIR", "/tmp/hubspot-cleanup-reports")
RUN = "{{ run_id | replace(':', '') | replace('+', '') }}"

DESIRED_SQL = """
    SELECT contact_id AS from_id, company_id AS to_id, label
    FROM contact_company_desired
"""


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["hubspot", "example", "warehouse", "sync"],
    doc_md=__doc__,
)
def hubspot_warehouse_mirror() -> None:
    @task
    def load_warehouse() -> None:
        """Stands in for the warehouse's own ETL: the desired associations the sync reads."""
        with (DATA / "desired_contact_companies.csv").open(newline="") as handle:
            rows = [(r["contact_id"], r["company_id"], r["label"] or None) for r in csv.DictReader(handle)]
        with sqlite3.connect(WAREHOUSE_DB) as db:
            db.execute("DROP TABLE IF EXISTS contact_company_desired")
            db.execute("CREATE TABLE contact_company_desired (contact_id TEXT, company_id TEXT, label TEXT)")
            db.executemany("INSERT INTO contact_company_desired VALUES (?, ?, ?)", rows)

    desired = SqlSource(conn_id="hubspot_warehouse", sql=DESIRED_SQL)
    common: dict[str, Any] = {
        "from_object_type": "contacts",
        "to_object_type": "companies",
        "inputs": desired,
        "mode": "mirror",
        "max_removals": 0.25,
    }
    preview = HubSpotSyncAssociationsOperator(
        task_id="preview_sync",
        dry_run=True,
        report_path=f"{REPORT_DIR}/mirror_preview_{RUN}.jsonl",
        **common,
    )
    mirror = HubSpotSyncAssociationsOperator(
        task_id="mirror_sync", report_path=f"{REPORT_DIR}/mirror_{RUN}.jsonl", **common
    )

    @task
    def log_sync(summary: dict[str, Any]) -> None:
        sync = summary["sync"]
        print(
            f"Mirrored {sync['scopeFromIds']} contacts: {sync['toCreate']} created, {sync['toRelabel']} "
            f"relabelled, {sync['toRemove']} removed, {sync['unchanged']} unchanged; "
            f"{summary['totals']['failed']} failed; report (undo with hubspot_undo_cleanup) at "
            f"{summary['reportPath']}"
        )

    load_warehouse() >> preview >> mirror
    log_sync(mirror.output)


hubspot_warehouse_mirror()
