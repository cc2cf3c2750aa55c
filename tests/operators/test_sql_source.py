"""The SQL source: both archive operators read their pairs from a query, against SQLite through
Airflow's sqlite connection and against a real PostgreSQL server, streamed, validated like CSV rows,
refused before any request, and checked on a retry to be the input the checkpoint was made from."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_hubassoc.batch.inputs import load_pairs
from airflow_provider_hubassoc.batch.sql_source import SqlSource, SqlSourceError
from airflow_provider_hubassoc.batch.store import PairStore
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from hubassoc_simulator import Simulator
from tests.support.assertions import LeakScan
from tests.support.inputs import load_inputs
from tests.support.operator_runs import batch_op, label_op, run_operator
from tests.support.postgres import PostgresServer
from tests.support.sim_states import BOSS, FT, TT, UNLABELED, archive_requests

PAIRS = [(1, 101), (1, 102), (2, 101), (3, 105)]


# -- SQLite through Airflow's sqlite connection ---------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A SQLite file with a `departures` table, reachable as Airflow connection `warehouse`."""

    def make(rows: list[tuple[Any, ...]] = PAIRS, columns: str = "from_id, to_id") -> Path:
        path = tmp_path / "warehouse.db"
        path.unlink(missing_ok=True)
        with sqlite3.connect(path) as db:
            db.execute(f"CREATE TABLE departures ({columns}, batch TEXT DEFAULT 'b1')")
            marks = ", ".join("?" for _ in columns.split(","))
            db.executemany(f"INSERT INTO departures ({columns}) VALUES ({marks})", rows)
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
        return path

    return make


def source(sql: str = "SELECT from_id, to_id FROM departures", **kwargs: Any) -> SqlSource:
    return SqlSource(conn_id="warehouse", sql=sql, **kwargs)


def test_batch_archive_reads_its_pairs_from_a_sqlite_query(
    make_sim: Callable[..., Simulator], sqlite_db: Callable[..., Path], tmp_path: Path
) -> None:
    sim = make_sim()
    sqlite_db()
    report = tmp_path / "report.jsonl"
    run = run_operator(batch_op(source(fetch_size=3), report_path=str(report)), sim, LeakScan(), report)

    assert run.error is None
    assert run.summary["totals"]["requested"] == len(PAIRS)
    after = sim.state.edges(FT, TT)
    assert all((str(f), str(t)) not in after for f, t in PAIRS)
    assert len(after) == len(run.before) - len(PAIRS)
    assert any(line["kind"] == "inputs" and len(line["digest"]) == 64 for line in run.report)


def test_sql_and_parameters_are_rendered_by_the_operator(
    make_sim: Callable[..., Simulator], sqlite_db: Callable[..., Path]
) -> None:
    """Airflow renders an object's own `template_fields`: the query and its parameters reach the run."""
    sim = make_sim()
    sqlite_db()
    op = batch_op(
        source(
            "SELECT from_id, to_id FROM departures WHERE batch = :batch AND from_id <= {{ params.top }}",
            parameters={"batch": "{{ run_id }}"},
        )
    )
    op.render_template_fields(context={"run_id": "b1", "params": {"top": 2}})  # type: ignore[arg-type]
    assert isinstance(op.inputs, SqlSource)
    assert op.inputs.sql.endswith("from_id <= 2")
    assert op.inputs.parameters == {"batch": "b1"}

    run = run_operator(op, sim, LeakScan())
    assert run.summary["totals"]["requested"] == 3  # from ids 1 and 2 only


def test_label_archive_reads_upper_case_label_columns(
    make_sim: Callable[..., Simulator], sqlite_db: Callable[..., Path]
) -> None:
    """Warehouses such as Snowflake upper-case column names: matched case-insensitively."""
    sim = make_sim()
    sqlite_db(
        [(1, 101, "USER_DEFINED", 36), (2, 102, "USER_DEFINED", 36)], "from_id, to_id, category, type_id"
    )
    sql = (
        "SELECT from_id AS FROM_ID, to_id AS TO_ID, category AS CATEGORY, type_id AS TYPE_ID FROM departures"
    )
    run = run_operator(label_op(source(sql)), sim, LeakScan())

    assert run.error is None
    after = sim.state.edges(FT, TT)
    assert BOSS not in after[("1", "101")]
    assert BOSS not in after[("2", "102")]
    assert UNLABELED in after[("1", "101")]  # the association stays: only the label went


