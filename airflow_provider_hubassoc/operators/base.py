"""What every HubSpot write operator shares: the connection, the run settings, one call into the
engine (`batch/run.py`), and the summary pushed to XCom. Each operator says what it sends."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from airflow_provider_hubassoc.batch.settings import RunSettings

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hubassoc.batch.run import Phase
    from airflow_provider_hubassoc.batch.sender import StopSignal
    from airflow_provider_hubassoc.batch.settings import Target
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook
    from airflow_provider_hubassoc.models.summary import OnError, OperationName


class HubSpotBatchOperator(BaseOperator):
    """Common arguments of the operators that write associations in batches.

    :param hubspot_conn_id: the HubSpot connection (type `hubspot`).
    :param api_version: HubSpot's date version (`2026-03`...) or `v4`; default: the connection's.
    :param batch_size: pairs per request (at most the connection's `max_batch_size`).
    :param max_concurrency: requests in flight at once (all share the account's rate budget).
    :param on_error: `fail` (any failed pair fails the task), `threshold` (more than
        `max_error_ratio` of the pairs), or `ignore`.
    :param max_error_ratio: with `on_error="threshold"`, the share of failed pairs (0-1) the task
        tolerates; a run that can no longer stay under it stops early.
    :param dry_run: read, never write: the summary says what a real run would change.
    :param report_path: where this run's per-pair JSONL report is written (local path or object
        storage URI). It is the run's checkpoint: a retry skips what was done.
    :param progress_interval: seconds between progress lines.
    :param rate_limit_share: this task's share of the account's rate limit (0-1).
    :param max_consecutive_failed_chunks: stop after this many chunks in a row failed whole
        (HubSpot down, wrong port), whatever `on_error` says; None never stops on it.
    :param fail_on_empty: refuse an input that holds no pair; by default an empty input is a
        run with nothing to do (a nightly query that found nothing).
    """

    template_fields: Sequence[str] = ("hubspot_conn_id", "api_version", "report_path")
    template_ext: Sequence[str] = ()  # a string input is a file path, never a template file
    ui_color = "#ff7a59"

    def __init__(
        self,
        *,
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
        max_consecutive_failed_chunks: int | None = 5,
        fail_on_empty: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hubspot_conn_id = hubspot_conn_id
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
        self.max_consecutive_failed_chunks = max_consecutive_failed_chunks
        self.fail_on_empty = bool(fail_on_empty)
        self._stop: StopSignal | None = None
        self._client: HubSpotClient | None = None

    def settings(self, context: Context | None = None, **extra: Any) -> RunSettings:
        """The engine's settings from this operator's (rendered) arguments. Each operator builds
        them once at the end of `__init__`, so a bad argument fails the DAG at parse time."""
        from airflow_provider_hubassoc.batch.report import RunIdentity

        try:
            return RunSettings(
                batch_size=self.batch_size,
                max_concurrency=self.max_concurrency,
                on_error=self.on_error,
                max_error_ratio=self.max_error_ratio,
                dry_run=self.is_dry_run,
                report_path=self.report_path or None,
                progress_interval=self.progress_interval,
                max_consecutive_failed_chunks=self.max_consecutive_failed_chunks,
                fail_on_empty=self.fail_on_empty,
                hubspot_conn_id=self.hubspot_conn_id,
                identity=RunIdentity.from_context(context) if context is not None else None,
                **extra,
            )
        except ValueError as err:
            if context is None:
                raise  # in __init__: the DAG fails to parse, naming the argument
            self.refuse(err)  # a rendered template: bad input, before any request

    @cached_property
    def hook(self) -> HubSpotHook:
        from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

        return HubSpotHook(
            self.hubspot_conn_id, api_version=self.api_version, rate_limit_share=self.rate_limit_share
        )

    # -- the run ---------------------------------------------------------------------------------
    def run_engine(
        self,
        context: Context,
        settings: RunSettings,
        phases: Sequence[Phase],
        target: Target,
        header: dict[str, Any] | None = None,
        kind: OperationName | None = None,
    ) -> dict[str, Any]:
        """Run the engine's phases and decide the task: the summary is returned (XCom
        `return_value`), or pushed under key `summary` before the failure is raised."""
        from airflow_provider_hubassoc.batch.run import RunFailure, execute_phases

        try:
            stop = self._stop_signal()
            result = execute_phases(settings, phases, target, stop=stop, header=header, kind=kind)
        except RunFailure as err:
            raise _airflow_error(err) from err
        self._run_summary = result.summary  # for OpenLineage at completion (no XCom read in its fork)
        if result.failure is not None:
            self._push_summary(context, result.summary)
            failure = result.failure
            if not isinstance(failure, RunFailure):
                raise failure  # an interruption (timeout, SIGINT) or a bug: as it is
            raise _airflow_error(failure) from (failure.__cause__ or failure)
        return result.summary

    def client(self) -> HubSpotClient:
        """The connection's client; an unusable connection fails the task, naming it."""
        from airflow_provider_hubassoc.client.errors import HubSpotError

        try:
            self._client = self.hook.get_conn()
        except HubSpotError as err:
            # A misconfigured connection fails for good; a store that did not answer may next time.
            error = AirflowFailException if err.fatal else AirflowException
            raise error(f"HubSpot connection {self.hubspot_conn_id!r} is unusable: {err}") from err
        return self._client

    def target(self, from_object_type: str, to_object_type: str) -> Target:
        """The client and the checked object types (refused before any request)."""
        from airflow_provider_hubassoc.batch.settings import Target
        from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_object_type

        try:
            from_type = parse_object_type(from_object_type, field="from_object_type")
            to_type = parse_object_type(to_object_type, field="to_object_type")
        except InputValidationError as err:
            self.refuse(err)
        return Target(self.client(), from_type, to_type)

    def refuse(self, err: Exception) -> NoReturn:
        """Bad input: fail without Airflow retries, before any request."""
        raise AirflowFailException(f"invalid input, nothing was sent to HubSpot: {err}") from err

    def _stop_signal(self) -> StopSignal:
        from airflow_provider_hubassoc.batch.sender import StopSignal

        self._stop = StopSignal(on_set=self._interrupt_client)
        return self._stop

    def _interrupt_client(self, reason: str) -> None:
        interrupt = getattr(self._client, "interrupt", None)
        if interrupt is not None:  # waits for a rate slot end at once instead of sleeping on
            interrupt(reason)

    def on_kill(self) -> None:
        """SIGTERM (task marked failed, worker restart) or a timeout: send nothing more; the
        requests in flight finish and are recorded, and the summary is written."""
        if self._stop is not None:
            self._stop.set("the task was killed (on_kill)")
            self.log.warning("on_kill: no more requests are sent; recording the ones in flight")

    def _push_summary(self, context: Context, value: dict[str, Any]) -> None:
        """On failure there is no return value: keep the summary reachable under key 'summary'."""
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is not None:
            try:
                ti.xcom_push(key="summary", value=value)
            except Exception:  # never hide the real failure behind an XCom problem
                self.log.warning("could not push the summary XCom", exc_info=True)

    # -- OpenLineage (the optional `openlineage` extra; lineage.py) --------------------
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What the run read (`_lineage_inputs`), the associations it changed (namespace
        `hubspot://<portalId>`, name `associations/<from>/<to>`) and its totals (run facet
        `hubspotRun`). Called by the OpenLineage provider only; lineage never fails the task."""
        from airflow_provider_hubassoc.lineage import operator_lineage, run_account

        summary = self._lineage_summary(task_instance)
        # One request, on the run's own client when it has one; a dry run changed no account.
        account = (
            run_account(self._client, self.hook.get_conn) if summary and not summary.get("dryRun") else None
        )
        return operator_lineage(self._lineage_datasets(), summary, account)

    def _lineage_inputs(self) -> list[Any]:
        """The OpenLineage datasets this operator read its pairs from; each operator names its own."""
        return []

    def _lineage_datasets(self) -> list[Any]:
        try:
            return self._lineage_inputs()
        except Exception:  # a connection gone since the run, a query the parser cannot read
            self.log.warning("OpenLineage: could not name this run's input datasets", exc_info=True)
            return []

    def _lineage_summary(self, task_instance: Any) -> dict[str, Any] | None:
        """This run's summary, kept by `run_engine`: the OpenLineage provider calls us in a forked
        process, where an XCom read through Airflow 3's supervisor can hang."""
        summary = getattr(self, "_run_summary", None)
        return summary if isinstance(summary, dict) else None


def _airflow_error(err: Exception) -> BaseException:
    fatal = getattr(err, "fatal", False)
    return (AirflowFailException if fatal else AirflowException)(str(err))
