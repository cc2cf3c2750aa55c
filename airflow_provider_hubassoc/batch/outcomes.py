"""What became of each chunk: one honest verdict per pair (states in models/summary.py).

Pure functions of a chunk and HubSpot's reply, so every rule is tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from airflow_provider_hubassoc.batch.store import Chunk
from airflow_provider_hubassoc.models.associations import Pair
from airflow_provider_hubassoc.models.responses import BatchErrorItem, BatchResponse, BatchResult, BatchStatus
from airflow_provider_hubassoc.models.summary import PairStatus

NOT_ATTEMPTED = "not_attempted"
NO_BODY = "NO_BODY"  # the batch status of a 2xx reply without a body (a v4 204)
UNFINISHED = (BatchStatus.PENDING, BatchStatus.PROCESSING)

_FROM_KEYS = {"fromid", "fromids", "from", "fromobjectid", "fromobjectids", "fromrecordid"}
_TO_KEYS = {"toid", "toids", "to", "toobjectid", "toobjectids", "torecordid"}
_ANY_KEYS = {"id", "ids", "objectid", "objectids", "recordid", "recordids"}
_SIDE_OF = {
    **dict.fromkeys(_ANY_KEYS, "any"),
    **dict.fromkeys(_FROM_KEYS, "from"),
    **dict.fromkeys(_TO_KEYS, "to"),
}


@dataclass(frozen=True)
class Verdict:
    """What became of one pair: its final state and, when not plain, why."""

    status: PairStatus
    category: str | None = None
    message: str | None = None
    # HubSpot named this pair in a per-input error: certainly not applied. Any other failure (no
    # 2xx reply, an error that names no pair) may have been applied, and undo treats it so.
    not_applied: bool = False


@dataclass
class ChunkOutcome:
    """One verdict per pair of the chunk (same order), plus what HubSpot said about the batch."""

    chunk: Chunk
    verdicts: list[Verdict]
    http_status: int | None = None
    batch_status: str | None = None
    sent: bool = True
    done_earlier: bool = False
    error: BaseException | None = field(default=None, repr=False)

    def pairs(self) -> Iterator[tuple[Pair, Verdict]]:
        return zip(self.chunk.pairs, self.verdicts, strict=True)

    @property
    def status(self) -> str:
        """`done` is the only status a checkpoint trusts: sent, finished by HubSpot, nothing failed."""
        if self.done_earlier:
            return "done"
        if not self.sent:
            return "not_sent"
        if any(v.status == "failed" for v in self.verdicts):
            return "failed"
        if self.batch_status in {s.value for s in UNFINISHED}:
            return "unfinished"
        return "done"

    @property
    def request_failed(self) -> bool:
        """HubSpot never answered 2xx (5xx, 429, network): an error response, not per-input errors."""
        return self.sent and self.error is not None

    @property
    def failed(self) -> int:
        return sum(1 for v in self.verdicts if v.status == "failed")


def same_for_all(chunk: Chunk, verdict: Verdict, **fields: object) -> ChunkOutcome:
    return ChunkOutcome(chunk, [verdict] * len(chunk.pairs), **fields)  # type: ignore[arg-type]


def not_sent(chunk: Chunk, reason: str) -> ChunkOutcome:
    return same_for_all(chunk, Verdict("skipped", NOT_ATTEMPTED, reason), sent=False)


def done_earlier(chunk: Chunk, category: str) -> ChunkOutcome:
    verdict = Verdict("skipped", category, "done by an earlier attempt of this run")
    return same_for_all(chunk, verdict, sent=False, done_earlier=True)


def request_failed(chunk: Chunk, error: BaseException) -> ChunkOutcome:
    category = getattr(error, "category", None) or type(error).__name__
    return same_for_all(
        chunk,
        Verdict("failed", category, _failure_message(error)),
        http_status=getattr(error, "status", None),
        error=error,
    )


def _failure_message(error: BaseException) -> str:
    """The error, and when no 2xx reply came for a request that may have reached HubSpot (a 5xx,
    a 423 or 477, a lost connection), that it may have been applied all the same."""
    if getattr(error, "may_have_applied", False):
        return f"{error}; no 2xx reply, so HubSpot may have applied the request all the same"
    return str(error)


# -- a 2xx reply: which pairs it confirms, which it only accepts, which failed -------------------


def outcome_of_reply(chunk: Chunk, result: BatchResult) -> ChunkOutcome:
    """Honest per-pair states from a 2xx reply (see models/summary.py for the states).

    No body (204) says nothing per pair: accepted. PENDING / PROCESSING: HubSpot has not finished:
    accepted, and the chunk is never checkpointed. CANCELED: failed. COMPLETE: the pairs named by
    attributable per-input errors failed, the others are confirmed; an error naming no pair of the
    chunk fails the whole chunk (never report done a pair that may not be).
    """
    batch = result.batch
    fields: dict[str, object] = {"http_status": result.http_status}
    if batch is None:
        fields["batch_status"] = NO_BODY
        return same_for_all(chunk, Verdict("accepted", None, "HubSpot's reply had no body"), **fields)
    fields["batch_status"] = batch.status.value
    if batch.status is BatchStatus.CANCELED:
        return same_for_all(chunk, Verdict("failed", "CANCELED", "HubSpot canceled the batch"), **fields)
    rest = Verdict("confirmed")
    if batch.status in UNFINISHED:
        rest = Verdict("accepted", None, f"HubSpot had not finished the batch ({batch.status.value})")
    if _unattributable(chunk, batch):
        rest = _whole_chunk_failure(chunk, batch)
    failures = _attributed_failures(chunk, batch.errors)
    verdicts = [failures.get(i, rest) for i in range(len(chunk.pairs))]
    return ChunkOutcome(chunk, verdicts, **fields)  # type: ignore[arg-type]


def _unattributable(chunk: Chunk, batch: BatchResponse) -> bool:
    listed_fewer = (batch.num_errors or 0) > len(batch.errors)
    return listed_fewer or any(not _matches(err, chunk.pairs) for err in batch.errors)


def _whole_chunk_failure(chunk: Chunk, batch: BatchResponse) -> Verdict:
    """The whole-chunk failure when an error cannot be tied to the pairs it concerns."""
    first = next((e for e in batch.errors if not _matches(e, chunk.pairs)), None)
    if first is None:
        listed = len(batch.errors)
        return Verdict(
            "failed", "UNATTRIBUTED", f"HubSpot reported {batch.num_errors} errors but listed {listed}"
        )
    message = f"error not attributable to an input, whole chunk marked failed: {first.message}"
    return Verdict("failed", first.category, message)


def _attributed_failures(chunk: Chunk, errors: Iterable[BatchErrorItem]) -> dict[int, Verdict]:
    failures: dict[int, Verdict] = {}
    for err in errors:
        for index in _matches(err, chunk.pairs):
            failures.setdefault(
                index, Verdict("failed", err.category or "UNKNOWN", err.message, not_applied=True)
            )
    return failures


def _ids(err: BatchErrorItem) -> tuple[set[str], set[str], set[str]]:
    """From ids, to ids and ids of either side named in an error's context (and its details')."""
    sides: dict[str, set[str]] = {"from": set(), "to": set(), "any": set()}
    for context in [err.context] + [d.context for d in err.errors if d.context]:
        for key, values in context.items():
            side = _SIDE_OF.get(key.replace("_", "").replace("-", "").lower())
            if side is not None:
                sides[side].update(str(v).strip() for v in (values if isinstance(values, list) else [values]))
    if err.id:
        sides["any"].add(err.id)
    return sides["from"], sides["to"], sides["any"]


def _matches(err: BatchErrorItem, pairs: Sequence[Pair]) -> list[int]:
    """Indexes of the pairs an error names; ids of unknown side match either side (errs to failed)."""
    froms, tos, anys = _ids(err)
    if froms or tos:
        return [i for i, p in enumerate(pairs) if _named(p.from_id, froms) and _named(p.to_id, tos)]
    return [i for i, p in enumerate(pairs) if p.from_id in anys or p.to_id in anys]


def _named(record_id: str, ids: set[str]) -> bool:
    """An empty side names every record (the error named only the other side)."""
    return not ids or record_id in ids


def read_back_verdict(
    pair: Pair, still_present: set[Pair] | None, unknown: dict[Pair, str] | None = None
) -> Verdict:
    """An accepted pair after the end-of-run read-back (None: there was none, it stays accepted).
    A pair whose read failed (`unknown`, with the reason) stays accepted: nothing proves it."""
    if still_present is None:
        return Verdict("accepted", None, "sent and answered 2xx; not read back")
    if unknown and pair in unknown:
        return Verdict("accepted", None, f"read back after the run, but the read failed: {unknown[pair]}")
    if pair in still_present:
        return Verdict("failed", "STILL_PRESENT", "read back after the run: still present")
    return Verdict("confirmed", None, "read back after the run: gone")
