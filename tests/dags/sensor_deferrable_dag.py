"""Test-only DAG: archive pairs, then wait for them in the triggerer (deferrable sensor).

Run by tests/sensors/test_sensor_e2e.py with `dag.test(run_conf={"pairs": [...], "report_dir": ...})`
against the simulator, whose visibility delay keeps archived pairs readable for a few seconds.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, get_current_context, task

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from airflow_provider_hubassoc.sensors.batch_status import HubSpotBatchStatusSensor


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["test"])
def hubassoc_sensor_deferrable() -> None:
    @task
    def pairs_from_conf() -> list[dict[str, Any]]:
        return list(get_current_context()["dag_run"].conf["pairs"])

    HubSpotArchiveAssociationsOperator(
        task_id="archive",
        from_object_type="contacts",
        to_object_type="companies",
        inputs=pairs_from_conf(),
        report_path="{{ dag_run.conf['report_dir'] }}/archive_{{ run_id }}.jsonl",  # every run has a run_id
    )

    # `archive_task_id` also wires `archive` upstream of the sensor.
    HubSpotBatchStatusSensor(
        task_id="confirm_removed",
        archive_task_id="archive",
        deferrable=True,
        poke_interval=1,
        timeout=60,
    )


the_dag = hubassoc_sensor_deferrable()

if __name__ == "__main__":
    the_dag.test()
