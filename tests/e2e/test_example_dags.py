"""Every example DAG imports cleanly and runs through real Airflow against the simulator.

Each run asserts the simulator's final state: exactly the intended associations (or labels)
removed, nothing else touched.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import Simulator
from tests.support.airflow_versions import RUN_KINDS, UI_RUN, dag_bag, xcom_rows

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
DATA = EXAMPLES / "data"
EXAMPLE_DAG_IDS = {
    "hubspot_association_cleanup",
    "hubspot_label_cleanup",
    "hubspot_cleanup_fanout",
    "hubspot_warehouse_cleanup",  # run in tests/e2e/test_warehouse_example.py
    "hubspot_undo_cleanup",  # run in tests/e2e/test_undo_example.py
    "hubspot_warehouse_mirror",  # run in tests/e2e/test_warehouse_mirror_example.py
}

pytestmark = pytest.mark.e2e


def _dagbag() -> Any:
    return dag_bag(EXAMPLES)


def _contact_company_edges(sim: Any) -> dict[tuple[str, str], frozenset[tuple[str, int]]]:
    return dict(sim.state.edges("contacts", "companies"))


def _run(dag_id: str, **kwargs: Any) -> Any:
    dag = _dagbag().get_dag(dag_id)
    assert dag is not None
    return dag.test(**kwargs)


def test_every_example_dag_imports_without_errors() -> None:
    bag = _dagbag()
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXAMPLE_DAG_IDS


@RUN_KINDS
def test_association_cleanup_removes_exactly_the_stale_pairs(
    airflow_db: Path,
    demo_sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    run_kind: dict[str, Any],
) -> None:
    monkeypatch.setenv("HUBSPOT_CLEANUP_REPORT_DIR", str(tmp_path))
    before = _contact_company_edges(demo_sim)
    with (DATA / "stale_contact_company_pairs.csv").open() as handle:
        stale = {(row["from_id"], row["to_id"]) for row in csv.DictReader(handle)}
    existing_stale = stale & before.keys()
    assert len(existing_stale) == len(stale) - 1  # the demo names one contact deleted in HubSpot

    run = _run("hubspot_association_cleanup", **run_kind)

    assert str(run.state) == "success"
    if run_kind:
        assert run.logical_date is None
    after = _contact_company_edges(demo_sim)
    assert after == {pair: labels for pair, labels in before.items() if pair not in existing_stale}
    reports = list(tmp_path.rglob("*.jsonl"))
    assert len(reports) == 1
    summary = json.loads(reports[0].read_text().splitlines()[-1])
    assert summary["kind"] == "summary"
    assert summary["totals"]["confirmed"] == len(existing_stale)
    assert run.run_id.replace(":", "").replace("+", "") in reports[0].name
    assert summary["totals"]["failed"] == 1
    assert summary["failedSample"][0]["fromId"] == "1999"


def test_label_cleanup_removes_only_the_named_labels(
    airflow_db: Path,
    demo_sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("HUBSPOT_CLEANUP_REPORT_DIR", str(tmp_path))
    before = _contact_company_edges(demo_sim)
    removals: dict[tuple[str, str], set[tuple[str, int]]] = {}
    names = {"Former employee": ("USER_DEFINED", 36), "Primary": ("HUBSPOT_DEFINED", 1)}
    for line in (DATA / "label_cleanup.jsonl").read_text().splitlines():
        row = json.loads(line)
        removals[(row["from_id"], row["to_id"])] = {names[name] for name in row["labels"]}
    assert all(removals[pair] <= before[pair] for pair in removals)

    run = _run("hubspot_label_cleanup", **UI_RUN)  # a run from the UI or REST

    assert str(run.state) == "success"
    expected = {pair: labels - removals.get(pair, set()) for pair, labels in before.items()}
    assert _contact_company_edges(demo_sim) == expected
    # The associations themselves stay: only labels went.
    assert set(_contact_company_edges(demo_sim)) == set(before)


def test_fanout_passes_on_its_own_sample_data_judged_as_one_cleanup(
    airflow_db: Path,
    demo_sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The sample's one failing pair is 1 of 25 overall (4%), 1 of ~7 in its partition (14%): the
    example judges the whole clean-up, so it succeeds; the partitions' summaries add up."""
    monkeypatch.setenv("HUBSPOT_CLEANUP_PARTITION_DIR", str(tmp_path))
    subprocess.run(
        [sys.executable, "-m", "airflow", "pools", "set", "hubspot_api", "4", "HubSpot API calls"],
        check=True,
        capture_output=True,
    )
    with (DATA / "stale_contact_company_pairs.csv").open() as handle:
        stale = {(row["from_id"], row["to_id"]) for row in csv.DictReader(handle)}
    before = _contact_company_edges(demo_sim)

    run = _run("hubspot_cleanup_fanout", **UI_RUN)

    assert str(run.state) == "success"
    after = _contact_company_edges(demo_sim)
    assert after == {pair: labels for pair, labels in before.items() if pair not in stale}
    totals = _xcom(run, "judge_cleanup")
    assert (totals["requested"], totals["confirmed"], totals["failed"]) == (len(stale), len(stale) - 1, 1)
    finals = [r.getMessage() for r in caplog.records if "pairs (100.0%" in r.getMessage()]
    assert len(finals) == 4, f"one final progress line per partition: {finals}"
    assert demo_sim.counters()["by_endpoint"]["batch_archive"] >= 4  # at least one request per partition


def _xcom(run: Any, task_id: str) -> Any:
    (row,) = xcom_rows(run_id=run.run_id, task_id=task_id, key="return_value")
    return row.value
