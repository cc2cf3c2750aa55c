"""Shared base of the two archive operators: validate, resolve, dedup, run, report, decide.

Everything that can be refused is refused before the first archive request: the whole input is
validated in a first streaming pass, label names are resolved once, and only then are pairs
spilled to SQLite and sent in chunks. The task state is decided at the end by `on_error`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_object_type
from airflow_provider_hubassoc.models.summary import OnError, Operation

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook
    from airflow_provider_hubassoc.models.associations import AssociationType
    from airflow_provider_hubassoc.models.responses import AssociationLabel
    from airflow_provider_hubassoc.operators.chunking import Chunk, PairStore
    from airflow_provider_hubassoc.operators.inputs import PairSource
    from airflow_provider_hubassoc.operators.report import ReportWriter, SummaryBuilder
    from airflow_provider_hubassoc.operators.runner import ChunkOutcome

ON_ERROR_CHOICES = ("fail", "threshold", "ignore")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class BaseHubSpotArchiveOperator(BaseOperator):
    """Common arguments and the run loop; subclasses say which endpoint and what an input holds."""

    template_fields: Sequence[str] = (
        "hubspot_conn_id",
        "from_object_type",
        "to_object_type",
        "inputs",
        "api_version",
        "report_path",
    )
    template_ext: Sequence[str] = ()  # a string input is a file path, never a template file
    ui_color = "#ff7a59"

    operation: ClassVar[Operation]
    with_labels: ClassVar[bool]

    def __init__(
        self,
        *,
        from_object_type: str,
        to_object_type: str,
        inputs: Any,
        hubspot_conn_id: str = "hubspot_default",
        api_version: str | None = None,
        batch_size: int = 100,
        max_concurrency: int = 4,
        on_error: OnError = "fail",
        max_error_ratio: float | None = None,
        dry_run: bool = False,
        report_path: str | None = None,
        progress_interval: float = 10.0,
        rate_limit_share: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error {on_error!r} is not one of {', '.join(ON_ERROR_CHOICES)}")
        if on_error == "threshold" and (max_error_ratio is None or not 0.0 <= max_error_ratio <= 1.0):
            raise ValueError("on_error='threshold' needs max_error_ratio between 0 and 1")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, got {max_concurrency!r}")
        if rate_limit_share is not None and not 0.0 < rate_limit_share <= 1.0:
            raise ValueError(f"rate_limit_share must be in (0, 1], got {rate_limit_share!r}")
        self.hubspot_conn_id = hubspot_conn_id
        self.from_object_type = from_object_type
        self.to_object_type = to_object_type
        self.inputs = inputs
        self.api_version = api_version
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.on_error: OnError = on_error
        self.max_error_ratio = max_error_ratio
        self.is_dry_run = bool(dry_run)  # BaseOperator.dry_run() is a method: keep it
        self.report_path = report_path
        self.progress_interval = progress_interval
        # Mapped tasks hitting one account each take a share of its rate limit (1 / pool slots).
        self.rate_limit_share = rate_limit_share

    # -- hooks for subclasses -------------------------------------------------------------------
    def send(self, hook: HubSpotHook, chunk: Chunk, from_type: str, to_type: str) -> Any:
        """Send one chunk's archive request and return the hook's BatchResult."""
        raise NotImplementedError

    # -- the run --------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hubassoc.client.errors import HubSpotError
        from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook
        from airflow_provider_hubassoc.models.summary import ArchiveSummary
        from airflow_provider_hubassoc.operators.chunking import PairStore
        from airflow_provider_hubassoc.operators.inputs import PairSource

        started = _now()
        try:
            from_type = parse_object_type(self.from_object_type, field="from_object_type")
            to_type = parse_object_type(self.to_object_type, field="to_object_type")
            source = PairSource(self.inputs, labels=self.with_labels)
            self._check_dry_run_report()
        except InputValidationError as err:
            self._refuse(err)
        try:
            hook = HubSpotHook(
                self.hubspot_conn_id, api_version=self.api_version, rate_limit_share=self.rate_limit_share
            )
            version = hook.api_version
            max_batch = hook.max_batch_size
        except HubSpotError as err:
            raise AirflowFailException(
                f"HubSpot connection {self.hubspot_conn_id!r} is unusable: {err}"
            ) from err
        if self.batch_size > max_batch:
            raise AirflowFailException(
                f"batch_size {self.batch_size} exceeds the connection's maximum of {max_batch} inputs "
                "per request (extra max_batch_size)"
            )
        resolved, labels = self._validate(source, hook, from_type, to_type)
        self.log.info("inputs: %s, validated", source.describe())
        with PairStore() as store:
            self._load(store, source, resolved, labels, from_type, to_type)
            summary = ArchiveSummary(
                operation=self.operation,
                from_object_type=from_type,
                to_object_type=to_type,
                api_version=getattr(version, "value", str(version)),
                dry_run=self.is_dry_run,
                on_error=self.on_error,
                max_error_ratio=self.max_error_ratio,
                started_at=started,
                report_path=self.report_path or None,
                hubspot_conn_id=self.hubspot_conn_id,
            )
            summary.totals.requested = store.pair_count
            summary.totals.duplicates = store.duplicates
            self.log.info(
                "%d unique pairs to %s (%d duplicate rows dropped), batch_size %d, max_concurrency %d",
                summary.totals.requested,
                "check (dry run)" if self.is_dry_run else "archive",
                summary.totals.duplicates,
                self.batch_size,
                self.max_concurrency,
            )
            return self._run(context, hook, store, summary, from_type, to_type)

    def _check_dry_run_report(self) -> None:
        """A dry run must not overwrite a real run's report: it is that run's checkpoint."""
        from airflow_provider_hubassoc.operators.report import holds_real_run

        if self.is_dry_run and self.report_path and holds_real_run(self.report_path):
            raise InputValidationError(
                f"report_path {self.report_path!r} holds the report of a real run, which a re-run "
                "uses as its checkpoint; give the dry run another report_path"
            )

    def _refuse(self, err: InputValidationError) -> NoReturn:
        raise AirflowFailException(f"invalid input, nothing was sent to HubSpot: {err}") from err

    def _validate(
        self, source: PairSource, hook: HubSpotHook, from_type: str, to_type: str
    ) -> tuple[dict[str, AssociationType], list[AssociationLabel] | None]:
        """First pass over the whole input; label names resolved once. No archive request yet."""
        from airflow_provider_hubassoc.client.errors import HubSpotError
        from airflow_provider_hubassoc.operators.inputs import LabelName
        from airflow_provider_hubassoc.operators.labels import resolve_names

        names: dict[str, str] = {}
        count = 0
        try:
            for pair in source:
                count += 1
                for spec in pair.types:
                    if isinstance(spec, LabelName):
                        names.setdefault(spec.name.strip().lower(), pair.where)
            if count == 0:
                raise InputValidationError(f"inputs is empty ({source.describe()}): nothing to archive")
        except InputValidationError as err:
            self._refuse(err)
        if not names:
            return {}, None
        try:
            labels = hook.list_labels(from_type, to_type)
        except HubSpotError as err:
            if err.fatal:
                raise AirflowFailException(f"could not list labels: {err}") from err
            raise AirflowException(f"could not list labels: {err}") from err
        try:
            return resolve_names(names, labels, from_type, to_type), labels
        except InputValidationError as err:
            self._refuse(err)

    def _load(
        self,
        store: PairStore,
        source: PairSource,
        resolved: dict[str, AssociationType],
        labels: list[AssociationLabel] | None,
        from_type: str,
        to_type: str,
    ) -> None:
        """Second pass: spill every pair to SQLite; warn about inputs naming an unlabeled type."""
        from airflow_provider_hubassoc.operators.labels import substitute, unlabeled_type_ids

        unlabeled = unlabeled_type_ids(from_type, to_type, labels) if self.with_labels else set()
        seen: Counter[int] = Counter()
        first_where: dict[int, str] = {}

        def rows() -> Iterator[tuple[str, str, tuple[AssociationType, ...]]]:
            for pair in source:
                types = substitute(pair.types, resolved)
                for t in types:
                    if t.category.value == "HUBSPOT_DEFINED" and t.type_id in unlabeled:
                        seen[t.type_id] += 1
                        first_where.setdefault(t.type_id, pair.where)
                yield pair.from_id, pair.to_id, types

        try:
            store.add(rows())
        except InputValidationError as err:  # a file changed between the two passes
            self._refuse(err)
        for type_id, n in seen.items():
            self.log.warning(
                "%d inputs (first: %s) name HUBSPOT_DEFINED type %d, the unlabeled association between "
                "%s and %s: HubSpot then removes every label of those pairs, not just this one",
                n,
                first_where[type_id],
                type_id,
                from_type,
                to_type,
            )

    def _run(
        self,
        context: Context,
        hook: HubSpotHook,
        store: PairStore,
        summary: Any,
        from_type: str,
        to_type: str,
    ) -> dict[str, Any]:
        from airflow_provider_hubassoc.client.errors import HubSpotError
        from airflow_provider_hubassoc.operators.chunking import iter_chunks
        from airflow_provider_hubassoc.operators.report import (
            CHECKPOINT_CATEGORY,
            ReportWriter,
            SummaryBuilder,
            read_checkpoint,
        )
        from airflow_provider_hubassoc.operators.runner import (
            ChunkOutcome,
            PairResult,
            Progress,
            run_chunks,
            skipped,
        )

        header = {
            "kind": "header",
            "operation": self.operation,
            "fromObjectType": from_type,
            "toObjectType": to_type,
            "apiVersion": summary.api_version,
            "startedAt": summary.started_at,
            "dryRun": bool(self.is_dry_run),
        }
        checkpoint: set[str] = set()
        if self.report_path and not self.is_dry_run:
            checkpoint = read_checkpoint(self.report_path, header)
            if checkpoint:
                self.log.info("checkpoint %s: %d chunks already done", self.report_path, len(checkpoint))
        writer = ReportWriter(self.report_path) if self.report_path else None
        builder = SummaryBuilder(summary)
        if writer:
            writer.write(header)
        handle = self._handler(builder, writer)

        def todo() -> Iterator[Chunk]:
            for chunk in iter_chunks(store.iter_pairs(), self.batch_size):
                if chunk.digest in checkpoint:
                    results = [
                        PairResult(p, "skipped", CHECKPOINT_CATEGORY, "archived by an earlier run")
                        for p in chunk.pairs
                    ]
                    handle(ChunkOutcome(chunk, results, sent=False, checkpoint=True))
                    continue
                yield chunk

        chunks = todo()
        progress = Progress(
            summary.totals.requested,
            verb="checked" if self.is_dry_run else "archived",
            interval=self.progress_interval,
        )
        stop = run_chunks(
            chunks,
            self._work(hook, from_type, to_type),
            handle,
            max_concurrency=self.max_concurrency,
            progress=progress,
        )
        if stop is not None:
            for chunk in chunks:
                handle(skipped(chunk, f"not attempted: the run stopped on {type(stop).__name__}"))
        summary.completed_at = _now()
        value = builder.finish()
        if writer:
            writer.write({"kind": "summary", **value})
            writer.close(finished=stop is None)
        totals = summary.totals
        assert totals.done + totals.failed + totals.skipped == totals.requested, totals
        self.log.info(
            "requested %d: done %d, failed %d, skipped %d (duplicates dropped %d)%s",
            totals.requested,
            totals.done,
            totals.failed,
            totals.skipped,
            totals.duplicates,
            f"; would remove {totals.would_remove}, absent {totals.absent}" if self.is_dry_run else "",
        )
        if stop is not None:
            self._push_summary(context, value)
            if isinstance(stop, HubSpotError) and stop.fatal:
                raise AirflowFailException(
                    f"HubSpot refused to go on ({type(stop).__name__}): {stop}; done {totals.done}, "
                    f"failed {totals.failed}, skipped {totals.skipped} of {totals.requested} pairs"
                ) from stop
            raise stop
        self._decide(context, value, totals)
        return value

    def _handler(
        self, builder: SummaryBuilder, writer: ReportWriter | None
    ) -> Callable[[ChunkOutcome], None]:
        def handle(outcome: ChunkOutcome) -> None:
            chunk = outcome.chunk
            for r in outcome.results:
                builder.record(r.pair, r.status, r.category, r.message)
                if writer:
                    writer.pair(r.pair, r.status, chunk.index, r.category, r.message)
            if outcome.sent:
                builder.batch(outcome.batch_status)
            if writer:
                writer.chunk(
                    chunk,
                    outcome.status,
                    outcome.http_status,
                    outcome.batch_status,
                    checkpoint=outcome.checkpoint,
                )

        return handle

    def _work(self, hook: HubSpotHook, from_type: str, to_type: str) -> Callable[[Chunk], ChunkOutcome]:
        from airflow_provider_hubassoc.operators.runner import attribute, guarded, read_back

        if self.is_dry_run:
            return guarded(
                lambda chunk: read_back(chunk, hook.read_associations(from_type, to_type, chunk.from_ids()))
            )
        return guarded(lambda chunk: attribute(chunk, self.send(hook, chunk, from_type, to_type)))

    def _push_summary(self, context: Context, value: dict[str, Any]) -> None:
        """On failure there is no return value: keep the summary reachable under key 'summary'."""
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is not None:
            try:
                ti.xcom_push(key="summary", value=value)
            except Exception:  # never hide the real failure behind an XCom problem
                self.log.warning("could not push the summary XCom", exc_info=True)

    def _decide(self, context: Context, value: dict[str, Any], totals: Any) -> None:
        from airflow_provider_hubassoc.models.summary import ArchiveSummary

        breach = ArchiveSummary.from_xcom(value).error_policy_breach()
        if breach is None:
            if totals.failed:
                self.log.warning(
                    "%d of %d pairs failed, within on_error=%s",
                    totals.failed,
                    totals.requested,
                    self.on_error,
                )
            return
        self._push_summary(context, value)
        sample = "; ".join(f"{f['fromId']}->{f['toId']}: {f['message']}" for f in value["failedSample"][:3])
        raise AirflowException(
            f"{breach}; errors by category {value['errorsByCategory']}; e.g. {sample}"
            + (f"; full report: {self.report_path}" if self.report_path else "")
        )
