"""Read-back of archived pairs: which of them HubSpot still shows.

HubSpot has no endpoint to poll a batch after its synchronous reply, so the only way to confirm an
archive is to read the associations back with batch read. The sensor (poke/reschedule) and the
trigger (deferrable) both call `find_still_present`, so the rules live in one place. Airflow-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_hubassoc.client.versions import READ_BATCH_LIMIT
from airflow_provider_hubassoc.models.identifiers import parse_record_id
from airflow_provider_hubassoc.models.summary import VerifyPair

if TYPE_CHECKING:  # annotations only: a DAG file importing the sensor skips these models
    from airflow_provider_hubassoc.models.responses import AssociatedRecord, AssociationReadResult

READ_CHUNK_SIZE = READ_BATCH_LIMIT
# How many still-present pairs a message or a trigger event shows; the count is always exact.
STILL_PRESENT_SAMPLE_SIZE = 20


class AssociationReader(Protocol):
    """What the read-back needs: `HubSpotClient` and `HubSpotHook` both provide it."""

    def read_associations(
        self,
        from_type: str,
        to_type: str,
        ids: Iterable[str | int],
        *,
        api_version: str | None = None,
    ) -> AssociationReadResult: ...


@dataclass
class ReadbackResult:
    """The outcome of one read-back pass.

    `still_present` holds every pair still visible (not a sample): callers narrow the next pass to
    it, because a pair HubSpot shows gone stays gone (nothing of ours re-creates it).
    """

    checked: int = 0
    still_present: list[VerifyPair] = field(default_factory=list)
    read_errors: int = 0

    @property
    def all_gone(self) -> bool:
        return not self.still_present

    def sample(self, size: int = STILL_PRESENT_SAMPLE_SIZE) -> list[dict[str, Any]]:
        """A bounded, JSON-safe sample of the still-present pairs (for messages and events)."""
        return [pair_to_wire(p) for p in self.still_present[:size]]

    def describe(self, size: int = STILL_PRESENT_SAMPLE_SIZE) -> str:
        """One line saying what is still present, e.g. for a timeout message."""
        if self.all_gone:
            return f"all {self.checked} read-back pairs are gone"
        shown = ", ".join(describe_pair(p) for p in self.still_present[:size])
        more = len(self.still_present) - size
        tail = f" and {more} more" if more > 0 else ""
        return f"{len(self.still_present)} of {self.checked} pairs still present: {shown}{tail}"


def pair_to_wire(pair: VerifyPair) -> dict[str, Any]:
    return pair.model_dump(mode="json", by_alias=True)


def describe_pair(pair: VerifyPair) -> str:
    """`1->2` for an association, `1->2 [HUBSPOT_DEFINED/279]` for labels."""
    text = f"{pair.from_id}->{pair.to_id}"
    if pair.types:
        labels = ",".join(f"{c}/{t}" for c, t in sorted(_label_keys(pair.types)))
        text += f" [{labels}]"
    return text


def _label_keys(types: Iterable[dict[str, Any]]) -> set[tuple[str, int]]:
    """(category, typeId) of each label; accepts request spelling and read-back spelling."""
    keys: set[tuple[str, int]] = set()
    for t in types:
        category = t.get("associationCategory", t.get("category"))
        type_id = t.get("associationTypeId", t.get("typeId"))
        if category is None or type_id is None:
            raise ValueError(f"label {t!r} lacks a category or a type id")
        keys.add((str(getattr(category, "value", category)), int(type_id)))
    return keys


LabelIndex = dict[str, set[tuple[str, int]]]


def index_labels(records: Sequence[AssociatedRecord]) -> LabelIndex:
    """to id -> its (category, typeId) labels: built once per from id, so each pair is a look-up
    (a company linked to 10,000 contacts must not cost 10,000 scans per pair)."""
    index: LabelIndex = {}
    for record in records:
        labels = index.setdefault(record.to_object_id, set())
        labels.update(
            (str(getattr(t.category, "value", t.category)), t.type_id) for t in record.association_types
        )
    return index


def is_present(pair: VerifyPair, index: LabelIndex) -> bool:
    """Association archive: any link to `to_id` counts. Label archive: any of the archived labels.

    A label archive of an unlabeled type removes the whole association; then no record is left and
    the pair is correctly seen as gone.
    """
    labels = index.get(parse_record_id(pair.to_id, field="to id"))
    if labels is None:
        return False
    return not pair.types or bool(_label_keys(pair.types) & labels)


def _chunks(pairs: Iterable[VerifyPair], max_from_ids: int) -> Iterator[list[tuple[str, VerifyPair]]]:
    """Consecutive pairs, keyed by canonical from id, grouped to at most `max_from_ids` from ids.

    Streams: a 100k-line report is never held in memory at once.
    """
    chunk: list[tuple[str, VerifyPair]] = []
    from_ids: set[str] = set()
    for pair in pairs:
        from_id = parse_record_id(pair.from_id, field="from id")
        if from_id not in from_ids and len(from_ids) >= max_from_ids:
            yield chunk
            chunk, from_ids = [], set()
        chunk.append((from_id, pair))
        from_ids.add(from_id)
    if chunk:
        yield chunk


def find_still_present(
    reader: AssociationReader,
    from_type: str,
    to_type: str,
    pairs: Iterable[VerifyPair],
    *,
    api_version: str | None = None,
    chunk_size: int = READ_CHUNK_SIZE,
) -> ReadbackResult:
    """Read `pairs` back, one batch read per at most `chunk_size` from ids, and return what is left.

    A from id missing from the read result has no associations left (HubSpot reports such inputs
    as per-input errors in a 207, counted in `read_errors`). HTTP failures raise the client's
    typed errors; the caller decides whether they are fatal.
    """
    if not 1 <= chunk_size <= READ_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be between 1 and {READ_CHUNK_SIZE}, got {chunk_size}")
    result = ReadbackResult()
    for chunk in _chunks(pairs, chunk_size):
        ids = list(dict.fromkeys(from_id for from_id, _ in chunk))
        read = reader.read_associations(from_type, to_type, ids, api_version=api_version)
        result.read_errors += len(read.errors)
        indexes = {from_id: index_labels(records) for from_id, records in read.associations.items()}
        for from_id, pair in chunk:
            result.checked += 1
            if is_present(pair, indexes.get(from_id, {})):
                result.still_present.append(pair)
    return result


def bounded(pairs: Iterable[VerifyPair], limit: int | None) -> list[VerifyPair]:
    """At most `limit` pairs (all of them when `limit` is None)."""
    return list(pairs if limit is None else islice(pairs, limit))
