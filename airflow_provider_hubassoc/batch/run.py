"""One run of one operation, start to end: report -> load -> chunks -> send -> outcomes -> report ->
summary. The operators call `execute` with a `RunSettings` and an `Operation`; nothing here knows
about Airflow, so every rule is tested without it.

Everything that can be refused is refused before the first write: the report path (its lock and
checkpoint), the batch size, and the whole input (streamed once into the pair store, label names
resolved). Then chunks are sent, each pair's honest outcome recorded (models/summary.py), and the
failure to raise, if any, decided at the end by `on_error`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_hubassoc.batch.outcomes import (
    ChunkOutcome,
    done_earlier,
    not_sent,
    outcome_of_reply,
    read_back_verdict,
)
from airflow_provider_hubassoc.batch.readback import find_still_present
from airflow_provider_hubassoc.batch.report import (
    DONE_EARLIER_CATEGORY,
    KIND_HEADER,
    ReportError,
    ReportFile,
    SummaryBuilder,
    bounded_xcom,
    holds_real_run,
)
from airflow_provider_hubassoc.batch.sender import ChunkRunner, CircuitBreaker, Progress, StopSignal
from airflow_provider_hubassoc.batch.snapshot import Snapshotter
from airflow_provider_hubassoc.batch.store import Chunk, PairStore
from airflow_provider_hubassoc.client.errors import HubSpotError
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from airflow_provider_hubassoc.models.summary import ArchiveSummary, OperationName, Totals

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.inputs import LoadReport
    from airflow_provider_hubassoc.batch.operations import Operation
    from airflow_provider_hubassoc.batch.settings import RunSettings, Target
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.models.associations import Pair
    from airflow_provider_hubassoc.models.responses import AssociationReadResult

log = logging.getLogger(__name__)

READ_BACK_POLL_S = 5.0  # between the end-of-run read-back's passes
# Fills the store with the run's pairs (the input edge, or a restore plan); raises
# InputValidationError naming the input, or the client's typed errors (label listing).
Loader = Callable[[PairStore], "LoadReport"]
# What a group of from ids holds now, for the snapshot (default: a batch read).
HeldReader = Callable[[list[str]], "AssociationReadResult"]


class RunFailure(Exception):
    """The run must fail the task. `fatal`: retrying cannot help (bad input, refused credentials)."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def refused(err: BaseException) -> RunFailure:
    """Refused before any write: the input (or its report) is wrong, and stays wrong on retry."""
    failure = RunFailure(f"invalid input, nothing was sent to HubSpot: {err}", fatal=True)
    failure.__cause__ = err
    return failure


@dataclass
class RunResult:
    """The XCom summary, and what the task must raise after pushing it (None: it succeeded)."""

    summary: dict[str, Any]
    failure: BaseException | None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Phase:
    """One operation over the pairs `load` puts in its store. A run is one phase or more (a sync:
    creates, then label removals, then removals), all recorded in one report."""

    operation: Operation
    load: Loader
    # Its own name, when two phases of a run share an operation (default: the operation's).
    label: str | None = None
    # Where its snapshot reads what the pairs hold (default: a batch read just before sending). A
    # sync read its whole scope before its first write, so its phases record from that read.
    read_held: HeldReader | None = None
    # Decides each chunk's outcome without sending anything (a sync's dry run from its plan, or
    # the pairs of records it could not read). Its pairs are never snapshotted.
    decide: Callable[[Chunk], ChunkOutcome] | None = None

    @property
    def name(self) -> str:
        return self.label or self.operation.name


def execute(
    settings: RunSettings,
    operation: Operation,
    target: Target,
    load: Loader,
    *,
    stop: StopSignal,
    header: dict[str, Any] | None = None,
) -> RunResult:
    """Run `operation` over what `load` puts in the store: a run of one phase."""
    return execute_phases(settings, [Phase(operation, load)], target, stop=stop, header=header)


def execute_phases(
    settings: RunSettings,
    phases: Sequence[Phase],
    target: Target,
    *,
    stop: StopSignal,
    header: dict[str, Any] | None = None,
    kind: OperationName | None = None,
) -> RunResult:
    """Run each phase in turn into one report. Raises `RunFailure` for anything refused before the
    first write; afterwards every pair of every phase is accounted for in the returned summary
    (after a stop, a later phase's pairs are recorded as not attempted). `kind` names a run of
    several phases in its header and summary."""
    started = now_iso()
    kind = kind or phases[0].operation.name
    _check_batch_size(settings, target.client)
    _check_dry_run_report(settings)
    report = open_report(settings, kind, target, started, header or {})
    try:
        runs = _run_phases(settings, phases, target, report, stop, started)
        return _result(kind, phases, runs, report)
    finally:
        if report is not None:
            report.release()


