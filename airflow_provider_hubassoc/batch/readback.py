"""The read-back plan: which archived pairs HubSpot still shows, narrowed pass by pass.

HubSpot has no endpoint to poll a batch after its synchronous reply, so the only way to confirm an
archive is to read the associations back with batch read. The sensor (poke/reschedule), the
trigger (deferrable) and the operators' final read-back all use `ReadbackPlan`, so the rules live
in one place:

- source: every pair the run sent, from the report; else (no report, or one that cannot be read
  here) the summary's verify sample; with neither, the read-back cannot be done;
- presence: a batch-archived pair is present while any association links the two records; a
  label-archived pair while any of its exact labels (category and type id) is still on it;
- unknown: a pair whose from record's read came back with an error other than not-found is
  neither gone nor present; it is never called done, and it is read again;
- narrowing: after the first full pass only the pairs still present or unknown are read again (a
  pair HubSpot shows gone stays gone: nothing of ours re-creates it).

Blocking and Airflow-free: the trigger runs each step of a pass (one batch read) on a thread hop.
Pairs are carried as plain strings (`pair_key`) between steps, and batch-read results as tuples,
so a pass over many pairs leaves the garbage collector almost nothing to track.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from airflow_provider_hubassoc.batch.report import (
    ACCEPTED,
    DONE_EARLIER,
    SENT_STATUSES,
    ReportUnreadableError,
    iter_report_entries,
)
from airflow_provider_hubassoc.client.versions import READ_BATCH_LIMIT
from airflow_provider_hubassoc.models.associations import (
    AssociationCategory,
    AssociationType,
    Pair,
    pair_line,
)
from airflow_provider_hubassoc.models.responses import Link, ReadState, link_to_id, link_types

if TYPE_CHECKING:
    from airflow_provider_hubassoc.models.responses import AssociatedRecord, AssociationReadResult

# Report statuses a read-back verifies: what this run sent, and what an earlier attempt of it did.
VERIFY_STATUSES: tuple[str, ...] = (*SENT_STATUSES, DONE_EARLIER)
# How many still-present pairs a message or a trigger event shows; the count is always exact.
STILL_PRESENT_SAMPLE_SIZE = 20

Scope = Literal["report", "sample", "none"]
# (report status, pair): the status says whether the read-back turns an `accepted` pair confirmed.
Entry = tuple[str, Pair]
LabelIndex = dict[str, set[tuple[str, int]]]


class AssociationReader(Protocol):
    """What the read-back needs from `HubSpotClient` (and what test fakes provide)."""

    def read_associations(self, from_type: str, to_type: str, ids: list[str]) -> AssociationReadResult: ...


class UnknownPair(NamedTuple):
    """A pair the read-back could not judge: its from record's read returned an error that is not
    a not-found (`reason` names it). It is neither gone nor present: it stays unconfirmed."""

    pair: Pair
    reason: str


@dataclass
class ReadbackResult:
    """One pass: how many pairs it covers, every one still present, and every one whose state is
    unknown (not samples). Pairs are held as their canonical keys (plain strings), so a pass over
    many pairs keeps no object per pair alive; `still_present` and `unknown` build them on demand.
    """

    checked: int = 0
    present_keys: list[str] = field(default_factory=list)
    unknown_keys: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)

    @property
    def still_present(self) -> list[Pair]:
        return [pair_of_key(key) for key in self.present_keys]

    @property
    def unknown(self) -> list[UnknownPair]:
        return [UnknownPair(pair_of_key(key), reason) for key, reason in self.unknown_keys]

    @property
    def all_gone(self) -> bool:
        """Every pair read and gone: none still present, none unknown."""
        return not self.present_keys and not self.unknown_keys

    def pending_keys(self) -> list[str]:
        """What a later pass must read again: the present pairs and the unknown ones."""
        return self.present_keys + [key for key, _ in self.unknown_keys]

    def sample(self, size: int = STILL_PRESENT_SAMPLE_SIZE) -> list[dict[str, Any]]:
        """A bounded, JSON-safe sample of the still-present pairs (for messages and events)."""
        return [pair_line(pair_of_key(key)) for key in self.present_keys[:size]]

    def unknown_sample(self, size: int = STILL_PRESENT_SAMPLE_SIZE) -> list[dict[str, Any]]:
        """A bounded, JSON-safe sample of the unknown pairs, each with its `reason`."""
        return [{**pair_line(pair_of_key(key)), "reason": why} for key, why in self.unknown_keys[:size]]

    def describe(self, size: int = STILL_PRESENT_SAMPLE_SIZE) -> str:
        """One line saying what is still present and what could not be read, e.g. for a timeout."""
        if self.all_gone:
            return f"all {self.checked} read-back pairs are gone"
        parts = []
        if self.present_keys:
            parts.append(
                f"{len(self.present_keys)} of {self.checked} pairs still present: "
                + _listed([describe_key(k) for k in self.present_keys[:size]], len(self.present_keys))
            )
        if self.unknown_keys:
            shown = [f"{describe_key(k)} ({why})" for k, why in self.unknown_keys[:size]]
            parts.append(
                f"{len(self.unknown_keys)} of {self.checked} pairs unknown (their read failed): "
                + _listed(shown, len(self.unknown_keys))
            )
        return "; ".join(parts)


def _listed(shown: list[str], total: int) -> str:
    more = total - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def pair_key(pair: Pair) -> str:
    """A pair as one plain string (`Pair.canonical()`): `1>2[]`, `1>2[USER_DEFINED/36]`."""
    return pair.canonical()


def _split_key(key: str) -> tuple[str, str, tuple[tuple[str, int], ...]]:
    from_id, rest = key.split(">", 1)
    to_id, types = rest[:-1].split("[", 1)
    labels = tuple((c, int(t)) for c, t in (item.split("/") for item in types.split(","))) if types else ()
    return from_id, to_id, labels


def pair_of_key(key: str) -> Pair:
    """The inverse of `pair_key`."""
    from_id, to_id, labels = _split_key(key)
    types = tuple(AssociationType(category=AssociationCategory(c), type_id=t) for c, t in labels)
    return Pair(from_id, to_id, types)


def describe_key(key: str) -> str:
    from_id, to_id, labels = _split_key(key)
    text = f"{from_id}->{to_id}"
    return text + (" [" + ",".join(f"{c}/{t}" for c, t in sorted(labels)) + "]" if labels else "")


def describe_pair(pair: Pair) -> str:
    """`1->2` for an association, `1->2 [USER_DEFINED/36]` for labels."""
    text = f"{pair.from_id}->{pair.to_id}"
    if pair.types:
        text += " [" + ",".join(f"{c}/{t}" for c, t in sorted(_label_keys(pair))) + "]"
    return text


def _label_keys(pair: Pair) -> set[tuple[str, int]]:
    return {(t.category.value, t.type_id) for t in pair.types}


def index_labels(records: Sequence[AssociatedRecord]) -> LabelIndex:
    """to id -> its (category, typeId) labels: built once per from id, so each pair is a look-up
    (a company linked to 10,000 contacts must not cost 10,000 scans per pair)."""
    index: LabelIndex = {}
    for record in records:
        labels = index.setdefault(record.to_object_id, set())
        labels.update((t.category, t.type_id) for t in record.association_types)
    return index


def is_present(pair: Pair, index: LabelIndex) -> bool:
    """Batch archive: any link to `to_id` counts. Label archive: any of the archived labels, matched
    exactly (category and type id), so that removing another label never passes for this one.

    A label archive of an unlabeled type removes the whole association; then no record is left and
    the pair is correctly seen as gone.
    """
    labels = index.get(pair.to_id)
    if labels is None:
        return False
    return not pair.types or not _label_keys(pair).isdisjoint(labels)


def _slices(keys: Iterator[str], max_from_ids: int) -> Iterator[list[str]]:
    """Consecutive pair keys grouped to at most `max_from_ids` distinct from ids (streamed)."""
    chunk: list[str] = []
    from_ids: set[str] = set()
    for key in keys:
        from_id = key.split(">", 1)[0]
        if from_id not in from_ids and len(from_ids) >= max_from_ids:
            yield chunk
            chunk, from_ids = [], set()
        chunk.append(key)
        from_ids.add(from_id)
    if chunk:
        yield chunk


def _held(read: AssociationReadResult, from_ids: Iterable[str]) -> dict[tuple[str, str], Link]:
    """(from id, to id) -> the flat link between them (types of repeated links appended): one
    look-up per pair (a company linked to 10,000 contacts must not cost 10,000 scans per pair)."""
    held: dict[tuple[str, str], Link] = {}
    for from_id in from_ids:
        for link in read.links.get(from_id, ()):
            key = (from_id, link_to_id(link))
            earlier = held.get(key)
            held[key] = link if earlier is None else earlier + link[1:]
    return held


def _present(link: Link | None, labels: tuple[tuple[str, int], ...]) -> bool:
    """Batch archive: any link counts. Label archive: any of the archived labels, matched exactly
    (category and type id), so that removing another label never passes for this one. (A label
    archive of an unlabeled type removes the whole association: then nothing is held: gone.)"""
    if link is None:
        return False
    return not labels or any((c, t) in labels for c, t, _ in link_types(link))


class ReadbackPass:
    """One read-back pass over a stream of pair keys, one batch read (at most `chunk_size` from
    ids; the client follows that read's pages) per `step()`, so a caller can run each step on its
    own thread hop and hold nothing of a step past it.

    A pair whose from record's read came back with a non-not-found error is `unknown`, never
    gone. `on_unreadable(err)` may give the keys to read instead of a report that cannot be read
    (the pass starts over); without it the error is raised.
    """

    def __init__(
        self,
        reader: AssociationReader,
        from_type: str,
        to_type: str,
        keys: Iterator[str],
        *,
        chunk_size: int = READ_BATCH_LIMIT,
        on_unreadable: Callable[[ReportUnreadableError], Iterator[str]] | None = None,
    ) -> None:
        if not 1 <= chunk_size <= READ_BATCH_LIMIT:
            raise ValueError(f"chunk_size must be between 1 and {READ_BATCH_LIMIT}, got {chunk_size}")
        self.reader, self.from_type, self.to_type = reader, from_type, to_type
        self.chunk_size = chunk_size
        self.result = ReadbackResult()
        self._slices = _slices(keys, chunk_size)
        self._on_unreadable = on_unreadable
        self.done = False

    def step(self) -> bool:
        """Read the next slice; True once the pass is over (nothing was read then)."""
        try:
            chunk = next(self._slices, None)
        except ReportUnreadableError as err:
            if self._on_unreadable is None:
                raise
            self._slices, self._on_unreadable = _slices(self._on_unreadable(err), self.chunk_size), None
            self.result = ReadbackResult()
            return False
        if chunk is None:
            self.done = True
            return True
        self._read(chunk)
        return False

    def run(self) -> ReadbackResult:
        """Every step at once (blocking)."""
        while not self.step():
            pass
        return self.result

    def _read(self, chunk: list[str]) -> None:
        split = [_split_key(key) for key in chunk]
        from_ids = list(dict.fromkeys(from_id for from_id, _, _ in split))
        read = self.reader.read_associations(self.from_type, self.to_type, from_ids)
        held = _held(read, from_ids)
        result = self.result
        result.checked += len(chunk)
        for key, (from_id, to_id, labels) in zip(chunk, split, strict=True):
            error = read.error_of(from_id) if read.state(from_id) is ReadState.ERRORED else None
            if error is not None:
                result.unknown_keys.append(
                    (key, f"the batch read of record {from_id} failed: {error.describe()}")
                )
            elif _present(held.get((from_id, to_id)), labels):
                result.present_keys.append(key)


def find_still_present(
    reader: AssociationReader,
    from_type: str,
    to_type: str,
    pairs: Iterable[Pair],
    *,
    chunk_size: int = READ_BATCH_LIMIT,
) -> ReadbackResult:
    """Read `pairs` back, one batch read per at most `chunk_size` from ids (the client follows the
    pages): which are still present (`still_present`), and which could not be judged because their
    from record's read failed with an error other than not-found (`unknown`, with the reason).
    Every other pair is gone. HTTP failures raise the client's typed errors."""
    keys = (pair_key(pair) for pair in pairs)
    return ReadbackPass(reader, from_type, to_type, keys, chunk_size=chunk_size).run()


@dataclass
class ReadbackPlan:
    """What to read back and what is still left: the state a sensor keeps between pokes and hands
    to its trigger.

    `report_path` names every pair the run sent; `sample` (`(status, pair)` entries) stands in when
    there is no report or it cannot be read here. After the first pass, `pending` holds the keys
    (`pair_key`) of what was still present or unknown, `checked` the size of the whole read-back,
    and `accepted` how many of its pairs the run had left `accepted` (all of them are confirmed
    once the read-back shows them gone).
    """

    from_type: str
    to_type: str
    report_path: str | None = None
    sample: list[Entry] | None = None
    pending: list[str] | None = None
    checked: int | None = None
    accepted: int = 0
    scope: Scope = "none"
    fallback_reason: str | None = None  # why the sample stands in for an unreadable report

    def __post_init__(self) -> None:
        if self.scope == "none":
            self.scope = "report" if self.report_path else "sample"

    def pending_pairs(self) -> list[Pair] | None:
        return None if self.pending is None else [pair_of_key(key) for key in self.pending]

    def set_pending(self, pairs: Iterable[Pair]) -> None:
        self.pending = [pair_key(pair) for pair in pairs]

    def read_back(self, reader: AssociationReader) -> ReadbackResult:
        """One pass (blocking); afterwards `pending` holds only what is still present or unknown.

        Raises `ReportUnreadableError` when the report cannot be read and there is no sample.
        """
        started = self.start(reader)
        started.run()
        return self.finish(started)

    def start(self, reader: AssociationReader) -> ReadbackPass:
        """A pass to run step by step (the trigger runs each step on its own thread hop)."""
        if self.pending is not None:
            return ReadbackPass(reader, self.from_type, self.to_type, iter(self.pending))
        if self.scope == "report" and self.report_path is not None:
            keys = self._entry_keys(iter_report_entries(self.report_path, VERIFY_STATUSES))
            fallback = self._fall_back if self.sample is not None else None
            return ReadbackPass(reader, self.from_type, self.to_type, keys, on_unreadable=fallback)
        return ReadbackPass(reader, self.from_type, self.to_type, self._entry_keys(iter(self.sample or [])))

    def finish(self, done: ReadbackPass) -> ReadbackResult:
        """The pass's result, counted against the whole read-back; narrows `pending` to it."""
        result = done.result
        self.checked = result.checked if self.checked is None else self.checked
        self.pending = result.pending_keys()
        return ReadbackResult(self.checked, result.present_keys, result.unknown_keys)

    def _fall_back(self, err: ReportUnreadableError) -> Iterator[str]:
        self.fallback_reason = f"{err}; reading back the summary's sample instead"
        self.scope, self.checked = "sample", None  # counts of the report do not apply
        return self._entry_keys(iter(self.sample or []))

    def _entry_keys(self, entries: Iterator[Entry]) -> Iterator[str]:
        self.accepted = 0
        for status, pair in entries:
            self.accepted += status == ACCEPTED
            yield pair_key(pair)
