"""Concurrent chunk execution, per-pair error attribution and progress logging.

At most `max_concurrency` requests are in flight (all through the one hook, so all share its
rate governor) and only a few chunks are queued ahead, so a million pairs never sit in memory
as futures. Outcomes are handled on the calling thread, in completion order, which keeps the
report writer single-threaded. A fatal typed error stops submission at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from airflow_provider_hubassoc.client.errors import HubSpotError
from airflow_provider_hubassoc.models.responses import (
    AssociationReadResult,
    BatchErrorItem,
    BatchResult,
    BatchStatus,
)
from airflow_provider_hubassoc.operators.chunking import Chunk, Pair

log = logging.getLogger(__name__)

_FROM_KEYS = {"fromid", "fromids", "from", "fromobjectid", "fromobjectids", "fromrecordid"}
_TO_KEYS = {"toid", "toids", "to", "toobjectid", "toobjectids", "torecordid"}
_ANY_KEYS = {"id", "ids", "objectid", "objectids", "recordid", "recordids"}


@dataclass
class PairResult:
    pair: Pair
    status: str  # done | failed | skipped | would_remove | absent
    category: str | None = None
    message: str | None = None


@dataclass
class ChunkOutcome:
    """What became of one chunk: per-pair results plus what HubSpot said about the batch."""

    chunk: Chunk
    results: list[PairResult]
    http_status: int | None = None
    batch_status: str | None = None
    sent: bool = True
    checkpoint: bool = False  # skipped because an earlier run's report records it done
    error: BaseException | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        """A chunk is done when no pair failed and it was sent (or done by an earlier run)."""
        if any(r.status == "failed" for r in self.results) or not (self.sent or self.checkpoint):
            return "failed"
        return "done"


def _ids(err: BatchErrorItem) -> tuple[set[str], set[str], set[str]]:
    """From ids, to ids and undirected ids named in an error's context (and its details')."""
    froms: set[str] = set()
    tos: set[str] = set()
    anys: set[str] = set()
    contexts = [err.context] + [d.context for d in err.errors if d.context]
    for context in contexts:
        for key, values in context.items():
            norm = key.replace("_", "").replace("-", "").lower()
            target = {
                **dict.fromkeys(_ANY_KEYS, anys),
                **dict.fromkeys(_FROM_KEYS, froms),
                **dict.fromkeys(_TO_KEYS, tos),
            }.get(norm)
            if target is not None:
                target.update(str(v).strip() for v in values)
    if err.id:
        anys.add(err.id)
    return froms, tos, anys


def _matches(err: BatchErrorItem, pairs: list[Pair]) -> list[int]:
    froms, tos, anys = _ids(err)
    if froms and tos:
        return [i for i, p in enumerate(pairs) if p.from_id in froms and p.to_id in tos]
    if froms:
        return [i for i, p in enumerate(pairs) if p.from_id in froms]
    if tos:
        return [i for i, p in enumerate(pairs) if p.to_id in tos]
    if anys:
        # Ids of unknown side: err towards "failed" (never report a pair done that may not be).
        return [i for i, p in enumerate(pairs) if p.from_id in anys or p.to_id in anys]
    return []


def attribute(chunk: Chunk, result: BatchResult) -> ChunkOutcome:
    """Map a 2xx reply's per-input errors to the pairs they concern; never drop one silently."""
    pairs = chunk.pairs
    status = result.status
    outcome = ChunkOutcome(chunk, [], http_status=result.http_status, batch_status=status.value)
    if status is BatchStatus.CANCELED:
        outcome.results = [PairResult(p, "failed", "CANCELED", "HubSpot canceled the batch") for p in pairs]
        return outcome
    failed: dict[int, tuple[str, str]] = {}
    unattributed: list[BatchErrorItem] = []
    for err in result.errors:
        matched = _matches(err, pairs)
        if not matched:
            unattributed.append(err)
        for index in matched:
            failed.setdefault(index, (err.category or "UNKNOWN", err.message))
    num_errors = result.batch.num_errors if result.batch is not None else None
    if unattributed or (num_errors or 0) > len(result.errors):
        first = unattributed[0] if unattributed else None
        category = first.category if first else "UNATTRIBUTED"
        message = (
            f"error not attributable to an input, whole chunk marked failed: {first.message}"
            if first
            else f"HubSpot reported {num_errors} errors but listed {len(result.errors)}"
        )
        for index in range(len(pairs)):
            failed.setdefault(index, (category, message))
    outcome.results = [
        PairResult(p, "failed", *failed[i]) if i in failed else PairResult(p, "done")
        for i, p in enumerate(pairs)
    ]
    return outcome


def read_back(chunk: Chunk, result: AssociationReadResult) -> ChunkOutcome:
    """Dry run: which requested pairs (and, for labels, which requested labels) exist now.

    The same presence rule as the sensor's read-back, so a dry run predicts what it will check.
    """
    from airflow_provider_hubassoc.client.readback import index_labels, is_present
    from airflow_provider_hubassoc.models.summary import VerifyPair

    indexes = {from_id: index_labels(records) for from_id, records in result.associations.items()}
    results: list[PairResult] = []
    for pair in chunk.pairs:
        wanted = VerifyPair(
            from_id=pair.from_id, to_id=pair.to_id, types=[t.to_wire() for t in pair.types] or None
        )
        if is_present(wanted, indexes.get(pair.from_id, {})):
            results.append(PairResult(pair, "would_remove"))
        elif pair.types:
            results.append(PairResult(pair, "absent", None, "none of the requested labels is present"))
        else:
            results.append(PairResult(pair, "absent", None, "no association between the pair"))
    return ChunkOutcome(chunk, results, http_status=None, batch_status=None)


