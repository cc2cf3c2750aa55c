"""Nightly warehouse-driven clean-up: the warehouse says which contacts left which companies.

The archive operator reads its pairs straight from a SQL query (`SqlSource`), through any
common-sql connection: Postgres, Snowflake, BigQuery... Here the "warehouse" is a SQLite file
that the first task fills from the example data, reached through the Airflow connection
`hubspot_warehouse` (conn_type sqlite, host = the file; set HUBSPOT_WAREHOUSE_DB and
AIRFLOW_CONN_HUBSPOT_WAREHOUSE to move it).

The query is pinned to the run (`dag_run.run_after`, which every Airflow 3 run has, also those
triggered from the UI or the REST API without a logical date; Airflow 2.11 has no run_after, but
every 2.11 run has a logical date), so a retry of the archive task re-reads the
same rows and its checkpoint applies. Rows stream from the cursor into the operator's pair
store: a million-row result never passes through XCom.
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
from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator

DATA = Path(__file__).resolve().parent / "data"
WAREHOUSE_DB = os.environ.get("HUBSPOT_WAREHOUSE_DB", "/tmp/hubspot-warehouse.db")
REPORT_DIR = os.environ.get("HUBSPOT_CLEANUP_REPORT_DIR", "/tmp/hubspot-cleanup-reports")
REPORT_PATH = REPORT_DIR + "/warehouse_cleanup_{{ run_id | replace(':', '') | replace('+', '') }}.jsonl"
# Departures announced for a later date: in the warehouse, not yet due, so not removed tonight.
NOT_YET_DUE = [("1001", "2010"), ("1003", "2003"), ("1005", "2007")]

# Parameters in the driver's paramstyle: `:cutoff` for SQLite, `%(cutoff)s` for Postgres, Snowflake, BigQuery.
DEPARTURES_SQL = """
    SELECT contact_id AS from_id, company_id AS to_id
    FROM contact_departures
    WHERE left_on <= :cutoff
"""


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["hubspot", "example", "warehouse"],
    doc_md=__doc__,
)
def hubspot_warehouse_cleanup() -> None:
    @task
    def load_warehouse() -> None:
        """Stands in for the warehouse's own ETL: the departures table the query reads."""
        with (DATA / "stale_contact_company_pairs.csv").open(newline="") as handle:
            ended = [(row["from_id"], row["to_id"], "2026-01-01") for row in csv.DictReader(handle)]
        later = [(f, t, "2999-12-31") for f, t in NOT_YET_DUE]
        with sqlite3.connect(WAREHOUSE_DB) as db:
            db.execute("DROP TABLE IF EXISTS contact_departures")
            db.execute("CREATE TABLE contact_departures (contact_id TEXT, company_id TEXT, left_on TEXT)")
            db.executemany("INSERT INTO contact_departures VALUES (?, ?, ?)", ended + later)

    archive = HubSpotArchiveAssociationsOperator(
        task_id="archive_departed_contacts",
        from_object_type="contacts",
        to_object_type="companies",
        inputs=SqlSource(
            conn_id="hubspot_warehouse",
            sql=DEPARTURES_SQL,
            parameters={"cutoff": "{{ dag_run.run_after | default(dag_run.logical_date) | ds }}"},
        ),
        on_error="threshold",  # a contact deleted in HubSpot since the warehouse load is reported
        max_error_ratio=0.05,
        report_path=REPORT_PATH,
    )

    @task
    def log_report(summary: dict[str, Any]) -> None:
        totals = summary["totals"]
        print(
            f"Removed {totals['confirmed'] + totals['accepted']} of {totals['requested']} departed "
            f"contact->company associations, {totals['failed']} failed; report at {summary['reportPath']}"
        )

    load_warehouse() >> archive
    log_report(archive.output)


hubspot_warehouse_cleanup()
