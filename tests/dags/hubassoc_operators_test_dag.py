"""Test-only DAGs: each archive operator run for real by `dag.test()` against the simulator.

The connection comes from the environment (`AIRFLOW_CONN_HUBSPOT_DEFAULT`); the pairs come from
the run's conf, so the test decides what to archive.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_hubassoc.operators.archive import (
    HubSpotArchiveAssociationLabelsOperator,
    HubSpotArchiveAssociationsOperator,
)


@dag(dag_id="hubassoc_test_batch_archive", schedule=None, catchup=False, tags=["test"])
def batch_archive() -> None:
    HubSpotArchiveAssociationsOperator(
        task_id="archive",
        from_object_type="{{ dag_run.conf['from_type'] }}",
        to_object_type="companies",
        inputs="{{ dag_run.conf['pairs_file'] }}",  # a file path, rendered, never read as a template
        report_path="{{ dag_run.conf['report_path'] }}",
        batch_size=2,
        max_concurrency=2,
    )


@dag(dag_id="hubassoc_test_label_archive", schedule=None, catchup=False, tags=["test"])
def label_archive() -> None:
    @task
    def pairs(**context: Any) -> list[Any]:
        return list(context["dag_run"].conf["pairs"])

    HubSpotArchiveAssociationLabelsOperator(
        task_id="archive_labels",
        from_object_type="contacts",
        to_object_type="companies",
        inputs=pairs(),  # an XComArg from the upstream task
    )


batch_archive()
label_archive()
