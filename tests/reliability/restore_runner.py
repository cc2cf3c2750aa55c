"""Run one archive (snapshot on) or restore operator in its own process, so a test can kill it mid-run.

Usage: python restore_runner.py MODE REQUEST_JSON
MODE is `batch`, `labels` or `restore`; REQUEST_JSON holds `inputs`, `report` and `restore_report`.
The connection comes from AIRFLOW_CONN_HUBSPOT_DEFAULT in the environment. Every attempt is a
retry of the same task of DAG run `run-1`, so a re-run finds its checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def build(mode: str, request: dict[str, Any]) -> Any:
    from airflow_provider_hubassoc.operators.archive import (
        HubSpotArchiveAssociationLabelsOperator,
        HubSpotArchiveAssociationsOperator,
    )
    from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator

    common: dict[str, Any] = {"task_id": mode, "batch_size": 100, "max_concurrency": 1, "on_error": "ignore"}
    if mode == "restore":
        return HubSpotRestoreAssociationsOperator(
            undo_report_path=request["report"], report_path=request["restore_report"], **common
        )
    operator = (
        HubSpotArchiveAssociationLabelsOperator if mode == "labels" else HubSpotArchiveAssociationsOperator
    )
    return operator(
        from_object_type="contacts",
        to_object_type="companies",
        inputs=request["inputs"],
        report_path=request["report"],
        snapshot=True,
        **common,
    )


def main() -> None:
    mode, request = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    task = SimpleNamespace(dag_id="cleanup", task_id=mode, run_id="run-1", map_index=-1)
    build(mode, request).execute({"ti": task})


if __name__ == "__main__":
    main()
