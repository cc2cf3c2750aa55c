"""One archive run: send chunks with bounded concurrency, record each outcome, stop early when
the run can only fail, read back what HubSpot only accepted, and write the summary.

At most `max_concurrency` requests are in flight (all through the one client, so all share its
rate governor) and only a few chunks are queued ahead, so a million pairs never sit in memory as
futures. Outcomes are recorded on the calling thread, in chunk order, which keeps the report
writer single-threaded. Anything that must end the run (a fatal typed error, the circuit breaker,
`on_kill`, a report that can no longer be written, a timeout or SIGINT on this thread) sets one
`StopSignal`: no request is sent after it; requests in flight finish and are recorded; every
other pair is recorded as skipped with the reason; the summary is written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from airflow_provider_hubassoc.batch.outcomes import (
    ChunkOutcome,
    not_sent,
    read_back_verdict,
    request_failed,
)
from airflow_provider_hubassoc.batch.store import Chunk
from airflow_provider_hubassoc.client.errors import HubSpotError
from airflow_provider_hubassoc.models.associations import Pair
from airflow_provider_hubassoc.models.summary import OnError

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.report import ReportFile
    from airflow_provider_hubassoc.batch.store import PairStore
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.operators.base import BaseHubSpotArchiveOperator

log = logging.getLogger(__name__)

READ_BACK_POLL_S = 5.0  # between the end-of-run read-back's passes


# -- stopping early ---------------------------------------------------------------------------


class StopSignal:
    """Set once, by whoever must end the run first; the first reason wins."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None
        self.error: BaseException | None = None

    def set(self, reason: str, error: BaseException | None = None) -> None:
        if not self._event.is_set():
            self.reason, self.error = reason, error
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


class CircuitBreaker:
    """Stops a run that can only fail: `threshold` already breached, or N requests in a row failed
    (no 2xx reply after the client's retries), whatever `on_error` says.

    HubSpot asks for under 5% error responses; sending the rest of a million pairs to a server
    that refuses every request helps nobody. Every input still ends in the report (skipped).
    """

    def __init__(
        self,
        requested: int,
        *,
        on_error: OnError,
        max_error_ratio: float | None,
        max_failed_in_a_row: int | None,
    ) -> None:
        self.allowed = int(requested * (max_error_ratio or 0.0)) if on_error == "threshold" else None
        self._lock = threading.Lock()  # judged on the sending threads, as soon as a reply is in
        self.max_in_a_row = max_failed_in_a_row
        self.failed = 0
        self.in_a_row = 0

    def observe(self, outcome: ChunkOutcome) -> str | None:
        """The reason to stop after this outcome, or None."""
        if not outcome.sent:
            return None
        with self._lock:
            return self._observe(outcome)

    def _observe(self, outcome: ChunkOutcome) -> str | None:
        self.failed += outcome.failed
        self.in_a_row = self.in_a_row + 1 if outcome.request_failed else 0
        if self.allowed is not None and self.failed > self.allowed:
            allowed = f"more than max_error_ratio allows ({self.allowed})"
            return f"{self.failed} pairs failed, {allowed}: stopped early"
        if self.max_in_a_row and self.in_a_row >= self.max_in_a_row:
            return f"{self.in_a_row} chunks in a row failed (max_consecutive_failed_chunks): stopped early"
        return None


# -- progress ---------------------------------------------------------------------------------


