"""Deployment-test DAGs: archive the pairs of a CSV file, then confirm them with the status sensor.

`hubassoc_deploy_sensor_deferrable` waits in the triggerer; `hubassoc_deploy_sensor_reschedule`
frees its worker slot between pokes. Both read `pairs_file` and `report_dir` from the run's conf
and call the `hubspot_delayed` connection, a simulator whose archived pairs stay readable for a
while, so that the sensor really has to wait.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import dag

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from airflow_provider_hubassoc.sensors.batch_status import HubSpotBatchStatusSensor

CONN_ID = "hubspot_delayed"
PAIRS_FILE = "{{ dag_run.conf['pairs_file'] }}"
REPORT_PATH = "{{ dag_run.conf['report_dir'] }}/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl"


def archive_task() -> HubSpotArchiveAssociationsOperator:
    return HubSpotArchiveAssociationsOperator(
        task_id="archive",
        hubspot_conn_id=CONN_ID,
        from_object_type="contacts",
        to_object_type="companies",
        inputs=PAIRS_FILE,
        report_path=REPORT_PATH,
    )


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["test"])
def hubassoc_deploy_sensor_deferrable() -> None:
    archive_task()
    HubSpotBatchStatusSensor(
        task_id="confirm_removed",
        archive_task_id="archive",
        deferrable=True,
        poke_interval=2,
        timeout=240,
    )


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["test"])
def hubassoc_deploy_sensor_reschedule() -> None:
    archive_task()
    # A careless 1 s poke interval: unless the sensor raises it to its reschedule minimum, the
    # rescheduled try starts while the last one's supervisor still lingers, and Airflow 3.3 fails
    # the task ("state attribute is queued", issue 14 defect 4; seen here with 1 s, not with 5 s).
    HubSpotBatchStatusSensor(
        task_id="confirm_removed",
        archive_task_id="archive",
        mode="reschedule",
        poke_interval=1,
        timeout=240,
    )


hubassoc_deploy_sensor_deferrable()
hubassoc_deploy_sensor_reschedule()
