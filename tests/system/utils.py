"""A local equivalent of Airflow's system-test helpers (`tests_common.test_utils.system_tests.get_test_run`
and `tests_common.test_utils.watcher.watcher`), which ship only in Airflow's own source tree, not in
the `apache-airflow` wheels this project installs. Same contract: a system-test module defines one
DAG, ends it with `watcher()`, and exposes `test_run = get_test_run(dag)` for pytest to collect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TOKEN_ENV = "HUBSPOT_SYSTEM_TEST_TOKEN"
CONN_ID = "hubspot_system_test"


def get_test_run(dag: Any, **test_kwargs: Any) -> Callable[[], None]:
    """A pytest test that runs `dag` once with `dag.test()` and fails unless the run succeeded."""

    def test_run() -> None:
        run = dag.test(**test_kwargs)
        failed = [ti.task_id for ti in run.get_task_instances() if str(ti.state) == "failed"]
        assert str(run.state) == "success", (
            f"system test DAG {dag.dag_id} ended {run.state}; failed: {failed}"
        )

    test_run.__name__ = test_run.__qualname__ = f"test_run_{dag.dag_id}"
    return test_run


def watcher() -> Any:
    """A task downstream of every other that fails when any of them failed: tear-down tasks run
    (and succeed) whatever happened, so without it a failed test could end in a successful run."""
    from airflow.providers.common.compat.sdk import AirflowException, TriggerRule, task

    @task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
    def watcher() -> None:
        raise AirflowException("a task of the system test failed; this watcher fails the run")

    return watcher()
