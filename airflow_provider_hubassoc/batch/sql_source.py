"""Inputs straight from a warehouse: the rows of a SQL query, streamed from any `DbApiHook` connection.

    HubSpotArchiveAssociationsOperator(
        ...,
        inputs=SqlSource(
            conn_id="warehouse",
            sql="SELECT contact_id AS from_id, company_id AS to_id FROM departures WHERE day = %(day)s",
            parameters={"day": "{{ dag_run.run_after | ds }}"},
        ),
    )

`sql` and `parameters` are templated (the operator renders `inputs`, and Airflow renders an object's
own `template_fields`). The query runs once per task attempt, when the operator loads its input:
rows are read `fetch_size` at a time (a server-side cursor on PostgreSQL, `fetchmany` elsewhere),
validated like CSV rows and spilled to the pair store, so memory stays flat and nothing passes
through XCom. Columns follow the CSV header's rule (`batch/fields.py`): any case (`FROM_ID` works),
and two columns naming one side (a join returning `from_id` twice) are refused.

A retry of the task runs the query again; its checkpoint applies only if the query returns the same
pairs (the operator compares a digest of the loaded pairs and refuses a changed input): keep the
query deterministic, pinned to the run (a date, a snapshot, a batch id), not to "now".

Nothing heavy is imported at DAG-parse time: common-sql and the driver load when the rows are read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_hubassoc.batch.fields import FROM_KEYS, KEYS, TO_KEYS, field_keys
from airflow_provider_hubassoc.models.identifiers import InputValidationError, short_repr

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

_ID_FIELDS = {KEYS["from id"]: "from id", KEYS["to id"]: "to id"}
_SERVER_SIDE_DRIVERS = ("psycopg2", "psycopg")  # named cursors are server-side cursors there
_CURSOR_NAME = "hubassoc_inputs"


class SqlSourceError(Exception):
    """Reading the query failed in the database or its driver (names the connection); nothing was
    sent. Not an input refusal: a retry may succeed (the server was down, a lock timed out)."""


class SqlSource:
    """The rows of a SQL query as operator inputs (see the module docstring).

    :param conn_id: an Airflow connection whose hook is a common-sql `DbApiHook` (Postgres,
        Snowflake, BigQuery, SQLite, MySQL, ...). The driver is the connection's provider's.
    :param sql: one query, templated. Column names as in a CSV header: `from_id`, `to_id`, and for
        label archive `label`, or `category` and `type_id`. Other columns are ignored.
    :param parameters: query parameters in the driver's paramstyle (`%(name)s` for Postgres,
        Snowflake and BigQuery's DB-API, `:name` for SQLite), templated.
    :param fetch_size: rows read per round trip.
    :param hook_params: passed to `Connection.get_hook` (e.g. `{"use_legacy_sql": False}`).
    """

    template_fields: Sequence[str] = ("conn_id", "sql", "parameters")

    def __init__(
        self,
        *,
        conn_id: str,
        sql: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        fetch_size: int = 10_000,
        hook_params: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(fetch_size, bool) or not isinstance(fetch_size, int) or fetch_size < 1:
            raise ValueError(f"fetch_size must be a positive integer, got {fetch_size!r}")
        self.conn_id = conn_id
        self.sql = sql
        self.parameters = parameters
        self.fetch_size = fetch_size
        self.hook_params = dict(hook_params or {})

    def __repr__(self) -> str:
        # Shown in the rendered-fields view and the logs; parameters may be long: kept out.
        return f"SqlSource(conn_id={self.conn_id!r}, sql={short_repr(' '.join(str(self.sql).split()), 200)})"

    def describe(self) -> str:
        return f"query on connection {self.conn_id!r}"

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(where, record) for each row, read in batches; the connection closes when done or dropped."""
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise InputValidationError(f"{self.describe()}: sql is empty: give the query to read pairs from")
        hook = self._hook()
        try:
            with contextlib.closing(hook.get_conn()) as conn:
                cursor = _streaming_cursor(conn)
                try:
                    yield from self._rows(cursor)
                finally:
                    with contextlib.suppress(Exception):  # a server-side cursor may be gone with its error
                        cursor.close()
        except InputValidationError:
            raise
        except Exception as err:  # the database's own error: worth an Airflow retry if transient
            raise SqlSourceError(
                f"{self.describe()} failed: {type(err).__name__}: {str(err)[:1500]}"
            ) from err

    def _hook(self) -> DbApiHook:
        """The connection's hook, checked to be a common-sql DbApiHook."""
        from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

        try:
            from airflow.providers.common.sql.hooks.sql import DbApiHook
        except ImportError:
            raise InputValidationError(
                f"{self.describe()}: SqlSource needs apache-airflow-providers-common-sql "
                "(pip install 'airflow-provider-hubassoc[sql]')"
            ) from None
        try:
            connection = BaseHook.get_connection(self.conn_id)
        except AirflowNotFoundException:
            raise InputValidationError(f"{self.describe()}: the connection is not defined") from None
        hook = connection.get_hook(hook_params=self.hook_params)  # type: ignore[no-untyped-call]
        if not isinstance(hook, DbApiHook):
            raise InputValidationError(
                f"{self.describe()}: connection type {connection.conn_type!r} has hook "
                f"{type(hook).__name__}, which is not a SQL (common-sql DbApiHook) hook"
            )
        return hook

    def _rows(self, cursor: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.parameters is None:
            cursor.execute(self.sql)
        else:
            cursor.execute(self.sql, self.parameters)
        batch = cursor.fetchmany(self.fetch_size)  # psycopg2 names a server cursor's columns only now
        columns = _columns(cursor.description, self.describe())
        number = 0
        while batch:
            for row in batch:
                number += 1
                where = f"{self.describe()} row {number}"
                yield where, _record(columns, row, where)
            batch = cursor.fetchmany(self.fetch_size)


def _streaming_cursor(conn: Any) -> Any:
    """A server-side cursor where the driver's plain cursor would buffer the whole result."""
    if type(conn).__module__.split(".")[0] in _SERVER_SIDE_DRIVERS:
        return conn.cursor(name=_CURSOR_NAME)
    return conn.cursor()


def _columns(description: Any, name: str) -> list[tuple[str, str | None]]:
    """(column name, the key it feeds or None) for each column: the CSV header's rule (any case, one
    column per field); from and to columns are required."""
    names = [str(column[0]) for column in description or ()]
    try:
        keys = field_keys(names, noun="column")
    except InputValidationError as err:
        raise InputValidationError(f"{name}: the query's columns {short_repr(names)}: {err}") from None
    if not set(_ID_FIELDS) <= set(keys):
        raise InputValidationError(
            f"{name}: the query's columns {short_repr(names)} need a from column ({'/'.join(FROM_KEYS)}) "
            f"and a to column ({'/'.join(TO_KEYS)}), in any case; name them with AS"
        )
    return list(zip(names, keys, strict=True))


def _record(columns: list[tuple[str, str | None]], row: Any, where: str) -> dict[str, Any]:
    """One row as the mapping a CSV row would give: NULL cells dropped, except in an id column."""
    values = row.values() if isinstance(row, Mapping) else row
    record: dict[str, Any] = {}
    for (column, key), value in zip(columns, values, strict=True):
        if key is None:
            continue
        if value is None and key in _ID_FIELDS:
            raise InputValidationError(f"{where}: column {column!r} is NULL; expected a {_ID_FIELDS[key]}")
        if value is not None:
            record[key] = _plain(value)
    return record


def _plain(value: Any) -> Any:
    """NUMERIC columns arrive as Decimal: a whole one is the int it stands for."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


__all__ = ["SqlSource", "SqlSourceError"]
