"""Sending chunks: bounded concurrency, one stop signal, a circuit breaker, and progress lines.

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

from airflow_provider_hubassoc.batch.outcomes import ChunkOutcome, not_sent, request_failed
from airflow_provider_hubassoc.batch.store import Chunk
from airflow_provider_hubassoc.client import waits
from airflow_provider_hubassoc.client.errors import HubSpotError
from airflow_provider_hubassoc.models.summary import OnError

log = logging.getLogger(__name__)


# -- stopping early ---------------------------------------------------------------------------


class StopSignal(waits.StopSignal):
    """The run's stop: set once, by whoever must end the run first; the first reason wins, with
    the error that caused it. `on_set` passes it on (the client's interrupt: its waits end)."""

    def __init__(self, on_set: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self._on_set = on_set
        self.error: BaseException | None = None

    def set(self, reason: str, error: BaseException | None = None) -> None:
        if self.is_set():
            return
        self.error = error
        super().set(reason)
        if self._on_set is not None:
            self._on_set(reason)


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
            unsent = err.requests_sent == 0  # stopped, or out of time, before any request left
            if err.fatal or unsent:  # going on is pointless, or would skip work without a word
                self.stop.set(_stop_reason(err), err)
            if unsent:
                return not_sent(chunk, f"not attempted: {self.stop.reason}")
            return request_failed(chunk, err)  # still failing after the client's retries
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
