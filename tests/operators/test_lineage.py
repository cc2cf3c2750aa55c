"""OpenLineage facets of the write operators (lineage.py through
`get_openlineage_facets_on_complete`), on real runs against the simulator. The event a real
`airflow dags test` emits is checked in tests/e2e/test_openlineage.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.serde import Serde

from airflow_provider_hubassoc.batch.sql_source import SqlSource
from airflow_provider_hubassoc.lineage import input_datasets, uri_dataset
from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator
from hubassoc_simulator import Simulator
from tests.support.assertions import LeakScan
from tests.support.operator_runs import FakeTI, batch_op, run_operator
from tests.support.postgres import PostgresServer
from tests.support.sim_states import FT, TT


def _event_part(value: Any) -> Any:
    """A facet or dataset as the emitted event shows it (the client's own serializer)."""
    return json.loads(Serde.to_json(value))


def _names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("s3://departures-bucket/nightly/pairs.csv", ("s3://departures-bucket", "nightly/pairs.csv")),
        ("gs://b/x.jsonl", ("gs://b", "x.jsonl")),
        ("file:///data/pairs.csv", ("file", "/data/pairs.csv")),
        ("/data/pairs.csv", ("file", "/data/pairs.csv")),
        (Path("/data/pairs.csv"), ("file", "/data/pairs.csv")),
    ],
)
def test_a_file_or_object_storage_input_is_named_by_its_uri(location: Any, expected: tuple[str, str]) -> None:
    dataset = uri_dataset(location)
    assert dataset is not None
    assert (dataset.namespace, dataset.name) == expected


def test_a_relative_path_is_named_absolute_and_inline_pairs_name_no_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _names(input_datasets("pairs.csv")) == [("file", str(tmp_path / "pairs.csv"))]
    assert input_datasets([{"from_id": 1, "to_id": 2}]) == []
    assert input_datasets(None) == []


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A real server: the postgres hook reads the database it is connected to for lineage."""
    server = PostgresServer.in_temporary_directory()
    yield server
    server.close()


def test_a_postgres_query_names_its_tables_as_the_openlineage_provider_does(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", postgres.conn_json())
    source = SqlSource(
        conn_id="warehouse",
        sql="SELECT d.contact_id AS from_id, c.id AS to_id FROM hr.departures d "
        "JOIN crm.companies c ON c.name = d.company",
    )

    datasets = input_datasets(source)  # the query itself is not run

    authority = f"postgres://127.0.0.1:{postgres.port}"
    assert sorted(_names(datasets)) == [
        (authority, "postgres.crm.companies"),
        (authority, "postgres.hr.departures"),
    ]


def test_a_sqlite_query_names_its_table_under_the_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    source = SqlSource(conn_id="warehouse", sql="SELECT from_id, to_id FROM departures WHERE day = :d")
    assert _names(input_datasets(source)) == [(f"sqlite://{db}", "departures")]


def test_an_archive_run_names_its_input_the_account_and_its_totals(
    make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_sim()
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("from_id,to_id\n1,101\n1,102\n2,101\n")
    op = batch_op(str(pairs))
    run = run_operator(op, sim, LeakScan())
    assert run.error is None

    lineage = op.get_openlineage_facets_on_complete(FakeTI())

    assert _names(lineage.inputs) == [("file", str(pairs))]
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == (f"hubspot://{sim.config.portal_id}", f"associations/{FT}/{TT}")
    changed = run.summary["totals"]["confirmed"] + run.summary["totals"]["accepted"]
    assert changed == 3
    assert _event_part(output)["outputFacets"]["outputStatistics"]["rowCount"] == changed
    facet = _event_part(lineage.run_facets["hubspotRun"])
    assert facet["summary"]["totals"] == run.summary["totals"]
    assert facet["summary"]["operation"] == "batch_archive"
    assert facet["_schemaURL"] == "urn:airflow-provider-hubassoc:facet:HubSpotRunFacet:1-0-0"


def test_a_dry_run_names_no_output_and_reads_no_account(
    make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_sim()
    op = batch_op([(1, 101), (2, 101)], dry_run=True)
    assert run_operator(op, sim, LeakScan()).error is None
    requests = len(sim.request_log)

    lineage = op.get_openlineage_facets_on_complete(FakeTI())

    assert lineage.outputs == []
    assert _event_part(lineage.run_facets["hubspotRun"])["summary"]["dryRun"] is True
    assert len(sim.request_log) == requests  # the account is not read for a run that changed none


def test_an_operator_that_never_ran_names_its_inputs_only(tmp_path: Path) -> None:
    op = HubSpotRestoreAssociationsOperator(task_id="undo", undo_report_path=str(tmp_path / "run.jsonl"))
    lineage = op.get_openlineage_facets_on_complete(FakeTI(task_id="undo"))
    assert _names(lineage.inputs) == [("file", str(tmp_path / "run.jsonl"))]
    assert (lineage.outputs, lineage.run_facets) == ([], {})
