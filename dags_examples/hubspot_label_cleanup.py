"""Remove association labels by name and confirm: a user-defined label and a HubSpot-defined one.

Label names are resolved once through HubSpot's labels endpoint (type ids never change, label
text can), so an unknown or ambiguous name fails before any archive call. Only the named labels
go; the association itself stays.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import dag

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationLabelsOperator
from airflow_provider_hubassoc.sensors.batch_status import HubSpotBatchStatusSensor

DATA = Path(__file__).resolve().parent / "data"
REPORT_DIR = os.environ.get("HUBSPOT_CLEANUP_REPORT_DIR", "/tmp/hubspot-cleanup-reports")
# Values every run has (a run from the UI or REST may have no logical date, so no `{{ ds }}`).
REPORT_PATH = (
    REPORT_DIR + "/{{ dag_run.run_after | default(dag_run.logical_date) | ds }}/label_cleanup_"
    "{{ run_id | replace(':', '') | replace('+', '') }}.jsonl"
)


@dag(
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["hubspot", "example"],
    doc_md=__doc__,
)
def hubspot_label_cleanup() -> None:
    remove_labels = HubSpotArchiveAssociationLabelsOperator(
        task_id="remove_labels",
        from_object_type="contacts",
        to_object_type="companies",
        # JSONL lines: {"from_id": "1005", "to_id": "2007", "labels": ["Former employee"]}
        inputs=str(DATA / "label_cleanup.jsonl"),
        report_path=REPORT_PATH,
    )

    confirm = HubSpotBatchStatusSensor(
        task_id="confirm_labels_removed",
        archive_task_id="remove_labels",
        poke_interval=2,
        timeout=300,
    )

    remove_labels >> confirm


hubspot_label_cleanup()