@pytest.mark.parametrize(
    ("rows", "sql", "message"),
    [
        ([(1, 101), (None, 102)], None, "query on connection 'warehouse' row 2: column 'from_id' is NULL"),
        ([(1, 101), (2, "abc")], None, "row 2: to id 'abc' is not a record id"),
        ([(1, 101), (2, 1.5)], None, "row 2: to id 1.5 is not a record id"),
        (PAIRS, "SELECT from_id AS contact, to_id FROM departures", "need a from column"),
        (PAIRS, "SELECT from_id, to_id FROM nowhere WHERE 0", None),
        (PAIRS, "   ", "sql is empty"),
    ],
    ids=["null-id", "non-numeric-id", "fractional-id", "wrong-column-names", "empty-result", "empty-sql"],
)
def test_bad_rows_are_refused_before_any_request(
    make_sim: Callable[..., Simulator],
    sqlite_db: Callable[..., Path],
    rows: list[tuple[Any, ...]],
    sql: str | None,
    message: str | None,
) -> None:
    sim = make_sim()
    sqlite_db(rows)
    options: dict[str, Any] = {}
    if sql == "SELECT from_id, to_id FROM nowhere WHERE 0":  # an empty result, not a SQL error
        sql, message = "SELECT from_id, to_id FROM departures WHERE 0", "inputs is empty"
        options["fail_on_empty"] = True  # without it, an empty result is a run with nothing to do
    run = run_operator(batch_op(source(sql) if sql else source(), **options), sim, LeakScan())

    assert isinstance(run.error, AirflowFailException)
    assert "nothing was sent to HubSpot" in str(run.error)
    assert message is not None
    assert message in str(run.error)
    assert archive_requests(sim) == 0