class Progress:
    """Logs accounted/total pairs, rate and ETA at most every `interval` seconds, then once at the end.

    Pairs done by an earlier attempt count as accounted (a complete re-run ends at 100%), but not
    in the rate, which is this attempt's own.
    """

    def __init__(
        self, total: int, *, verb: str, interval: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total, self.verb, self.interval, self.clock = total, verb, interval, clock
        self.processed = 0
        self.earlier = 0
        self.started = self._last = clock()

    def add(self, outcome: ChunkOutcome) -> None:
        if outcome.done_earlier:
            self.earlier += len(outcome.verdicts)
        else:
            self.processed += len(outcome.verdicts)
        now = self.clock()
        if now - self._last >= self.interval and self.processed + self.earlier < self.total:
            self._last = now
            log.info("%s", self.line())

    def finish(self) -> None:
        log.info("%s", self.line())

    def line(self) -> str:
        accounted = self.processed + self.earlier
        rate = self.processed / max(self.clock() - self.started, 1e-9)
        remaining = self.total - accounted
        eta = f"{remaining / rate:.0f}s" if rate > 0 else ("0s" if not remaining else "unknown")
        percent = 100.0 * accounted / self.total if self.total else 100.0
        earlier = f", {self.earlier} done earlier" if self.earlier else ""
        return (
            f"{self.verb} {accounted}/{self.total} pairs ({percent:.1f}%{earlier}), "
            f"{rate:.1f} pairs/s, ETA {eta}"
        )


# -- the loop ---------------------------------------------------------------------------------


class ChunkRunner:
    """Runs `send` over chunks with bounded concurrency; `record` gets each outcome on this thread.

    `send` returns an outcome for anything the run can go on after (a non-fatal typed error is a
    failed chunk). A fatal typed error, or any other exception, sets the stop signal from the
    worker at once, so no queued chunk is sent after it.
    """

    def __init__(
        self,
        send: Callable[[Chunk], ChunkOutcome],
        record: Callable[[ChunkOutcome], None],
        *,
        stop: StopSignal,
        max_concurrency: int,
        queue_ahead: int = 2,
        judge: Callable[[ChunkOutcome], str | None] | None = None,
    ) -> None:
        self.send, self.record, self.stop, self.judge = send, record, stop, judge
        self.workers = max(1, max_concurrency)
        self.limit = self.workers * max(1, queue_ahead)
        self.pending: dict[Future[ChunkOutcome], Chunk] = {}

    def run(self, chunks: Iterator[Chunk]) -> None:
        """Send until `chunks` is exhausted or the run stops; chunks left in `chunks` are the
        caller's to account for."""
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="hubassoc") as pool:
            try:
                self._submit(pool, chunks)
                while self.pending:
                    self._record_finished()
                    self._submit(pool, chunks)
            except BaseException as err:  # timeout, SIGINT, a report failure: stop, then account
                self.stop.set(f"{type(err).__name__} on the task's thread", err)
                raise
            finally:
                self._drain()

    def _submit(self, pool: ThreadPoolExecutor, chunks: Iterator[Chunk]) -> None:
        while not self.stop.is_set() and len(self.pending) < self.limit:
            chunk = next(chunks, None)
            if chunk is None:
                return
            self.pending[pool.submit(self._send_one, chunk)] = chunk

    def _send_one(self, chunk: Chunk) -> ChunkOutcome:
        if self.stop.is_set():  # queued before the stop, picked up after it: do not send
            return not_sent(chunk, f"not attempted: {self.stop.reason}")
        outcome = self._send_guarded(chunk)
        reason = self.judge(outcome) if self.judge is not None else None
        if reason is not None:  # before this thread picks up the next chunk
            self.stop.set(reason)
        return outcome

    def _send_guarded(self, chunk: Chunk) -> ChunkOutcome:
        try:
            return self.send(chunk)
        except HubSpotError as err:
            if not err.fatal:  # still failing after the client's retries: this chunk failed
                return request_failed(chunk, err)
            self.stop.set(_stop_reason(err), err)
            return request_failed(chunk, err)
        except BaseException as err:
            self.stop.set(_stop_reason(err), err)  # from the worker, before the next chunk starts
            return request_failed(chunk, err)

    def _record_finished(self) -> None:
        finished, _ = wait(list(self.pending), return_when=FIRST_COMPLETED)
        self._record_in_order(finished)

    def _drain(self) -> None:
        """After a stop: queued chunks are not sent; requests in flight finish and are recorded."""
        for future in self.pending:
            future.cancel()
        wait(list(self.pending))
        self._record_in_order(list(self.pending))

    def _record_in_order(self, futures: Iterable[Future[ChunkOutcome]]) -> None:
        for future in sorted(futures, key=lambda f: self.pending[f].index):
            chunk = self.pending.pop(future)
            if future.cancelled():
                outcome = not_sent(chunk, f"not attempted: {self.stop.reason}")
            else:
                outcome = future.result()
            self.record(outcome)


def _stop_reason(err: BaseException) -> str:
    if isinstance(err, HubSpotError):
        return f"HubSpot refused to go on ({type(err).__name__})"
    return f"an unexpected {type(err).__name__} while sending"


# -- one run ----------------------------------------------------------------------------------


