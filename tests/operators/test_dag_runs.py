"""One real `dag.test()` run per operator (templating, XComArg inputs, the return_value XCom)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import Simulator
from tests.dag_files import load_test_dag
from tests.support.airflow_versions import xcom_rows
from tests.support.sim_states import BILLING, FT, TT, UNLABELED

pytestmark = pytest.mark.e2e


def _xcom(dag_run: Any, task_id: str) -> Any:
    ti = next(ti for ti in dag_run.get_task_instances() if ti.task_id == task_id)
    assert ti.state == "success", ti.state
    (row,) = xcom_rows(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value")
    return row.value


def test_batch_archive_dag(airflow_db: Path, make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = make_sim()
    before = sim.state.edges(FT, TT)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("from_id,to_id\n1,101\n1,102\n2,103\n1,101\n")
    report = tmp_path / "report.jsonl"
    dag = load_test_dag("hubassoc_operators_test_dag").batch_archive()
    run = dag.test(run_conf={"from_type": FT, "pairs_file": str(pairs), "report_path": str(report)})
    value = _xcom(run, "archive")
    assert value["totals"]["confirmed"] == 3
    assert value["totals"]["duplicates"] == 1
    assert value["reportPath"] == str(report)
    removed = {("1", "101"), ("1", "102"), ("2", "103")}
    assert sim.state.edges(FT, TT) == {k: v for k, v in before.items() if k not in removed}
    assert sim.counters()["by_endpoint"]["batch_archive"] == 2


def test_label_archive_dag(airflow_db: Path, make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim()
    dag = load_test_dag("hubassoc_operators_test_dag").label_archive()
    run = dag.test(
        run_conf={
            "pairs": [
                [3, 104, "Decision maker"],
                {"from_id": 4, "to_id": 105, "types": [["USER_DEFINED", 36]]},
            ]
        }
    )
    value = _xcom(run, "archive_labels")
    assert value["operation"] == "label_archive"
    assert value["totals"]["confirmed"] == 2
    assert sim.state.labels_of(FT, "3", TT, "104") == {UNLABELED, BILLING}
    assert sim.state.labels_of(FT, "4", TT, "105") == {UNLABELED, BILLING}