PhaseRun = tuple["BatchRun", dict[str, Any]]


def _run_phases(
    settings: RunSettings,
    phases: Sequence[Phase],
    target: Target,
    report: ReportFile | None,
    stop: StopSignal,
    started: str,
) -> list[PhaseRun]:
    runs: list[PhaseRun] = []
    for phase in phases:
        runs.append(_run_phase(settings, phase, target, report, stop, started, several=len(phases) > 1))
        if runs[-1][0].interrupted is not None:
            break  # a timeout or SIGINT on this thread: the task is ending now
    return runs


def _result(
    kind: OperationName, phases: Sequence[Phase], runs: list[PhaseRun], report: ReportFile | None
) -> RunResult:
    """The summary (one phase's, or all of them added up), its report line, and the failure."""
    names = [phase.name for phase in phases]
    value = runs[0][1] if len(phases) == 1 else combined_summary(kind, [v for _, v in runs], names)
    value["operation"] = kind  # a sync that needed one phase is still a sync
    if report is not None:
        report.finish(value, complete=not any(run.stopped_early for run, _ in runs))
    failure = next((f for f in (run.failure(v) for run, v in runs) if f is not None), None)
    return RunResult(value, failure)


def _run_phase(
    settings: RunSettings,
    phase: Phase,
    target: Target,
    report: ReportFile | None,
    stop: StopSignal,
    started: str,
    *,
    several: bool,
) -> tuple[BatchRun, dict[str, Any]]:
    with PairStore() as store:
        digest = _load(settings, phase.operation, store, phase.load)
        name = phase.name if several else None
        if report is not None:
            _record_inputs(report, digest, name)
        run = BatchRun(
            settings,
            phase.operation,
            target,
            store,
            report,
            stop,
            started,
            phase=name,
            read_held=phase.read_held,
            decide=phase.decide,
        )
        return run, run.run()


def combined_summary(
    kind: OperationName, values: Sequence[dict[str, Any]], names: Sequence[str] | None = None
) -> dict[str, Any]:
    """One summary for a run of several phases: totals added up, each phase's totals kept (under
    `names`, default each phase's operation)."""
    parts = [ArchiveSummary.from_xcom(v) for v in values]
    first = parts[0]
    summary = first.model_copy(deep=True, update={"operation": kind})
    summary.totals = Totals()
    summary.phases = {}
    summary.batches, summary.batch_statuses, summary.errors_by_category = 0, {}, {}
    summary.failed_sample, summary.verify_sample = [], []
    for n, part in enumerate(parts):
        name = names[n] if names is not None else part.operation
        summary.phases[name] = part.totals.model_dump(by_alias=True)
        for name in Totals.model_fields:
            setattr(summary.totals, name, getattr(summary.totals, name) + getattr(part.totals, name))
        summary.batches += part.batches
        _add_counts(summary.batch_statuses, part.batch_statuses)
        _add_counts(summary.errors_by_category, part.errors_by_category)
        summary.failed_sample += part.failed_sample
        summary.verify_sample += part.verify_sample
        summary.stopped_by = summary.stopped_by or part.stopped_by
        summary.completed_at = part.completed_at
    return bounded_xcom(summary)


def _add_counts(into: dict[str, int], more: dict[str, int]) -> None:
    for key, count in more.items():
        into[key] = into.get(key, 0) + count


# -- before any write -------------------------------------------------------------------------------


def _check_batch_size(settings: RunSettings, client: HubSpotClient) -> None:
    if settings.batch_size > client.max_batch_size:
        raise RunFailure(
            f"batch_size {settings.batch_size} exceeds the connection's maximum of {client.max_batch_size} "
            "inputs per request (extra max_batch_size)",
            fatal=True,
        )


def _check_dry_run_report(settings: RunSettings) -> None:
    """A dry run must not replace a real run's report: it is that run's checkpoint."""
    if settings.dry_run and settings.report_path and holds_real_run(settings.report_path):
        raise refused(
            ValueError(
                f"report_path {settings.report_path!r} holds the report of a real run, which a re-run "
                "uses as its checkpoint; give the dry run another report_path"
            )
        )


