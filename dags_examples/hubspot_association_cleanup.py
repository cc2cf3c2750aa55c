"""Nightly data-sync clean-up: unlink the contacts that the warehouse says left their companies.

`stale_pairs` stands in for a warehouse query (it reads a CSV shipped with the examples). The
batch archive operator removes every association of each pair, the status sensor confirms the
removal by reading HubSpot back, and a last task logs the report from the XCom summary.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from airflow_provider_hubassoc.sensors.batch_status import HubSpotBatchStatusSensor

DATA = Path(__file__).resolve().parent / "data"
REPORT_DIR = os.environ.get("HUBSPOT_CLEANUP_REPORT_DIR", "/tmp/hubspot-cleanup-reports")
# One report per DAG run, named from values every run has: runs triggered from the UI or the REST
# API may have no logical date on Airflow 3, so `{{ ds }}` would not render; they have `run_after`
# (Airflow 3 only: on 2.11 every run has a logical date). A retry of the task reuses its run's
# report as a checkpoint; another run never does.
REPORT_PATH = (
    REPORT_DIR + "/{{ dag_run.run_after | default(dag_run.logical_date) | ds }}/association_cleanup_"
    "{{ run_id | replace(':', '') | replace('+', '') }}.jsonl"
)


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["hubspot", "example"],
    doc_md=__doc__,
)
def hubspot_association_cleanup() -> None:
    @task
    def stale_pairs() -> list[dict[str, str]]:
        """Pairs the warehouse marks as ended (here: a CSV standing in for the query)."""
        with (DATA / "stale_contact_company_pairs.csv").open(newline="") as handle:
            return [{"from_id": row["from_id"], "to_id": row["to_id"]} for row in csv.DictReader(handle)]

    archive = HubSpotArchiveAssociationsOperator(
        task_id="archive_stale_associations",
        from_object_type="contacts",
        to_object_type="companies",
        inputs=stale_pairs(),
        on_error="threshold",  # a contact deleted in HubSpot since the snapshot is reported, not fatal
        max_error_ratio=0.05,
        report_path=REPORT_PATH,
        snapshot=True,  # record what is removed: hubspot_undo_cleanup re-creates it from the report
    )

    confirm = HubSpotBatchStatusSensor(
        task_id="confirm_removed",
        archive_task_id="archive_stale_associations",
        poke_interval=2,
        timeout=300,
    )

    @task
    def log_report(summary: dict[str, Any]) -> None:
        """A readable account for the task log; the full per-pair report is the JSONL file."""
        totals = summary["totals"]
        print(
            f"Removed {totals['confirmed'] + totals['accepted']} of {totals['requested']} contact->company "
            f"associations ({totals['confirmed']} confirmed by HubSpot's reply, {totals['accepted']} "
            f"accepted and confirmed by the sensor's read-back), {totals['failed']} failed, "
            f"{totals['skipped']} skipped ({totals['doneEarlier']} done earlier), "
            f"{totals['duplicates']} duplicates, in {summary['batches']} batches; "
            f"report at {summary['reportPath']}"
        )
        for failed in summary["failedSample"]:
            print(
                f"  failed {failed['fromId']} -> {failed['toId']}: {failed['category']}: {failed['message']}"
            )

    archive >> confirm >> log_report(archive.output)


hubspot_association_cleanup()
