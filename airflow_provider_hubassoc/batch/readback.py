"""The read-back plan: which archived pairs HubSpot still shows, narrowed pass by pass.

HubSpot has no endpoint to poll a batch after its synchronous reply, so the only way to confirm an
archive is to read the associations back with batch read. The sensor (poke/reschedule), the
trigger (deferrable) and the operators' final read-back all use `ReadbackPlan`, so the rules live
in one place:

- source: every pair the run sent, from the report; else (no report, or one that cannot be read
  here) the summary's verify sample; with neither, the read-back cannot be done;
- presence: a batch-archived pair is present while any association links the two records; a
  label-archived pair while any of its exact labels (category and type id) is still on it;
- narrowing: after the first full pass only the pairs still present are read again (a pair HubSpot
  shows gone stays gone: nothing of ours re-creates it).

Blocking and Airflow-free: the trigger runs each pass in a thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_provider_hubassoc.batch.report import (
    ACCEPTED,
    DONE_EARLIER,
    SENT_STATUSES,
    ReportUnreadableError,
    iter_report_entries,
)
from airflow_provider_hubassoc.client.versions import READ_BATCH_LIMIT
from airflow_provider_hubassoc.models.associations import Pair, pair_line

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


@dataclass
class ReadbackResult:
    """One pass: how many pairs the read-back covers, and every one still present (not a sample)."""

    checked: int = 0
    still_present: list[Pair] = field(default_factory=list)

    @property
    def all_gone(self) -> bool:
        return not self.still_present

    def sample(self, size: int = STILL_PRESENT_SAMPLE_SIZE) -> list[dict[str, Any]]:
        """A bounded, JSON-safe sample of the still-present pairs (for messages and events)."""
        return [pair_line(p) for p in self.still_present[:size]]

    def describe(self, size: int = STILL_PRESENT_SAMPLE_SIZE) -> str:
        """One line saying what is still present, e.g. for a timeout message."""
        if self.all_gone:
            return f"all {self.checked} read-back pairs are gone"
        shown = ", ".join(describe_pair(p) for p in self.still_present[:size])
        more = len(self.still_present) - size
        tail = f" and {more} more" if more > 0 else ""
        return f"{len(self.still_present)} of {self.checked} pairs still present: {shown}{tail}"


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


def _chunks(pairs: Iterable[Pair], max_from_ids: int) -> Iterator[list[Pair]]:
    """Consecutive pairs grouped to at most `max_from_ids` distinct from ids (streamed)."""
    chunk: list[Pair] = []
    from_ids: set[str] = set()
    for pair in pairs:
        if pair.from_id not in from_ids and len(from_ids) >= max_from_ids:
            yield chunk
            chunk, from_ids = [], set()
        chunk.append(pair)
        from_ids.add(pair.from_id)
    if chunk:
        yield chunk


def find_still_present(
    reader: AssociationReader,
    from_type: str,
    to_type: str,
    pairs: Iterable[Pair],
    *,
    chunk_size: int = READ_BATCH_LIMIT,
) -> ReadbackResult:
    """Read `pairs` back, one batch read per at most `chunk_size` from ids (the client follows the
    pages), and return what is left. HTTP failures raise the client's typed errors."""
    if not 1 <= chunk_size <= READ_BATCH_LIMIT:
        raise ValueError(f"chunk_size must be between 1 and {READ_BATCH_LIMIT}, got {chunk_size}")
    result = ReadbackResult()
    for chunk in _chunks(pairs, chunk_size):
        ids = list(dict.fromkeys(pair.from_id for pair in chunk))
        read = reader.read_associations(from_type, to_type, ids)
        indexes = {from_id: index_labels(records) for from_id, records in read.associations.items()}
        result.checked += len(chunk)
        result.still_present.extend(p for p in chunk if is_present(p, indexes.get(p.from_id, {})))
    return result


@dataclass
class ReadbackPlan:
    """What to read back and what is still left: the state a sensor keeps between pokes and hands
    to its trigger.

    `report_path` names every pair the run sent; `sample` (`(status, pair)` entries) stands in when
    there is no report or it cannot be read here. After the first pass, `pending` holds what was
    still present, `checked` the size of the whole read-back, and `accepted` how many of its pairs
    the run had left `accepted` (all of them are confirmed once the read-back shows them gone).
    """

    from_type: str
    to_type: str
    report_path: str | None = None
    sample: list[Entry] | None = None
    pending: list[Pair] | None = None
    checked: int | None = None
    accepted: int = 0
    scope: Scope = "none"
    fallback_reason: str | None = None  # why the sample stands in for an unreadable report

    def __post_init__(self) -> None:
        if self.scope == "none":
            self.scope = "report" if self.report_path else "sample"

    def read_back(self, reader: AssociationReader) -> ReadbackResult:
        """One pass (blocking); afterwards `pending` holds only what is still present.

        Raises `ReportUnreadableError` when the report cannot be read and there is no sample.
        """
        if self.pending is not None:
            result = find_still_present(reader, self.from_type, self.to_type, self.pending)
        else:
            result = self._first_pass(reader)
        self.checked = result.checked if self.checked is None else self.checked
        self.pending = result.still_present
        return ReadbackResult(self.checked, result.still_present)

    def _first_pass(self, reader: AssociationReader) -> ReadbackResult:
        if self.scope == "report" and self.report_path is not None:
            try:
                return self._read_entries(reader, iter_report_entries(self.report_path, VERIFY_STATUSES))
            except ReportUnreadableError as err:
                if self.sample is None:
                    raise
                self.fallback_reason = f"{err}; reading back the summary's sample instead"
                self.scope, self.checked = "sample", None  # counts of the report do not apply
        return self._read_entries(reader, self.sample or [])

    def _read_entries(self, reader: AssociationReader, entries: Iterable[Entry]) -> ReadbackResult:
        self.accepted = 0

        def pairs() -> Iterator[Pair]:
            for status, pair in entries:
                self.accepted += status == ACCEPTED
                yield pair

        return find_still_present(reader, self.from_type, self.to_type, pairs())
