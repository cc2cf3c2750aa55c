"""Run an archive operator as a task would, without a scheduler: operators for contacts -> companies
with test defaults, a fake task instance, and `run_operator`, which returns everything a test
checks (summary, report, simulator state) and feeds every text a secret could reach to a LeakScan.
Imports the operators (so Airflow) only when an operator is built."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.reports import read_report
from tests.support.sim_states import FT, TT

if TYPE_CHECKING:
    from airflow_provider_hubassoc.operators.archive import (
        HubSpotArchiveAssociationLabelsOperator,
        HubSpotArchiveAssociationsOperator,
    )
    from hubassoc_simulator import Simulator
    from tests.support.assertions import LeakScan


def batch_op(inputs: Any, **kwargs: Any) -> HubSpotArchiveAssociationsOperator:
    """A batch archive operator for contacts -> companies with test defaults."""
    from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator

    kwargs = {"task_id": "archive", "from_object_type": FT, "to_object_type": TT, **kwargs}
    return HubSpotArchiveAssociationsOperator(inputs=inputs, **kwargs)


def label_op(inputs: Any, **kwargs: Any) -> HubSpotArchiveAssociationLabelsOperator:
    """A label archive operator for contacts -> companies with test defaults."""
    from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationLabelsOperator

    kwargs = {"task_id": "labels", "from_object_type": FT, "to_object_type": TT, **kwargs}
    return HubSpotArchiveAssociationLabelsOperator(inputs=inputs, **kwargs)


def chunk_count(pairs: int, batch_size: int) -> int:
    return math.ceil(pairs / batch_size)


class FakeTI:
    """A task instance as the operator sees it: its run identity (the checkpoint key) and XCom
    pushes (the failure summary goes to key 'summary')."""

    def __init__(self, run_id: str = "run-1", *, task_id: str = "archive", map_index: int = -1) -> None:
        self.dag_id = "cleanup"
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # an XCom must be JSON-safe
        self.pushed[key] = value


def task_context(run_id: str = "run-1", **kwargs: Any) -> dict[str, Any]:
    """The context of one try of one task of DAG run `run_id` (same run_id: a retry)."""
    return {"ti": FakeTI(run_id, **kwargs)}


@dataclass
class Run:
    sim: Simulator
    before: dict[tuple[str, str], frozenset[Any]]
    value: dict[str, Any] | None
    error: BaseException | None
    pushed: dict[str, Any]
    report: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        """The return value, else the summary pushed on failure, else the report's last line."""
        if self.value is not None:
            return self.value
        if "summary" in self.pushed:
            return self.pushed["summary"]
        assert self.report, "no summary anywhere"
        assert self.report[-1]["kind"] == "summary", "no summary anywhere"
        return self.report[-1]

    def pair_statuses(self) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for line in self.report:
            if line["kind"] == "pair":
                key = (line["fromId"], line["toId"])
                assert key not in out, f"pair {key} reported twice"
                out[key] = line
        return out


def run_operator(
    op: Any, sim: Simulator, scan: LeakScan, report_path: Path | None = None, *, run_id: str = "run-1"
) -> Run:
    """Execute `op` as a task of DAG run `run_id` would, capturing everything a secret could hit."""
    before = sim.state.edges(FT, TT)
    context = task_context(run_id)
    ti = context["ti"]
    value: dict[str, Any] | None = None
    error: BaseException | None = None
    try:
        value = op.execute(context)
    except Exception as exc:
        error = exc
    run = Run(sim, before, value, error, ti.pushed)
    if report_path is not None and report_path.exists():
        run.report = read_report(report_path)
        scan.add("report", report_path.read_text())
    scan.add_error("operator error", error)
    scan.add("xcom return_value", value)
    scan.add("xcom pushed", ti.pushed)
    scan.add("operator repr", repr(op))
    op.render_template_fields(context={"ti": ti, "dag_run": None, "params": {}})  # type: ignore[arg-type]
    scan.add("rendered fields", {name: getattr(op, name) for name in op.template_fields})
    return run
