"""Make HubSpot's associations match a desired table: create, relabel and remove, undoably."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_hubassoc.operators.base import HubSpotBatchOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hubassoc.batch.settings import RunSettings, Target
    from airflow_provider_hubassoc.batch.sync import Mode, SyncPlan, SyncStats


class HubSpotSyncAssociationsOperator(HubSpotBatchOperator):
    """Sync the associations of the records in scope to a desired table (`batch/sync.py` has the
    rules): creates first, then label removals, then removals, each snapshotted so
    `HubSpotRestoreAssociationsOperator(undo_report_path=<this report>)` undoes the whole sync.

    :param inputs: the desired rows: `from_id`, `to_id` and an optional `label` (by name) or
        `category` + `type_id`; one row per label; a row without a label means the pair with no
        label. A list, an XComArg, a CSV / JSONL file (local or object storage) or a `SqlSource`.
    :param scope: more from ids whose associations the sync owns (same input kinds: ids, or rows
        with `from_id`): a from id in scope that no row names ends with no association at all.
        The scope is always the from ids of `inputs` plus these; nothing outside is read or changed.
    :param mode: `mirror` (create, add labels, remove labels and associations not desired) or
        `upsert` (only create and add labels; nothing is removed).
    :param dry_run: read and compute the difference, send no write: the summary's `sync` and the
        report say what would be created, relabelled, removed and left unchanged.
    :param max_removals: refuse, before any write, a sync that would take associations or labels
        from more pairs than this: an int count, or a float fraction (0-1) of the pairs in scope now.
    :param report_path: required for a real run: the snapshot written there is what a restore
        undoes, and the run's checkpoint (a retry re-reads HubSpot and sends only what is left).
    :param resume: let another run's report checkpoint skip chunks (as the archive operators).
    """

    template_fields: Sequence[str] = (
        *HubSpotBatchOperator.template_fields,
        "from_object_type",
        "to_object_type",
        "inputs",
        "scope",
    )
    ui_color = "#9ecae1"

    def __init__(
        self,
        *,
        from_object_type: str,
        to_object_type: str,
        inputs: Any,
        scope: Any = None,
        mode: Mode = "mirror",
        max_removals: int | float | None = None,
        resume: bool = False,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_hubassoc.batch.sync import check_max_removals, check_mode

        super().__init__(**kwargs)
        self.from_object_type = from_object_type
        self.to_object_type = to_object_type
        self.inputs = inputs
        self.scope = scope
        self.mode: Mode = check_mode(mode)
        check_max_removals(max_removals)
        self.max_removals = max_removals
        self.resume = bool(resume)
        if not self.is_dry_run and not self.report_path:
            raise ValueError(
                "a real sync needs report_path: its snapshot is what HubSpotRestoreAssociationsOperator "
                "undoes (dry_run=True may go without)"
            )
        self._stats: SyncStats | None = None
        self.settings(**self._own_settings())

    def _own_settings(self) -> dict[str, Any]:
        return {"snapshot": not self.is_dry_run, "resume": self.resume}

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hubassoc.batch.sync import header_of

        settings = self.settings(context, **self._own_settings())
        target = self.target(self.from_object_type, self.to_object_type)
        with self._plan(target, settings) as plan:
            header = header_of(plan.stats)
            if not settings.dry_run:  # an undoable run records its account (its undo checks it)
                header["account"] = target.client.account().to_json()
            phases = plan.phases(dry_run=settings.dry_run)
            value = self.run_engine(context, settings, phases, target, header, kind="sync")
        return self._with_stats(value)

    def _plan(self, target: Target, settings: RunSettings) -> SyncPlan:
        """The difference, read and computed before any write; refusals fail the task at once."""
        from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

        from airflow_provider_hubassoc.batch.sync import SyncRequest, check_removals, plan_sync
        from airflow_provider_hubassoc.client.errors import HubSpotError
        from airflow_provider_hubassoc.models.identifiers import InputValidationError

        request = SyncRequest(self.inputs, self.scope, self.mode, self.max_removals, self.fail_on_empty)
        try:
            plan = plan_sync(target, request, max_concurrency=settings.max_concurrency)
        except InputValidationError as err:
            self.refuse(err)
        except HubSpotError as err:
            error = AirflowFailException if err.fatal else AirflowException
            raise error(
                f"could not read HubSpot's associations for the sync, nothing was sent: {err}"
            ) from err
        self._stats = plan.stats
        self.log.info("%s", plan.stats.describe())
        exceeded = plan.stats.removal_cap is not None and plan.stats.removals > plan.stats.removal_cap
        try:
            if exceeded and settings.dry_run:
                self.log.warning("a real run would be refused: %s", _refusal_text(plan.stats))
            elif exceeded:
                check_removals(plan.stats)
        except InputValidationError as err:
            plan.close()
            self.refuse(err)
        return plan

    def _with_stats(self, value: dict[str, Any]) -> dict[str, Any]:
        stats = self._stats
        if stats is None:
            return value
        sync = stats.to_json()
        sync["maxRemovalsExceeded"] = stats.removal_cap is not None and stats.removals > stats.removal_cap
        return {**value, "operation": "sync", "sync": sync}

    def _lineage_inputs(self) -> list[Any]:
        """OpenLineage: the desired table (a `SqlSource` query's tables, or its file / URI)."""
        from airflow_provider_hubassoc.lineage import input_datasets

        return input_datasets(self.inputs)

    def _push_summary(self, context: Context, value: dict[str, Any]) -> None:
        """A failed sync's summary carries the difference too."""
        super()._push_summary(context, self._with_stats(value))


def _refusal_text(stats: SyncStats) -> str:
    from airflow_provider_hubassoc.batch.sync import check_removals

    try:
        check_removals(stats)
    except ValueError as err:
        return str(err)
    return "within max_removals"