def open_report(
    settings: RunSettings, kind: str, target: Target, started: str, extra: dict[str, Any]
) -> ReportFile | None:
    """Lock the report, read this run's checkpoint and set other runs' reports aside."""
    if settings.snapshot and not settings.report_path:  # e.g. a template that rendered empty
        raise refused(ValueError("snapshot=True needs report_path: the snapshot is written to the report"))
    if not settings.report_path:
        return None
    header = {
        "kind": KIND_HEADER,
        "operation": kind,
        "fromObjectType": target.from_type,
        "toObjectType": target.to_type,
        "apiVersion": target.api_version,
        "startedAt": started,
        "dryRun": settings.dry_run,
        "connId": settings.hubspot_conn_id,
        **extra,
    }
    report = ReportFile(settings.report_path, header, identity=settings.identity, resume=settings.resume)
    try:
        report.open()
    except ReportError as err:
        raise RunFailure(str(err), fatal=True) from err
    if report.checkpoint:
        whose = settings.identity.describe() if settings.identity and not settings.resume else None
        log.info(
            "checkpoint %s: %d chunks done by an earlier attempt of %s are skipped",
            settings.report_path,
            len(report.checkpoint),
            whose or "this work (resume=True)",
        )
    return report


def _record_inputs(report: ReportFile, digest: str, phase: str | None) -> None:
    """A retry's checkpoint applies only to the pairs it was made from (a query may change)."""
    try:
        report.record_inputs(digest, phase)
    except ReportError as err:
        raise RunFailure(str(err), fatal=True) from err


def _load(settings: RunSettings, operation: Operation, store: PairStore, load: Loader) -> str:
    """Stream the whole input into the store: nothing is sent before. Returns its digest."""
    try:
        loaded = load(store)
    except InputValidationError as err:
        raise refused(err) from err
    except HubSpotError as err:
        raise RunFailure(f"could not list labels: {err}", fatal=err.fatal) from err
    for warning in loaded.warnings:
        log.warning("%s", warning)
    if not loaded.requested:
        log.info("inputs: %s is empty: nothing to send (fail_on_empty=True refuses it)", loaded.description)
    intent = "check (dry run)" if settings.dry_run else operation.intent
    log.info(
        "inputs: %s, validated; %d unique pairs %s (%d duplicate rows dropped), batch_size %d, "
        "max_concurrency %d",
        loaded.description,
        loaded.requested,
        intent,
        loaded.duplicates,
        settings.batch_size,
        settings.max_concurrency,
    )
    return loaded.digest


# -- the run ------------------------------------------------------------------------------------------


