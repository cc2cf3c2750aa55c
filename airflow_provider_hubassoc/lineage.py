"""OpenLineage for the write operators: what a run read, which HubSpot associations it changed, and
its totals. Only called by the OpenLineage provider (`get_openlineage_facets_on_complete`), so the
imports of `openlineage` and the provider stay inside the functions: without them installed the
provider works as before.

- Inputs: a `SqlSource` query's tables (the OpenLineage provider's SQL parser, with the database
  details common-sql's hook gives: `postgres://host:5432` / `db.schema.table`), a file
  (`file` / its absolute path) or an object-storage URI (`s3://bucket` / `key`). Inline lists name
  no dataset.
- Output: namespace `hubspot://<portalId>` (the account the token belongs to), name
  `associations/<from>/<to>`, with the number of pairs the run changed (`outputStatistics`).
  A dry run changes nothing, so it names no output.
- Run facet `hubspotRun`: the summary's totals, operation, dry run flag, stop reason and report.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from openlineage.client.event_v2 import Dataset, OutputDataset
    from openlineage.client.facet_v2 import RunFacet

    from airflow_provider_hubassoc.batch.sql_source import SqlSource
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.models.account import Account

log = logging.getLogger(__name__)

UNKNOWN_ACCOUNT = "unknown"
RUN_FACET = "hubspotRun"
# A URN, not a web address: the facet's fields are described in docs/lineage.md.
RUN_FACET_SCHEMA = "urn:airflow-provider-hubassoc:facet:HubSpotRunFacet:1-0-0"
_RUN_FACET_KEYS = (
    "operation",
    "fromObjectType",
    "toObjectType",
    "apiVersion",
    "dryRun",
    "totals",
    "batches",
    "errorsByCategory",
    "stoppedBy",
    "reportPath",
    "phases",
)


def account_namespace(account: Account | None) -> str:
    """`hubspot://<portalId>`; `hubspot://unknown` when the token may not read its account."""
    portal = account.portal_id if account is not None else None
    return f"hubspot://{portal if portal is not None else UNKNOWN_ACCOUNT}"


def run_account(client: HubSpotClient | None, connect: Callable[[], HubSpotClient]) -> Account | None:
    """The account a run changed, read once at completion (None, logged, when it cannot be)."""
    try:
        return (client or connect()).account()
    except Exception:
        log.warning("OpenLineage: could not read the HubSpot account", exc_info=True)
        return None


def associations_name(from_object_type: str, to_object_type: str) -> str:
    return f"associations/{from_object_type}/{to_object_type}"


def changed_pairs(summary: Mapping[str, Any]) -> int:
    """Pairs this run changed or may have: confirmed and accepted (sent, 2xx)."""
    totals = summary.get("totals") or {}
    return int(totals.get("confirmed", 0)) + int(totals.get("accepted", 0))


def uri_dataset(location: Any) -> Dataset | None:
    """A file or object-storage location as a dataset (OpenLineage naming: `file` + absolute path,
    or `scheme://authority` + path). None for anything that is not a path or a URI."""
    from openlineage.client.event_v2 import Dataset

    text = str(location) if isinstance(location, (str, os.PathLike)) or _is_object_path(location) else ""
    if not text.strip():
        return None
    parts = urlsplit(text)
    if parts.scheme in ("", "file"):  # a bare path, or a file:// URI
        path = parts.path if parts.scheme == "file" else text
        return Dataset(namespace="file", name=os.path.abspath(path))
    return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path.lstrip("/"))


def _is_object_path(value: Any) -> bool:
    """An Airflow ObjectStoragePath (a universal_pathlib path): its str() is its URI."""
    return type(value).__module__.split(".")[0] in ("airflow", "upath") and hasattr(value, "protocol")


def input_datasets(inputs: Any) -> list[Dataset]:
    """The datasets an archive's `inputs` came from (see the module docstring)."""
    from airflow_provider_hubassoc.batch.sql_source import SqlSource

    if isinstance(inputs, SqlSource):
        return sql_datasets(inputs)
    dataset = uri_dataset(inputs)
    return [dataset] if dataset is not None else []


def sql_datasets(source: SqlSource) -> list[Dataset]:
    """The tables a query reads: through the OpenLineage provider's SQL helper when the hook
    describes its database (Postgres, Snowflake, BigQuery...), else the SQL parser alone with the
    connection's `conn_type://host[:port]` as namespace (SQLite, hooks without lineage support)."""
    from airflow.providers.common.compat.sdk import BaseHook
    from airflow.providers.openlineage.sqlparser import SQLParser

    connection = BaseHook.get_connection(source.conn_id)
    hook = connection.get_hook(hook_params=source.hook_params)  # type: ignore[no-untyped-call]
    described = _described_by_hook(hook, source)
    if described is not None:
        return described
    parsed = SQLParser(dialect=_dialect(hook, connection)).parse(SQLParser.split_sql_string(source.sql))
    if parsed is None:
        return []
    return [_table_dataset(connection, table.qualified_name) for table in parsed.in_tables]


def _described_by_hook(hook: Any, source: SqlSource) -> list[Dataset] | None:
    """The provider's own SQL lineage (no extra query: `use_connection=False`), or None."""
    try:
        from airflow.providers.openlineage.sqlparser import get_openlineage_facets_with_sql
    except ImportError:  # an OpenLineage provider older than the helper
        return None
    lineage = get_openlineage_facets_with_sql(hook, source.sql, source.conn_id, None, use_connection=False)
    return None if lineage is None else list(lineage.inputs)


def _dialect(hook: Any, connection: Any) -> str:
    try:
        return str(hook.get_openlineage_database_dialect(connection))
    except AttributeError:
        return "generic"


def _table_dataset(connection: Any, table: str) -> Dataset:
    from openlineage.client.event_v2 import Dataset

    authority = str(connection.host or "")
    if connection.port:
        authority += f":{connection.port}"
    return Dataset(namespace=f"{connection.conn_type}://{authority}", name=table)


def output_dataset(summary: Mapping[str, Any], account: Account | None) -> OutputDataset:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=changed_pairs(summary)
    )
    return OutputDataset(
        namespace=account_namespace(account),
        name=associations_name(str(summary["fromObjectType"]), str(summary["toObjectType"])),
        outputFacets={"outputStatistics": statistics},
    )


def run_facet(summary: Mapping[str, Any]) -> RunFacet:
    """The run's totals (the XCom summary's small, stable part) as the `hubspotRun` facet."""
    fields = {key: summary[key] for key in _RUN_FACET_KEYS if summary.get(key) is not None}
    facet: RunFacet = _run_facet_type()(summary=fields)
    return facet


@functools.cache
def _run_facet_type() -> type[Any]:
    """Built on first use: its base class comes from openlineage-python, an optional dependency."""
    import attrs
    from openlineage.client.facet_v2 import RunFacet

    @attrs.define
    class HubSpotRunFacet(RunFacet):
        """What a HubSpot association run did: `summary` holds the XCom summary's totals."""

        summary: dict[str, Any] = attrs.field(factory=dict)

        @staticmethod
        def _get_schema() -> str:
            return RUN_FACET_SCHEMA

    return HubSpotRunFacet


def operator_lineage(
    inputs: list[Dataset], summary: Mapping[str, Any] | None, account: Account | None
) -> Any:
    """The `OperatorLineage` of a finished run (its summary None: the inputs only)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    if summary is None:
        return OperatorLineage(inputs=inputs)
    outputs = [] if summary.get("dryRun") else [output_dataset(summary, account)]
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets={RUN_FACET: run_facet(summary)})