def guarded(work: Callable[[Chunk], ChunkOutcome]) -> Callable[[Chunk], ChunkOutcome]:
    """Turn a non-fatal typed error (still failing after the hook's retries) into failed pairs."""

    def run(chunk: Chunk) -> ChunkOutcome:
        try:
            return work(chunk)
        except HubSpotError as err:
            if err.fatal:
                raise
            category = err.category or type(err).__name__
            return ChunkOutcome(
                chunk,
                [PairResult(p, "failed", category, str(err)) for p in chunk.pairs],
                http_status=err.status,
                error=err,
            )

    return run


class Progress:
    """Logs done/total pairs, rate and ETA at most every `interval` seconds."""

    def __init__(self, total: int, *, verb: str, interval: float = 10.0) -> None:
        self.total = total
        self.verb = verb
        self.interval = interval
        self.processed = 0
        self.started = time.monotonic()
        self._last = self.started

    def add(self, pairs: int) -> None:
        self.processed += pairs
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.log()

    def log(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.processed / elapsed
        remaining = self.total - self.processed
        eta = f"{remaining / rate:.0f}s" if rate > 0 else "unknown"
        percent = 100.0 * self.processed / self.total if self.total else 100.0
        log.info(
            "%s %d/%d pairs (%.1f%%), %.1f pairs/s, ETA %s",
            self.verb,
            self.processed,
            self.total,
            percent,
            rate,
            eta,
        )


class _NotAttempted(Exception):
    """The run stopped before this chunk's request was sent."""


def skipped(chunk: Chunk, reason: str) -> ChunkOutcome:
    results = [PairResult(p, "skipped", "not_attempted", reason) for p in chunk.pairs]
    return ChunkOutcome(chunk, results, sent=False)


def run_chunks(
    chunks: Iterator[Chunk],
    work: Callable[[Chunk], ChunkOutcome],
    handle: Callable[[ChunkOutcome], None],
    *,
    max_concurrency: int,
    progress: Progress | None = None,
    queue_ahead: int = 2,
) -> BaseException | None:
    """Run `work` over `chunks` with bounded concurrency; `handle` each outcome on this thread.

    Returns the error that stopped the run (a fatal typed error, or a bug), after the requests
    already in flight have finished and been handled; queued chunks are handled as skipped, and
    chunks not yet taken from `chunks` are left there for the caller to account as skipped.
    """
    limit = max(1, max_concurrency) * max(1, queue_ahead)
    stop: BaseException | None = None
    stopping = threading.Event()
    pending: set[Future[ChunkOutcome]] = set()
    by_future: dict[Future[ChunkOutcome], Chunk] = {}

    def guarded_work(chunk: Chunk) -> ChunkOutcome:
        if stopping.is_set():  # queued before the stop, picked up after it: do not send
            raise _NotAttempted
        try:
            return work(chunk)
        except BaseException:
            stopping.set()  # at once, from the worker: the next queued chunk must not be sent
            raise

    with ThreadPoolExecutor(max_workers=max(1, max_concurrency), thread_name_prefix="hubassoc") as pool:
        try:
            exhausted = False
            while True:
                while stop is None and not exhausted and len(pending) < limit:
                    chunk = next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                    future = pool.submit(guarded_work, chunk)
                    pending.add(future)
                    by_future[future] = chunk
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in _in_order(finished, by_future):
                    chunk = by_future.pop(future)
                    error = None if future.cancelled() else future.exception()
                    if future.cancelled() or isinstance(error, _NotAttempted):
                        reason = type(stop).__name__ if stop is not None else "an error in another chunk"
                        outcome = skipped(chunk, f"not attempted: the run stopped on {reason}")
                    elif error is None:
                        outcome = future.result()
                    else:
                        category = getattr(error, "category", None) or type(error).__name__
                        outcome = ChunkOutcome(
                            chunk,
                            [PairResult(p, "failed", category, str(error)) for p in chunk.pairs],
                            http_status=getattr(error, "status", None),
                            error=error,
                        )
                        if stop is None:
                            stop = error
                            stopping.set()
                            for queued in pending:
                                queued.cancel()
                            log.error("stopping: %s", error)
                    handle(outcome)
                    if progress is not None:
                        progress.add(len(chunk.pairs))
        finally:
            # Leaving on an exception of this thread (a task timeout, on_kill's SIGTERM, a report
            # write that failed) must not let the pool send the chunks still queued when it joins.
            stopping.set()
            for queued in pending:
                queued.cancel()
    if progress is not None:
        progress.log()
    return stop


def _in_order(
    futures: Iterable[Future[ChunkOutcome]], by_future: dict[Future[ChunkOutcome], Chunk]
) -> list[Future[ChunkOutcome]]:
    return sorted(futures, key=lambda f: by_future[f].index)
