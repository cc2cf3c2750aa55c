"""The DAGs of `make e2e-celery` (issue 15): many callers of one HubSpot account on CeleryExecutor.

Every archive task reads its pairs file from the run's conf and runs at the account's full rate:
no `rate_limit_share`. Only the shared budget (the `rate_limit_redis_conn_id` extra of each
connection) keeps the callers of one account together under its limit.

- `hubassoc_celery_fanout`: one mapped archive task per partition file, through a small pool, so
  the second wave starts inside the first wave's rate window;
- `hubassoc_celery_cleanup_one` / `_two`: two DAGs on the same account at the same time, through
  two connection ids with the same host and token (so the same account by default);
- `hubassoc_celery_archive_then_sensor`: an archive, then the status sensor reading back at once,
  in poke mode and deferred (its trigger runs in the triggerer).
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from airflow_provider_hubassoc.sensors.batch_status import HubSpotBatchStatusSensor
from tests.deploy_celery.names import (
    BATCH_SIZE,
    FANOUT_CONN_ID,
    POOL,
    SENSOR_CONN_ID,
    SENSOR_TASKS,
    TWO_DAGS_CONN_IDS,
)

PAIRS_FILE = "{{ dag_run.conf['pairs_file'] }}"
REPORT_PATH = "{{ dag_run.conf['report_dir'] }}/{{ dag.dag_id }}/{{ task.task_id }}{{ ti.map_index }}.jsonl"
START = pendulum.datetime(2026, 1, 1, tz="UTC")


def archive_task(conn_id: str) -> HubSpotArchiveAssociationsOperator:
    return HubSpotArchiveAssociationsOperator(
        task_id="archive",
        hubspot_conn_id=conn_id,
        from_object_type="contacts",
        to_object_type="companies",
        inputs=PAIRS_FILE,
        batch_size=BATCH_SIZE,
        report_path=REPORT_PATH,
    )


@dag(schedule=None, start_date=START, catchup=False, tags=["test"])
def hubassoc_celery_fanout() -> None:
    @task
    def partition_files(dag_run: object = None) -> list[str]:
        """The partition files the test wrote, one mapped archive task each."""
        conf = getattr(dag_run, "conf", None) or {}
        return list(conf["partition_files"])

    HubSpotArchiveAssociationsOperator.partial(
        task_id="archive_partition",
        hubspot_conn_id=FANOUT_CONN_ID,
        from_object_type="contacts",
        to_object_type="companies",
        batch_size=BATCH_SIZE,
        report_path=REPORT_PATH,
        pool=POOL,
    ).expand(inputs=partition_files())


@dag(schedule=None, start_date=START, catchup=False, tags=["test"])
def hubassoc_celery_cleanup_one() -> None:
    archive_task(TWO_DAGS_CONN_IDS[0])


@dag(schedule=None, start_date=START, catchup=False, tags=["test"])
def hubassoc_celery_cleanup_two() -> None:
    archive_task(TWO_DAGS_CONN_IDS[1])


@dag(schedule=None, start_date=START, catchup=False, tags=["test"])
def hubassoc_celery_archive_then_sensor() -> None:
    archive = archive_task(SENSOR_CONN_ID)
    # Every pair read back (no sample), the first read as soon as the archive task is done.
    poke = HubSpotBatchStatusSensor(
        task_id=SENSOR_TASKS[0],
        archive_task_id="archive",
        max_pairs_to_verify=None,
        poke_interval=5,
        timeout=240,
    )
    deferred = HubSpotBatchStatusSensor(
        task_id=SENSOR_TASKS[1],
        archive_task_id="archive",
        max_pairs_to_verify=None,
        deferrable=True,
        poke_interval=5,
        timeout=240,
    )
    archive >> [poke, deferred]


hubassoc_celery_fanout()
hubassoc_celery_cleanup_one()
hubassoc_celery_cleanup_two()
hubassoc_celery_archive_then_sensor()