class ArchiveRun:
    """One execution of an archive operator over its loaded pair store.

    With `read_back` and a report, the pair lines of `accepted` pairs wait for the final read-back
    (each pair gets exactly one line); their chunk lines are written at once, so a crash before
    the read-back still keeps the checkpoint.
    """

    def __init__(
        self,
        op: BaseHubSpotArchiveOperator,
        client: HubSpotClient,
        store: PairStore,
        report: ReportFile | None,
        stop: StopSignal,
        from_type: str,
        to_type: str,
        started: str,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        from airflow_provider_hubassoc.batch.report import SummaryBuilder
        from airflow_provider_hubassoc.models.summary import ArchiveSummary

        self.op, self.client, self.store, self.report, self.stop = op, client, store, report, stop
        self.from_type, self.to_type = from_type, to_type
        self.clock = clock or time.monotonic  # looked up now: tests replace this module's `time`
        self.sleep = sleep or time.sleep
        self.summary = ArchiveSummary(
            operation=op.operation,
            from_object_type=from_type,
            to_object_type=to_type,
            api_version=str(getattr(client.api_version, "value", client.api_version)),
            dry_run=op.is_dry_run,
            on_error=op.on_error,
            max_error_ratio=op.max_error_ratio,
            read_back=op.read_back,
            started_at=started,
            report_path=op.report_path or None,
            hubspot_conn_id=op.hubspot_conn_id,
        )
        self.summary.totals.requested = store.pair_count
        self.summary.totals.duplicates = store.duplicates
        self.builder = SummaryBuilder(self.summary)
        verb = "checked" if op.is_dry_run else op.progress_verb
        self.progress = Progress(store.pair_count, verb=verb, interval=op.progress_interval, clock=self.clock)
        self.breaker = CircuitBreaker(
            store.pair_count,
            on_error=op.on_error,
            max_error_ratio=op.max_error_ratio,
            max_failed_in_a_row=op.max_consecutive_failed_chunks,
        )
        self.defer_accepted = op.read_back and not op.is_dry_run
        self.accepted_chunks: dict[int, frozenset[int]] = {}  # chunk index -> positions not accepted
        self.interrupted: BaseException | None = None

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Send, record, read back; always write the summary. Returns the XCom summary."""
        chunks = self._snapshotted(self._chunks_to_send())
        try:
            runner = ChunkRunner(
                self._send,
                self._record,
                stop=self.stop,
                max_concurrency=self.op.max_concurrency,
                judge=self.breaker.observe,
            )
            runner.run(chunks)
            self._account_unsent(chunks)
            self._finish_accepted()
        except BaseException as err:  # a timeout, SIGINT: account for everything, then re-raise
            self.interrupted = err
            self.stop.set(f"{type(err).__name__} on the task's thread", err)
            self._account_unsent(chunks)
            self._write_accepted(still_present=None)
        return self._finish()

    def _chunks_to_send(self) -> Iterator[Chunk]:
        """Every chunk; those done by an earlier attempt of this run are recorded, not yielded."""
        from airflow_provider_hubassoc.batch.outcomes import done_earlier
        from airflow_provider_hubassoc.batch.report import DONE_EARLIER_CATEGORY

        checkpoint = self.report.checkpoint if self.report is not None else set()
        for chunk in self.store.chunks(self.op.batch_size):
            if chunk.digest in checkpoint:
                self._record(done_earlier(chunk, DONE_EARLIER_CATEGORY))
            else:
                yield chunk

    def _snapshotted(self, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        """With `snapshot`, each chunk comes only once what its pairs have is on disk."""
        if not getattr(self.op, "snapshot", False) or self.op.is_dry_run or self.report is None:
            return chunks
        from airflow_provider_hubassoc.batch.snapshot import Snapshotter

        snapshotter = Snapshotter(self.client, self.report, self.stop, self.from_type, self.to_type)
        return snapshotter.ahead(chunks)

    def _send(self, chunk: Chunk) -> ChunkOutcome:
        from airflow_provider_hubassoc.batch.outcomes import outcome_of_reply

        if self.op.is_dry_run:
            return self.op.check(self.client, chunk, self.from_type, self.to_type)
        return outcome_of_reply(chunk, self.op.send(self.client, chunk, self.from_type, self.to_type))

    def _account_unsent(self, chunks: Iterator[Chunk]) -> None:
        for chunk in chunks:
            self._record(not_sent(chunk, f"not attempted: {self.stop.reason}"))

    # -- recording ------------------------------------------------------------------------------
    def _record(self, outcome: ChunkOutcome) -> None:
        deferred = self._defers(outcome)
        for position, (pair, verdict) in enumerate(outcome.pairs()):
            self.builder.record(pair, verdict.status, verdict.category, verdict.message)
            if self.report is not None and position not in deferred:
                self.report.pair(pair, verdict.status, outcome.chunk.index, verdict.category, verdict.message)
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

    # -- the final read-back ----------------------------------------------------------------------
    def _finish_accepted(self) -> None:
        """Read the accepted pairs back (bounded by read_back_timeout), then write their lines."""
        from airflow_provider_hubassoc.client.errors import HubSpotError

        if not self.accepted_chunks:
            return
        if self.stop.is_set():
            self._write_accepted(still_present=None)
            return
        try:
            present = self._still_present_after_waiting()
        except HubSpotError as err:
            log.warning("read-back after the run failed (%s): the accepted pairs stay accepted", err)
            present = None
        self._write_accepted(present)

    def _still_present_after_waiting(self) -> set[Pair]:
        from airflow_provider_hubassoc.batch.readback import find_still_present

        deadline = self.clock() + self.op.read_back_timeout
        pending: Iterable[Pair] = (pair for _, pair in self._accepted_pairs())
        while True:
            present = find_still_present(self.client, self.from_type, self.to_type, pending).still_present
            left = deadline - self.clock()
            if not present or left <= 0 or self.stop.is_set():
                return set(present)
            self.sleep(min(READ_BACK_POLL_S, left))  # HubSpot's reads lag its writes by a few seconds
            pending = present

    def _accepted_pairs(self) -> Iterator[tuple[Chunk, Pair]]:
        for chunk in self.store.chunks(self.op.batch_size):
            others = self.accepted_chunks.get(chunk.index)
            if others is not None:
                yield from ((chunk, p) for i, p in enumerate(chunk.pairs) if i not in others)

    def _write_accepted(self, still_present: set[Pair] | None) -> None:
        """The deferred pair lines: confirmed / failed after a read-back, else still accepted.

        A chunk with a pair still present is no longer a checkpoint: a retry sends it again.
        """
        if not self.accepted_chunks:
            return
        revoked: dict[int, str] = {}
        for chunk, pair in self._accepted_pairs():
            verdict = read_back_verdict(pair, still_present)
            if still_present is not None:
                self.builder.read_back(pair, verdict.status, verdict.category, verdict.message)
            if verdict.status == "failed":
                revoked[chunk.index] = chunk.digest
            if self.report is not None:
                self.report.pair(pair, verdict.status, chunk.index, verdict.category, verdict.message)
        if self.report is not None:
            for index, digest in revoked.items():
                self.report.chunk({"chunk": index, "digest": digest, "status": "failed", "readBack": True})
        self.accepted_chunks.clear()

    # -- the end --------------------------------------------------------------------------------
    def _finish(self) -> dict[str, Any]:
        from airflow_provider_hubassoc.operators.base import now_iso

        self.summary.completed_at = now_iso()
        self.summary.stopped_by = self.stop.reason if self.stopped_early else None
        value = self.builder.finish()
        self.progress.finish()
        totals = self.summary.totals
        assert totals.accounted == totals.requested, totals
        if self.report is not None:
            self.report.finish(value, complete=not self.stopped_early)
        log.info("%s", totals.describe())
        return value

    @property
    def stopped_early(self) -> bool:
        """Stopped with work left undone (a stop after the last chunk changes nothing)."""
        totals = self.summary.totals
        left = totals.skipped - totals.done_earlier - totals.would_remove - totals.absent
        return self.stop.is_set() and (left > 0 or self.stop.error is not None)

    def failure(self, value: dict[str, Any]) -> BaseException | None:
        """What the task must raise after this run, or None when it succeeded."""
        if self.interrupted is not None:
            return self.interrupted
        if self.report is not None and self.report.write_error is not None:
            return _airflow_error(str(self.report.write_error))
        if self.stopped_early and self.stop.error is not None:
            return self._error_failure(self.stop.error)
        return self._policy_failure(value)

    def _policy_failure(self, value: dict[str, Any]) -> BaseException | None:
        """`on_error` judged on the totals (a run stopped early always fails)."""
        from airflow_provider_hubassoc.models.summary import ArchiveSummary

        breach = ArchiveSummary.from_xcom(value).error_policy_breach()
        if self.stopped_early:
            return _airflow_error("; ".join(filter(None, [breach, self._told()])))
        if breach is None:
            if self.summary.totals.failed:
                log.warning(
                    "%d pairs failed, within on_error=%s", self.summary.totals.failed, self.op.on_error
                )
            return None
        sample = "; ".join(f"{f['fromId']}->{f['toId']}: {f['message']}" for f in value["failedSample"][:3])
        where = f"; full report: {self.op.report_path}" if self.op.report_path else ""
        return _airflow_error(
            f"{breach}; errors by category {value['errorsByCategory']}; e.g. {sample}{where}"
        )

    def _told(self) -> str:
        return f"stopped early: {self.stop.reason}; {self.summary.totals.describe()}"

    def _error_failure(self, error: BaseException) -> BaseException:
        if not isinstance(error, HubSpotError):
            return error  # a bug: raise it as it is
        failure = _airflow_error(f"{self._told()}: {error}", fatal=error.fatal)
        failure.__cause__ = error
        return failure


def _airflow_error(message: str, *, fatal: bool = False) -> BaseException:
    from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

    return AirflowFailException(message) if fatal else AirflowException(message)
