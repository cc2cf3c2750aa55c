"""Undo a clean-up: re-create what an archive run with `snapshot=True` removed, from its report.

Triggered by hand (no schedule) with the report of the run to undo, e.g. from the nightly
`hubspot_association_cleanup`: Trigger DAG w/ config `{"report_path": ".../association_cleanup_....jsonl"}`,
or `airflow dags trigger hubspot_undo_cleanup --conf '{"report_path": "..."}'`. Only the pairs that
run removed are re-created, each with the types it had (labels included); a report without a
snapshot, or of other object types, is refused before any request. `from_ids` restores only those
records' pairs. Set `dry_run` to see what would be re-created, sending nothing.
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.common.compat.sdk import Param, dag

from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator

REPORT_DIR = os.environ.get("HUBSPOT_CLEANUP_REPORT_DIR", "/tmp/hubspot-cleanup-reports")
# The restore's own report (its checkpoint): one per DAG run, as for the clean-ups.
RESTORE_REPORT_PATH = (
    REPORT_DIR + "/{{ dag_run.run_after | default(dag_run.logical_date) | ds }}/undo_"
    "{{ run_id | replace(':', '') | replace('+', '') }}.jsonl"
)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["hubspot", "example"],
    doc_md=__doc__,
    render_template_as_native_obj=True,  # from_ids stays a list (or None)
    params={
        "report_path": Param("", type="string", description="The report of the clean-up run to undo"),
        "from_ids": Param(
            None, type=["null", "array"], description="Restore only these from records' pairs (all if empty)"
        ),
    },
)
def hubspot_undo_cleanup() -> None:
    HubSpotRestoreAssociationsOperator(
        task_id="restore_removed_associations",
        undo_report_path="{{ params.report_path }}",
        report_path=RESTORE_REPORT_PATH,  # the restore's own report: it can be undone in turn
        from_ids="{{ params.from_ids }}",
    )


hubspot_undo_cleanup()
