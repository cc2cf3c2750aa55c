"""Reliability suite: a task with retries=2 whose failure must (fatal) or may (transient) be retried.

The connection comes from AIRFLOW_CONN_HUBSPOT_DEFAULT; the test decides what the simulator does.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.common.compat.sdk import dag

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator


@dag(dag_id="hubassoc_reliability_retries", schedule=None, catchup=False, tags=["test"])
def reliability_retries() -> None:
    HubSpotArchiveAssociationsOperator(
        task_id="archive",
        from_object_type="contacts",
        to_object_type="{{ dag_run.conf['to_type'] }}",
        inputs=[(1, 101), (1, 102), (2, 101), (2, 102)],
        report_path="{{ dag_run.conf['report_path'] }}",
        batch_size=2,
        max_concurrency=1,
        retries=2,
        retry_delay=timedelta(seconds=0),
    )


reliability_retries()

if __name__ == "__main__":
    reliability_retries().test(
        run_conf={"to_type": "companies", "report_path": "/tmp/reliability-report.jsonl"}
    )
