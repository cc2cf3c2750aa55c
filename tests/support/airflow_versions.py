"""One suite runs on Airflow 2.11 and 3.0-3.3 (`make test-matrix`). A test that cannot apply to an
older Airflow is skipped with both versions named; the Airflow internals that tests read (the
DagBag, XCom rows) moved between versions and are reached here, once. Airflow itself is imported
only inside the helpers that need it."""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

AIRFLOW_VERSION_TEXT = importlib.metadata.version("apache-airflow")
AIRFLOW_VERSION: tuple[int, ...] = Version(AIRFLOW_VERSION_TEXT).release[:2]


def requires_airflow(minimum: str, why: str) -> pytest.MarkDecorator:
    """Skip on an Airflow older than `minimum` ("3.0"), saying what is missing there."""
    needed = Version(minimum).release[:2]
    return pytest.mark.skipif(
        needed > AIRFLOW_VERSION,
        reason=f"needs Airflow {minimum}+ ({why}); this is Airflow {AIRFLOW_VERSION_TEXT}",
    )


# Runs triggered from the UI or the REST API have no logical date on Airflow 3 (dag.test(logical_date=
# None)); on 2.11 every run has one. Every example DAG must work both ways where both exist.
UI_RUN: dict[str, Any] = {"logical_date": None} if AIRFLOW_VERSION >= (3, 0) else {}
RUN_KINDS = pytest.mark.parametrize(
    "run_kind",
    [
        pytest.param({}, id="with-logical-date"),
        pytest.param(
            {"logical_date": None},
            id="without-logical-date",
            marks=requires_airflow("3.0", "runs without a logical date are new in Airflow 3"),
        ),
    ],
)


def allow_execute_on_this_thread() -> None:
    """Let a test call `execute()` on a thread of its own under Airflow 2.11.

    2.11's ExecutorSafeguard keeps its callers in a thread-local that only the importing thread
    has, so execute() elsewhere raises AttributeError (Airflow itself runs it on the task's main
    thread). This sets it up for the calling thread, as 2.11 does when a TaskInstance runs a task.
    """
    if AIRFLOW_VERSION < (3, 0):
        from airflow.models.baseoperator import ExecutorSafeguard

        ExecutorSafeguard._sentinel.callers = {}


def dag_bag(dag_folder: Path | str) -> Any:
    """Airflow's DagBag over `dag_folder`: airflow.dag_processing.dagbag from 3.2, models before."""
    if AIRFLOW_VERSION >= (3, 2):
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(dag_folder))


@dataclass(frozen=True)
class XComRow:
    task_id: str
    key: str
    value: Any


def xcom_rows(**filters: str) -> list[XComRow]:
    """The stored XComs matching `filters` (dag_id, run_id, task_id, key), values decoded.

    The table's model is XComModel on Airflow 3 (JSON values) and XCom on Airflow 2 (which
    deserializes on load).
    """
    from airflow.utils.session import create_session

    if AIRFLOW_VERSION >= (3, 0):
        from airflow.models.xcom import XComModel as model
    else:
        from airflow.models.xcom import XCom as model
    with create_session() as session:
        rows = session.query(model).filter_by(**filters).all()
        return [XComRow(r.task_id, r.key, _json_value(r.value)) for r in rows]


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
