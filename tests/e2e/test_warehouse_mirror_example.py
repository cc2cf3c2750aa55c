"""The warehouse mirror example DAG through real Airflow (issue 25): its preview sends no write,
the mirror makes the contacts it names match the warehouse table exactly (and nothing else), and
its report undoes the sync."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hubassoc_simulator import Simulator
from tests.support.airflow_versions import UI_RUN, dag_bag

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
DATA = EXAMPLES / "data"
UNLABELED = ("HUBSPOT_DEFINED", 279)
LABELS = {"Former employee": ("USER_DEFINED", 36), "Billing contact": ("USER_DEFINED", 37)}

pytestmark = pytest.mark.e2e


def _desired() -> dict[tuple[str, str], frozenset[tuple[str, int]]]:
    """What the warehouse table says, read here from the example data (not from the provider)."""
    wanted: dict[tuple[str, str], set[tuple[str, int]]] = {}
    with (DATA / "desired_contact_companies.csv").open() as handle:
        for row in csv.DictReader(handle):
            types = wanted.setdefault((row["contact_id"], row["company_id"]), {UNLABELED})
            if row["label"]:
                types.add(LABELS[row["label"]])
    return {pair: frozenset(types) for pair, types in wanted.items()}


def test_nightly_mirror_previews_syncs_and_can_be_undone(
    airflow_db: Path, demo_sim: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.db"
    monkeypatch.setenv("HUBSPOT_WAREHOUSE_DB", str(warehouse))
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    )
    monkeypatch.setenv("HUBSPOT_CLEANUP_REPORT_DIR", str(tmp_path / "reports"))
    before = dict(demo_sim.state.edges("contacts", "companies"))
    desired = _desired()
    scope = {f for f, _ in desired}

    bag = dag_bag(EXAMPLES / "hubspot_warehouse_mirror.py")
    assert bag.import_errors == {}
    run = bag.get_dag("hubspot_warehouse_mirror").test(**UI_RUN)

    assert str(run.state) == "success"
    after = dict(demo_sim.state.edges("contacts", "companies"))
    assert {p: t for p, t in after.items() if p[0] in scope} == desired
    assert {p: t for p, t in after.items() if p[0] not in scope} == {
        p: t for p, t in before.items() if p[0] not in scope
    }
    (preview,) = (tmp_path / "reports").glob("mirror_preview_*.jsonl")
    (report,) = (tmp_path / "reports").glob("mirror_[!p]*.jsonl")  # not the preview
    preview_lines = [json.loads(line) for line in preview.read_text().splitlines()]
    assert preview_lines[0]["dryRun"] is True
    assert {x["status"] for x in preview_lines if x["kind"] == "pair"} <= {"would_create", "would_remove"}
    summary = json.loads(report.read_text().splitlines()[-1])
    assert summary["totals"]["failed"] == 0
    assert summary["totals"]["requested"] == summary["totals"]["confirmed"]
    assert set(summary["phases"]) == {"batch_create", "label_archive", "batch_archive"}

    from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator

    HubSpotRestoreAssociationsOperator(task_id="undo", undo_report_path=str(report)).execute({})
    assert dict(demo_sim.state.edges("contacts", "companies")) == before
