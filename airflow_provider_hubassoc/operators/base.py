"""Shared base of the two archive operators: check, load, send, record, decide.

Everything that can be refused is refused before the first archive request: the object types,
the report path (its lock and checkpoint), the connection, and the whole input (streamed once into
the pair store, label names resolved). Then chunks are sent, each pair's honest outcome recorded
(see models/summary.py), and the task state decided at the end by `on_error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hubassoc.batch.labels import LabelCatalog
    from airflow_provider_hubassoc.batch.outcomes import ChunkOutcome
    from airflow_provider_hubassoc.batch.report import ReportFile
    from airflow_provider_hubassoc.batch.sender import StopSignal
    from airflow_provider_hubassoc.batch.store import Chunk, PairStore
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.models.responses import BatchResult
    from airflow_provider_hubassoc.models.summary import OnError, Operation

ON_ERROR_CHOICES = ("fail", "threshold", "ignore")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _positive_int(name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if optional else ''}, got {value!r}")


class BaseHubSpotArchiveOperator(BaseOperator):
    """Common arguments and the run; subclasses say which endpoint and whether inputs hold labels.

    :param read_back: read the `accepted` pairs back at the end of the run (HubSpot's batch read,
        the sensor's presence rule), so they end `confirmed`, or `failed` if still present after
        `read_back_timeout` seconds. Without it, a v4 run (204, no body) ends with every sent pair
        `accepted`: sent and answered, but not proven.
    :param resume: let the checkpoint of another run's report (same operation and object types)
        skip chunks. Without it only a retry of the same task of the same DAG run skips work.
    :param max_consecutive_failed_chunks: stop after this many chunks in a row failed whole
        (HubSpot down, wrong port), whatever `on_error` says; None never stops on it.
    :param snapshot: before each chunk is archived, record in the report what its pairs have
        (each type's category, type id and label; for label archive only the requested labels
        that exist), so `HubSpotRestoreAssociationsOperator` can undo the run. Needs `report_path`.
    """

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
    progress_verb: ClassVar[str] = "archived"  # progress lines: "archived 500/1000 pairs ..."

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
        read_back: bool = False,
        read_back_timeout: float = 60.0,
        resume: bool = False,
        max_consecutive_failed_chunks: int | None = 5,
        snapshot: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if snapshot and not report_path:
            raise ValueError("snapshot=True needs report_path: the snapshot is written to the report")
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error {on_error!r} is not one of {', '.join(ON_ERROR_CHOICES)}")
        if on_error == "threshold" and (max_error_ratio is None or not 0.0 <= max_error_ratio <= 1.0):
            raise ValueError("on_error='threshold' needs max_error_ratio between 0 and 1")
        _positive_int("batch_size", batch_size)
        _positive_int("max_concurrency", max_concurrency)
        _positive_int("max_consecutive_failed_chunks", max_consecutive_failed_chunks, optional=True)
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
        # Range-checked once, by the hook's governor: mapped tasks each take a share of the limit.
        self.rate_limit_share = rate_limit_share
        self.read_back = bool(read_back)
        self.read_back_timeout = read_back_timeout
        self.resume = bool(resume)
        self.max_consecutive_failed_chunks = max_consecutive_failed_chunks
        self.snapshot = bool(snapshot)
        self._stop: StopSignal | None = None

    # -- what a subclass says -------------------------------------------------------------------
    def send(self, client: HubSpotClient, chunk: Chunk, from_type: str, to_type: str) -> BatchResult:
        """Send one chunk's archive request."""
        raise NotImplementedError

    def check(self, client: HubSpotClient, chunk: Chunk, from_type: str, to_type: str) -> ChunkOutcome:
        """Dry run: what sending the chunk would do, from a batch read (never a write)."""
        from airflow_provider_hubassoc.batch.outcomes import read_back_outcome
        from airflow_provider_hubassoc.batch.readback import find_still_present

        found = find_still_present(client, from_type, to_type, chunk.pairs)
        return read_back_outcome(chunk, set(found.still_present))

    # -- Airflow entry points -------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hubassoc.batch.sender import ArchiveRun, StopSignal
        from airflow_provider_hubassoc.batch.store import PairStore

        started = now_iso()
        from_type, to_type = self._object_types()
        self._check_dry_run_report()
        client = self._client()
        self._stop = StopSignal()
        report = self._open_report(context, from_type, to_type, client, started)
        try:
            with PairStore() as store:
                digest = self._load(store, client, from_type, to_type)
                self._record_inputs(report, digest)
                run = ArchiveRun(self, client, store, report, self._stop, from_type, to_type, started)
                value = run.run()
        finally:
            if report is not None:
                report.release()
        self._decide(context, run, value)
        return value

    def on_kill(self) -> None:
        """SIGTERM (task marked failed, worker restart) or a timeout: send nothing more; the
        requests in flight finish and are recorded, and the summary is written."""
        if self._stop is not None:
            self._stop.set("the task was killed (on_kill)")
            self.log.warning("on_kill: no more archive requests are sent; recording the ones in flight")

    # -- before any request ---------------------------------------------------------------------
    def _refuse(self, err: Exception) -> NoReturn:
        raise AirflowFailException(f"invalid input, nothing was sent to HubSpot: {err}") from err

    def _object_types(self) -> tuple[str, str]:
        from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_object_type

        try:
            return (
                parse_object_type(self.from_object_type, field="from_object_type"),
                parse_object_type(self.to_object_type, field="to_object_type"),
            )
        except InputValidationError as err:
            self._refuse(err)

    def _check_dry_run_report(self) -> None:
        """A dry run must not replace a real run's report: it is that run's checkpoint."""
        from airflow_provider_hubassoc.batch.report import holds_real_run

        if self.is_dry_run and self.report_path and holds_real_run(self.report_path):
            self._refuse(
                ValueError(
                    f"report_path {self.report_path!r} holds the report of a real run, which a re-run "
                    "uses as its checkpoint; give the dry run another report_path"
                )
            )

    def _client(self) -> HubSpotClient:
        from airflow_provider_hubassoc.client.errors import HubSpotError
        from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

        try:
            hook = HubSpotHook(
                self.hubspot_conn_id, api_version=self.api_version, rate_limit_share=self.rate_limit_share
            )
            client = hook.get_conn()
        except HubSpotError as err:
            # A misconfigured connection fails for good; a store that did not answer may next time.
            error = AirflowFailException if err.fatal else AirflowException
            raise error(f"HubSpot connection {self.hubspot_conn_id!r} is unusable: {err}") from err
        if self.batch_size > client.max_batch_size:
            raise AirflowFailException(
                f"batch_size {self.batch_size} exceeds the connection's maximum of {client.max_batch_size} "
                "inputs per request (extra max_batch_size)"
            )
        return client

    def _open_report(
        self, context: Context, from_type: str, to_type: str, client: HubSpotClient, started: str
    ) -> ReportFile | None:
        """Lock the report, read this run's checkpoint and set other runs' reports aside."""
        from airflow_provider_hubassoc.batch.report import KIND_HEADER, ReportError, ReportFile, RunIdentity

        if self.snapshot and not self.report_path:  # e.g. a template that rendered empty
            self._refuse(ValueError("snapshot=True needs report_path: the snapshot is written to the report"))
        if not self.report_path:
            return None
        header = {
            "kind": KIND_HEADER,
            "operation": self.operation,
            "fromObjectType": from_type,
            "toObjectType": to_type,
            "apiVersion": str(getattr(client.api_version, "value", client.api_version)),
            "startedAt": started,
            "dryRun": self.is_dry_run,
        }
        identity = RunIdentity.from_context(context)
        report = ReportFile(self.report_path, header, identity=identity, resume=self.resume)
        try:
            report.open()
        except ReportError as err:
            raise AirflowFailException(str(err)) from err
        if report.checkpoint:
            self.log.info(
                "checkpoint %s: %d chunks done by an earlier attempt of %s are skipped",
                self.report_path,
                len(report.checkpoint),
                identity.describe() if identity and not self.resume else "this work (resume=True)",
            )
        return report

    def _record_inputs(self, report: ReportFile | None, digest: str) -> None:
        """A retry's checkpoint applies only to the pairs it was made from (a query may change)."""
        from airflow_provider_hubassoc.batch.report import ReportError

        if report is None:
            return
        try:
            report.record_inputs(digest)
        except ReportError as err:
            raise AirflowFailException(str(err)) from err

    def _load(self, store: PairStore, client: HubSpotClient, from_type: str, to_type: str) -> str:
        """Stream the whole input into the store (label names resolved): nothing is sent before.
        Returns the digest of the loaded pairs."""
        from airflow_provider_hubassoc.batch.inputs import load_pairs
        from airflow_provider_hubassoc.batch.labels import LabelCatalog
        from airflow_provider_hubassoc.client.errors import HubSpotError
        from airflow_provider_hubassoc.models.identifiers import InputValidationError

        def catalog() -> LabelCatalog:
            return LabelCatalog(from_type, to_type, client.list_labels(from_type, to_type))

        try:
            loaded = load_pairs(self.inputs, store, labels=catalog if self.with_labels else None)
        except InputValidationError as err:
            self._refuse(err)
        except HubSpotError as err:
            if err.fatal:
                raise AirflowFailException(f"could not list labels: {err}") from err
            raise AirflowException(f"could not list labels: {err}") from err
        for warning in loaded.warnings:
            self.log.warning("%s", warning)
        self.log.info(
            "inputs: %s, validated; %d unique pairs to %s (%d duplicate rows dropped), batch_size %d, "
            "max_concurrency %d",
            loaded.description,
            loaded.requested,
            "check (dry run)" if self.is_dry_run else "archive",
            loaded.duplicates,
            self.batch_size,
            self.max_concurrency,
        )
        return loaded.digest

    # -- after the run --------------------------------------------------------------------------
    def _push_summary(self, context: Context, value: dict[str, Any]) -> None:
        """On failure there is no return value: keep the summary reachable under key 'summary'."""
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is not None:
            try:
                ti.xcom_push(key="summary", value=value)
            except Exception:  # never hide the real failure behind an XCom problem
                self.log.warning("could not push the summary XCom", exc_info=True)

    def _decide(self, context: Context, run: Any, value: dict[str, Any]) -> None:
        """Fail the task when the run stopped early or the failures break `on_error`."""
        failure = run.failure(value)
        if failure is None:
            return
        self._push_summary(context, value)
        raise failure