def test_a_connection_that_is_not_sql_or_is_missing_is_refused(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim()  # hubspot_default is a HubSpot connection: its hook is no DbApiHook
    not_sql = run_operator(batch_op(SqlSource(conn_id="hubspot_default", sql="SELECT 1")), sim, LeakScan())
    missing = run_operator(batch_op(SqlSource(conn_id="no_such_conn", sql="SELECT 1")), sim, LeakScan())

    assert isinstance(not_sql.error, AirflowFailException)
    assert "connection type 'hubspot' has hook HubSpotHook, which is not a SQL" in str(not_sql.error)
    assert isinstance(missing.error, AirflowFailException)
    assert "query on connection 'no_such_conn': the connection is not defined" in str(missing.error)
    assert archive_requests(sim) == 0


def test_a_failing_query_names_its_connection_and_sends_nothing(
    make_sim: Callable[..., Simulator], sqlite_db: Callable[..., Path]
) -> None:
    """A database error is no input refusal (a retry may succeed), but it names the source."""
    sim = make_sim()
    sqlite_db()
    run = run_operator(batch_op(source("SELECT from_id, to_id FROM no_such_table")), sim, LeakScan())

    assert isinstance(run.error, SqlSourceError)
    assert not isinstance(run.error, AirflowFailException)
    assert "query on connection 'warehouse' failed: OperationalError: no such table" in str(run.error)
    assert archive_requests(sim) == 0


@pytest.mark.parametrize(
    ("sql", "names", "field"),
    [
        (
            "SELECT from_id, to_id, to_id AS from_id FROM departures",
            "'from_id' and 'from_id' (columns 1 and 3)",
            "from id",
        ),
        (
            "SELECT from_id AS fromId, to_id, to_id AS FROM_ID FROM departures",
            "'fromId' and 'FROM_ID' (columns 1 and 3)",
            "from id",
        ),
        (
            'SELECT from_id, to_id AS "to", to_id FROM departures',
            "'to' and 'to_id' (columns 2 and 3)",
            "to id",
        ),
        (
            "SELECT from_id, to_id, 'x' AS label, 'USER_DEFINED:36' AS types FROM departures",
            "'label' and 'types' (columns 3 and 4)",
            "label",
        ),
    ],
)
def test_a_query_naming_a_side_twice_is_refused_naming_the_columns(
    sqlite_db: Callable[..., Path], sql: str, names: str, field: str
) -> None:
    """A join that returns two `from_id` columns: the last one silently won (issue 23, item 6)."""
    sqlite_db()
    with pytest.raises(InputValidationError) as info:
        load_inputs(source(sql))
    message = str(info.value)
    assert message.startswith("query on connection 'warehouse': the query's columns"), message
    assert names in message
    assert f"both name the {field}" in message


def test_an_empty_query_result_loads_zero_pairs_unless_fail_on_empty(sqlite_db: Callable[..., Path]) -> None:
    """A nightly query with nothing to do (issue 23, item 7); `fail_on_empty` names the query."""
    sqlite_db()
    empty = source("SELECT from_id, to_id FROM departures WHERE 0")
    report, pairs = load_inputs(empty)
    assert (pairs, report.requested, report.empty) == ([], 0, True)
    with PairStore() as store, pytest.raises(InputValidationError) as info:
        load_pairs(empty, store, fail_on_empty=True)
    assert str(info.value) == (
        "inputs is empty (query on connection 'warehouse' (0 rows)) and fail_on_empty is set"
    )


def test_a_retry_whose_query_returns_other_pairs_is_refused(
    make_sim: Callable[..., Simulator], sqlite_db: Callable[..., Path], tmp_path: Path
) -> None:
    """The checkpoint applies to the pairs it was made from: a re-read that differs is refused
    (the same input is skipped as done earlier; resume=True accepts the change)."""
    sim = make_sim()
    path = sqlite_db()
    report = tmp_path / "report.jsonl"
    first = run_operator(batch_op(source(), report_path=str(report)), sim, LeakScan(), report)
    assert first.error is None

    same = run_operator(batch_op(source(), report_path=str(report)), sim, LeakScan(), report)
    assert same.summary["totals"]["doneEarlier"] == len(PAIRS)

    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO departures (from_id, to_id) VALUES (4, 104)")
    sent = archive_requests(sim)
    changed = run_operator(batch_op(source(), report_path=str(report)), sim, LeakScan(), report)
    assert isinstance(changed.error, AirflowFailException)
    assert "the input differs from the one an earlier attempt of this run checkpointed" in str(changed.error)
    assert archive_requests(sim) == sent

    resumed = run_operator(batch_op(source(), report_path=str(report), resume=True), sim, LeakScan(), report)
    assert resumed.error is None
    assert ("4", "104") not in sim.state.edges(FT, TT)


# -- a real PostgreSQL server -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One server for the session; a server that cannot start fails the tests (never skips)."""
    server = PostgresServer.in_temporary_directory()
    server.execute(
        "DROP TABLE IF EXISTS departures",
        "CREATE TABLE departures (contact_id NUMERIC(20, 0), company_id BIGINT, day DATE, note TEXT)",
        "INSERT INTO departures VALUES (%s, %s, %s, %s)",
        rows=[
            (f, t, "2026-11-26" if f <= 5 else "2026-11-25", "x")
            for f in range(1, 11)
            for t in range(101, 111)
        ],
    )
    yield server
    server.close()


@pytest.fixture
def warehouse(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> PostgresServer:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", postgres.conn_json())
    return postgres


PG_SQL = "SELECT contact_id AS from_id, company_id AS to_id FROM departures WHERE day = %(day)s"


def test_batch_archive_reads_a_postgres_query_with_parameters(
    make_sim: Callable[..., Simulator], warehouse: PostgresServer
) -> None:
    sim = make_sim()
    run = run_operator(
        batch_op(source(PG_SQL, parameters={"day": "2026-11-26"}, fetch_size=7)), sim, LeakScan()
    )

    assert run.error is None
    assert run.summary["totals"]["requested"] == 50
    assert set(sim.state.edges(FT, TT)) == {(str(f), str(t)) for f in range(6, 11) for t in range(101, 111)}


def test_postgres_rows_come_from_a_server_side_cursor(warehouse: PostgresServer) -> None:
    """The rows stream through a named (server-side) cursor: while the first row is in hand, the
    reading session's last statement fetches from that cursor, a batch at a time."""
    import psycopg2

    records = source(PG_SQL, parameters={"day": "2026-11-26"}, fetch_size=7).records()
    where, first = next(records)
    with psycopg2.connect(warehouse.uri) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%%hubassoc%%'"
        )
        queries = [row[0] for row in cursor.fetchall()]
    rest = list(records)

    assert (where, first) == ("query on connection 'warehouse' row 1", {"from_id": 1, "to_id": 101})
    assert any("FETCH" in query.upper() and "7" in query for query in queries), queries
    assert len(rest) == 49


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT NULL::bigint AS from_id, company_id AS to_id FROM departures",
            "row 1: column 'from_id' is NULL",
        ),
        (
            "SELECT note AS from_id, company_id AS to_id FROM departures",
            "row 1: from id 'x' is not a record id",
        ),
        ("SELECT contact_id, company_id FROM departures", "need a from column (from_id/fromId/from)"),
    ],
    ids=["null-id", "non-numeric-id", "wrong-column-names"],
)
def test_bad_postgres_rows_are_refused_before_any_request(
    make_sim: Callable[..., Simulator], warehouse: PostgresServer, sql: str, message: str
) -> None:
    sim = make_sim()
    run = run_operator(batch_op(source(sql)), sim, LeakScan())

    assert isinstance(run.error, AirflowFailException)
    assert message in str(run.error)
    assert archive_requests(sim) == 0


def test_numeric_ids_are_read_as_the_integers_they_are(warehouse: PostgresServer) -> None:
    report, pairs = load_inputs(source("SELECT 7::numeric(20,0) AS from_id, 101 AS to_id"))
    assert [(p.from_id, p.to_id) for p in pairs] == [("7", "101")]
    assert report.description == "query on connection 'warehouse' (1 rows)"