class BatchRun:
    """One run over its loaded pair store.

    With `read_back` and a report, the pair lines of `accepted` pairs wait for the final read-back
    (each pair gets exactly one line); their chunk lines are written at once, so a crash before
    the read-back still keeps the checkpoint.
    """

    def __init__(
        self,
        settings: RunSettings,
        operation: Operation,
        target: Target,
        store: PairStore,
        report: ReportFile | None,
        stop: StopSignal,
        started: str,
        *,
        phase: str | None = None,
        read_held: HeldReader | None = None,
        decide: Callable[[Chunk], ChunkOutcome] | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings, self.operation, self.target = settings, operation, target
        self.phase = phase  # named in the checkpoint of a run of several phases
        self.read_held, self.decide = read_held, decide
        self.store, self.report, self.stop = store, report, stop
        self.clock = clock or time.monotonic  # looked up now: tests replace this module's `time`
        self.sleep = sleep or time.sleep
        self.summary = _new_summary(settings, operation, target, started)
        self.summary.totals.requested = store.pair_count
        self.summary.totals.duplicates = store.duplicates
        self.builder = SummaryBuilder(self.summary)
        verb = "checked" if settings.dry_run else operation.progress_verb
        self.progress = Progress(
            store.pair_count, verb=verb, interval=settings.progress_interval, clock=self.clock
        )
        self.breaker = CircuitBreaker(
            store.pair_count,
            on_error=settings.on_error,
            max_error_ratio=settings.max_error_ratio,
            max_failed_in_a_row=settings.max_consecutive_failed_chunks,
        )
        self.defer_accepted = settings.read_back and not settings.dry_run
        self.accepted_chunks: dict[int, frozenset[int]] = {}  # chunk index -> positions not accepted
        self.interrupted: BaseException | None = None

    def run(self) -> dict[str, Any]:
        """Send, record, read back; always write the summary. Returns the XCom summary."""
        chunks = self._snapshotted(self._chunks_to_send())
        try:
            runner = ChunkRunner(
                self._send,
                self._record,
                stop=self.stop,
                max_concurrency=self.settings.max_concurrency,
                judge=self.breaker.observe,
            )
            runner.run(chunks)
            self._account_unsent(chunks)
            self._finish_accepted()
        except BaseException as err:  # a timeout, SIGINT: account for everything, then re-raise
            self.interrupted = err
            self.stop.set(f"{type(err).__name__} on the task's thread", err)
            self._account_unsent(chunks)
            self._write_accepted(None)
        return self._finish()

    def _chunks_to_send(self) -> Iterator[Chunk]:
        """Every chunk; those done by an earlier attempt of this run are recorded, not yielded."""
        checkpoint = self.report.checkpoint if self.report is not None else set()
        for chunk in self._chunks():
            if chunk.digest in checkpoint:
                self._record(done_earlier(chunk, DONE_EARLIER_CATEGORY))
            else:
                yield chunk

    def _snapshotted(self, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        """With `snapshot`, each chunk comes only once what its pairs have is on disk."""
        if not self.settings.snapshot or self.settings.dry_run or self.report is None or self.decide:
            return chunks
        snapshotter = Snapshotter(self.target, self.operation, self.report, self.stop, read=self.read_held)
        return snapshotter.ahead(chunks)

    def _send(self, chunk: Chunk) -> ChunkOutcome:
        target = self.target
        if self.decide is not None:
            return self.decide(chunk)
        if self.settings.dry_run:
            return self.operation.check(target.client, target.from_type, target.to_type, chunk)
        reply = self.operation.send(target.client, target.from_type, target.to_type, chunk.pairs)
        return outcome_of_reply(chunk, reply)

    def _account_unsent(self, chunks: Iterator[Chunk]) -> None:
        for chunk in chunks:
            self._record(not_sent(chunk, f"not attempted: {self.stop.reason}"))

    # -- recording ----------------------------------------------------------------------------------
    def _record(self, outcome: ChunkOutcome) -> None:
        deferred = self._defers(outcome)
        for position, (pair, verdict) in enumerate(outcome.pairs()):
            self.builder.record(pair, verdict.status, verdict.category, verdict.message)
            if self.report is not None and position not in deferred:
                self.report.pair(pair, verdict, outcome.chunk.index, self.operation.name)
        if outcome.sent:
            self.builder.batch(outcome.batch_status)
        self._write_chunk_line(outcome)
        self.progress.add(outcome)
        self._check_stop()

    def _defers(self, outcome: ChunkOutcome) -> set[int]:
        """Positions of accepted pairs whose line waits for the read-back (none without one)."""
        if not self.defer_accepted:
            return set()
        accepted = {i for i, v in enumerate(outcome.verdicts) if v.status == "accepted"}
        if accepted:
            others = frozenset(range(len(outcome.verdicts))) - accepted
            self.accepted_chunks[outcome.chunk.index] = others
        return accepted

    def _write_chunk_line(self, outcome: ChunkOutcome) -> None:
        if self.report is None:
            return
        line: dict[str, Any] = {
            "chunk": outcome.chunk.index,
            "digest": outcome.chunk.digest,
            "status": outcome.status,
            "httpStatus": outcome.http_status,
            "batchStatus": outcome.batch_status,
        }
        if outcome.done_earlier:
            line["doneEarlier"] = True
        self.report.chunk(line)

    def _check_stop(self) -> None:
        if self.report is not None and self.report.write_error is not None:
            self.stop.set("the report could not be written", self.report.write_error)

    # -- the final read-back --------------------------------------------------------------------------
    def _finish_accepted(self) -> None:
        """Read the accepted pairs back (bounded by read_back_timeout), then write their lines."""
        if not self.accepted_chunks:
            return
        if self.stop.is_set():
            self._write_accepted(None)
            return
        try:
            present, unknown = self._still_present_after_waiting()
        except HubSpotError as err:
            log.warning("read-back after the run failed (%s): the accepted pairs stay accepted", err)
            present, unknown = None, {}
        self._write_accepted(present, unknown)

    def _still_present_after_waiting(self) -> tuple[set[Pair], dict[Pair, str]]:
        """Pairs still there when the read-back's time is up, and those whose read kept failing
        (with the reason): HubSpot's reads lag its writes by a few seconds, so it polls."""
        target = self.target
        deadline = self.clock() + self.settings.read_back_timeout
        pending: Iterable[Pair] = (pair for _, pair in self._accepted_pairs())
        while True:
            found = find_still_present(target.client, target.from_type, target.to_type, pending)
            left = deadline - self.clock()
            if found.all_gone or left <= 0 or self.stop.is_set():
                return set(found.still_present), {u.pair: u.reason for u in found.unknown}
            self.sleep(min(READ_BACK_POLL_S, left))
            pending = found.still_present + [u.pair for u in found.unknown]

    def _chunks(self) -> Iterator[Chunk]:
        """The store's chunks; in a run of several phases each digest also names its phase, so a
        chunk done by one phase is never taken for another's."""
        for chunk in self.store.chunks(self.settings.batch_size):
            if self.phase is not None:
                chunk.phase = self.phase
            yield chunk

    def _accepted_pairs(self) -> Iterator[tuple[Chunk, Pair]]:
        for chunk in self._chunks():
            others = self.accepted_chunks.get(chunk.index)
            if others is not None:
                yield from ((chunk, p) for i, p in enumerate(chunk.pairs) if i not in others)

    def _write_accepted(
        self, still_present: set[Pair] | None, unknown: dict[Pair, str] | None = None
    ) -> None:
        """The deferred pair lines: confirmed / failed after a read-back, else still accepted.

        A chunk with a pair still present is no longer a checkpoint: a retry sends it again. A
        pair whose read failed stays accepted (its chunk stays a checkpoint: it was answered 2xx).
        """
        if not self.accepted_chunks:
            return
        revoked: dict[int, str] = {}
        for chunk, pair in self._accepted_pairs():
            verdict = read_back_verdict(pair, still_present, unknown)
            if verdict.status != "accepted":  # read back: now confirmed or failed
                self.builder.read_back(pair, verdict.status, verdict.category, verdict.message)
            if verdict.status == "failed":
                revoked[chunk.index] = chunk.digest
            if self.report is not None:
                self.report.pair(pair, verdict, chunk.index, self.operation.name)
        if self.report is not None:
            for index, digest in revoked.items():
                self.report.chunk({"chunk": index, "digest": digest, "status": "failed", "readBack": True})
        self.accepted_chunks.clear()

    # -- the end --------------------------------------------------------------------------------------
    def _finish(self) -> dict[str, Any]:
        self.summary.completed_at = now_iso()
        self.summary.stopped_by = self.stop.reason if self.stopped_early else None
        value = self.builder.finish()
        self.progress.finish()
        totals = self.summary.totals
        assert totals.accounted == totals.requested, totals
        log.info("%s", totals.describe())
        return value

    @property
    def stopped_early(self) -> bool:
        """Stopped with work left undone (a stop after the last chunk changes nothing)."""
        totals = self.summary.totals
        left = totals.skipped - totals.done_earlier - totals.dry_run_skipped
        return self.stop.is_set() and (left > 0 or self.stop.error is not None)

    def failure(self, value: dict[str, Any]) -> BaseException | None:
        """What the task must raise after this run, or None when it succeeded."""
        if self.interrupted is not None:
            return self.interrupted
        if self.report is not None and self.report.write_error is not None:
            return RunFailure(str(self.report.write_error))
        if self.stopped_early and self.stop.error is not None:
            return self._error_failure(self.stop.error)
        return self._policy_failure(value)

    def _policy_failure(self, value: dict[str, Any]) -> BaseException | None:
        """`on_error` judged on the totals (a run stopped early always fails)."""
        breach = ArchiveSummary.from_xcom(value).error_policy_breach()
        if self.stopped_early:
            return RunFailure("; ".join(filter(None, [breach, self._told()])))
        if breach is None:
            if self.summary.totals.failed:
                log.warning(
                    "%d pairs failed, within on_error=%s", self.summary.totals.failed, self.settings.on_error
                )
            return None
        sample = "; ".join(f"{f['fromId']}->{f['toId']}: {f['message']}" for f in value["failedSample"][:3])
        where = f"; full report: {self.settings.report_path}" if self.settings.report_path else ""
        return RunFailure(f"{breach}; errors by category {value['errorsByCategory']}; e.g. {sample}{where}")

    def _told(self) -> str:
        return f"stopped early: {self.stop.reason}; {self.summary.totals.describe()}"

    def _error_failure(self, error: BaseException) -> BaseException:
        if not isinstance(error, HubSpotError):
            return error  # a bug: raise it as it is
        failure = RunFailure(f"{self._told()}: {error}", fatal=error.fatal)
        failure.__cause__ = error
        return failure


def _new_summary(settings: RunSettings, operation: Operation, target: Target, started: str) -> ArchiveSummary:
    return ArchiveSummary(
        operation=operation.name,
        from_object_type=target.from_type,
        to_object_type=target.to_type,
        api_version=target.api_version,
        dry_run=settings.dry_run,
        on_error=settings.on_error,
        max_error_ratio=settings.max_error_ratio,
        read_back=settings.read_back,
        started_at=started,
        report_path=settings.report_path or None,
        hubspot_conn_id=settings.hubspot_conn_id,
    )
