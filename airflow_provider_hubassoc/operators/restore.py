"""Undo a run from its report: re-create what it removed, remove what it created."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_hubassoc.operators.base import HubSpotBatchOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hubassoc.batch.inputs import LoadReport
    from airflow_provider_hubassoc.batch.run import Loader, Phase
    from airflow_provider_hubassoc.batch.settings import Target
    from airflow_provider_hubassoc.batch.store import PairStore
    from airflow_provider_hubassoc.batch.undo import Key, UndoPlan
    from airflow_provider_hubassoc.models.account import Account

DEFAULT_CONN_ID = "hubspot_default"


class HubSpotRestoreAssociationsOperator(HubSpotBatchOperator):
    """Undo a run that had `snapshot=True`, from its report: what an archive removed is re-created
    (`batch/create`, every type the pair had), what a restore created is removed again.

    A pair is undone when the run changed it or may have: a request that got no 2xx reply may
    still have been applied, so only pairs HubSpot named in a per-input error, and pairs never
    attempted, are left alone. Undoing what did not happen changes nothing.

    :param undo_report_path: the report of the run to undo (local path or object storage URI).
    :param report_path: this restore's own report and checkpoint; with it the restore is
        snapshotted too, so it can itself be undone.
    :param hubspot_conn_id: default: the connection the undone run used (its report says).
    :param allow_unknown_account: go on when the report's or the connection's HubSpot account
        cannot be read (e.g. a token without the scope): you confirm they are the same account.
    :param from_ids: undo only the pairs of these from records; or
    :param pairs: undo only these pairs (`(from_id, to_id)` or `{"from_id":..., "to_id":...}`).
    :param from_object_type: optional; when given it must match the report's.
    :param to_object_type: optional; when given it must match the report's.

    Dry run: `wouldCreate` / `wouldRemove` count the pairs the undo would change, `present` /
    `absent` those already as they were.
    """

    template_fields: Sequence[str] = (
        *HubSpotBatchOperator.template_fields,
        "undo_report_path",
        "from_ids",
        "pairs",
    )
    ui_color = "#7fc97f"

    def __init__(
        self,
        *,
        undo_report_path: str,
        hubspot_conn_id: str | None = None,
        report_path: str | None = None,
        snapshot: bool | None = None,
        allow_unknown_account: bool = False,
        from_ids: Any = None,
        pairs: Any = None,
        from_object_type: str | None = None,
        to_object_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        if from_ids is not None and pairs is not None:
            raise ValueError("give from_ids or pairs, not both")
        super().__init__(hubspot_conn_id=hubspot_conn_id or "", report_path=report_path, **kwargs)
        self.undo_report_path = undo_report_path
        self.snapshot = bool(report_path) if snapshot is None else bool(snapshot)
        self.allow_unknown_account = bool(allow_unknown_account)
        self.from_ids = from_ids
        self.pairs = pairs
        self.from_object_type = from_object_type
        self.to_object_type = to_object_type
        self.settings(snapshot=self.snapshot)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hubassoc.batch.undo import check_object_types

        load_filter = self._pair_filter()
        plan = self._read_plan()
        with plan:
            try:
                from_type, to_type = check_object_types(plan, self.from_object_type, self.to_object_type)
            except ValueError as err:
                self.refuse(err)
            self.hubspot_conn_id = self.hubspot_conn_id or str(plan.header.get("connId") or DEFAULT_CONN_ID)
            target = self.target(from_type, to_type)
            account = self._same_account(plan, target.client.account())
            self.log.info(
                "undoing %s (a %s run, %s -> %s, %s) through connection %r",
                self.undo_report_path,
                plan.header.get("operation"),
                from_type,
                to_type,
                account.describe(),
                self.hubspot_conn_id,
            )
            settings = self.settings(context, snapshot=self.snapshot)
            header = {"account": account.to_json(), "undoes": self.undo_report_path}
            phases = self._phases(plan, target, load_filter)
            return self.run_engine(context, settings, phases, target, header, kind=plan.kind)

    def _read_plan(self) -> UndoPlan:
        from airflow_provider_hubassoc.batch.report import ReportUnreadableError
        from airflow_provider_hubassoc.batch.undo import read_undo_plan
        from airflow_provider_hubassoc.models.identifiers import InputValidationError

        try:
            return read_undo_plan(self.undo_report_path)
        except (ReportUnreadableError, InputValidationError) as err:
            self.refuse(err)

    def _same_account(self, plan: UndoPlan, ours: Account) -> Account:
        """Refuse another account's report before any write: an undo there links unrelated records."""
        theirs = plan.account
        if theirs.known and ours.known and theirs.portal_id != ours.portal_id:
            self.refuse(
                ValueError(
                    f"undo_report_path {self.undo_report_path!r} was written for HubSpot account "
                    f"{theirs.portal_id}, but connection {self.hubspot_conn_id!r} reaches account "
                    f"{ours.portal_id}: an undo must run against the account the run changed"
                )
            )
        if (theirs.known and ours.known) or self.allow_unknown_account:
            return ours
        unknown = [
            f"the report's ({theirs.unknown_because})" if not theirs.known else "",
            f"the connection's ({ours.unknown_because})" if not ours.known else "",
        ]
        self.refuse(
            ValueError(
                f"cannot tell whether undo_report_path {self.undo_report_path!r} belongs to the account of "
                f"connection {self.hubspot_conn_id!r}: {' and '.join(filter(None, unknown))} HubSpot "
                "account is unknown; pass allow_unknown_account=True to confirm they are the same account"
            )
        )

    def _pair_filter(self) -> Callable[[Key], bool]:
        from airflow_provider_hubassoc.models.identifiers import InputValidationError

        try:
            return pair_filter(self.from_ids, self.pairs)
        except InputValidationError as err:
            self.refuse(err)

    def _phases(self, plan: UndoPlan, target: Target, keep: Callable[[Key], bool]) -> list[Phase]:
        """One phase per kind of undo the report needs (re-create removals, remove creates)."""
        from airflow_provider_hubassoc.batch.labels import LabelCatalog
        from airflow_provider_hubassoc.batch.run import Phase

        catalog: list[LabelCatalog] = []  # one labels request for every phase

        def loader(ops: frozenset[str]) -> Loader:
            def load(store: PairStore) -> LoadReport:
                if not catalog:
                    labels = target.client.list_labels(target.from_type, target.to_type)
                    catalog.append(LabelCatalog(target.from_type, target.to_type, labels))
                return plan.load(store, catalog[0], keep, ops, fail_on_empty=self.fail_on_empty)

            return load

        return [Phase(operation, loader(ops)) for operation, ops in plan.undo_operations()]

    def _lineage_inputs(self) -> list[Any]:
        """OpenLineage: the report of the run undone."""
        from airflow_provider_hubassoc.lineage import input_datasets

        return input_datasets(self.undo_report_path)


def pair_filter(from_ids: Any, pairs: Any) -> Callable[[Key], bool]:
    """Which pairs to undo: all, those of `from_ids`, or exactly `pairs`. Raises
    `InputValidationError` naming the bad item."""
    from airflow_provider_hubassoc.batch.inputs import parse_input
    from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id

    if from_ids is not None:
        if isinstance(from_ids, (str, bytes, int)) or not isinstance(from_ids, Iterable):
            raise InputValidationError(
                f"from_ids must be a list of record ids, got {type(from_ids).__name__}"
            )
        wanted_from = {parse_record_id(i, field=f"from_ids[{n}]") for n, i in enumerate(from_ids)}
        return lambda key: key[0] in wanted_from
    if pairs is not None:
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
            raise InputValidationError(f"pairs must be a list of pairs, got {type(pairs).__name__}")
        wanted: set[Key] = set()
        for n, item in enumerate(pairs):
            parsed = parse_input(item, where=f"pairs[{n}]", with_labels=False)
            wanted.update((parsed.from_id, to_id) for to_id in parsed.to_ids)
        return lambda key: key in wanted
    return lambda key: True
