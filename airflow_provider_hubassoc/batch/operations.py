"""The operations a run can carry out, as values: what each sends, what a reply and a dry-run read
mean for each pair, what must be recorded before it is sent, and how it is undone.

The engine (`batch/run.py`) knows none of them by name: it sends `operation.send`, records what
`operation.snapshots` asks for, and reads back with `operation.done_when`. A new operation (sync
adds its own phases) is one more value here, not a new branch in the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from airflow_provider_hubassoc.batch.outcomes import ChunkOutcome, Verdict
from airflow_provider_hubassoc.batch.readback import index_labels, is_present
from airflow_provider_hubassoc.batch.store import Chunk
from airflow_provider_hubassoc.models.associations import (
    STANDARD_OBJECT_TYPE_IDS,
    UNLABELED_TYPE_IDS,
    AssociationType,
    Pair,
)
from airflow_provider_hubassoc.models.responses import ReadError, ReadState

if TYPE_CHECKING:
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.models.responses import AssociationLabel, BatchResult
    from airflow_provider_hubassoc.models.summary import OperationName

Send = Callable[["HubSpotClient", str, str, Sequence[Pair]], "BatchResult"]
# After a write, a read-back proves it: a removal when the pair is gone, a create when it is there.
DoneWhen = Literal["gone", "present"]
TypeKey = tuple[str, int]


@dataclass(frozen=True)
class Operation:
    """One kind of write. `name` is what the report header and the summary call it.

    :param with_labels: inputs name labels (resolved through the labels endpoint before sending).
    :param done_when: what a read-back must see for a pair to be done.
    :param intent: log wording, e.g. "to archive" in "100 unique pairs to archive".
    :param progress_verb: progress lines, e.g. "archived 500/1000 pairs".
    """

    name: OperationName
    send: Send
    with_labels: bool
    done_when: DoneWhen
    intent: str
    progress_verb: str

    @property
    def removes(self) -> bool:
        """A removal is what a snapshot must record before it is sent (HubSpot keeps no bin)."""
        return self.done_when == "gone"

    def check(self, client: HubSpotClient, from_type: str, to_type: str, chunk: Chunk) -> ChunkOutcome:
        """Dry run: what sending the chunk would do, from one batch read (never a write)."""
        read = client.read_associations(from_type, to_type, chunk.from_ids())
        indexes = {from_id: index_labels(records) for from_id, records in read.associations.items()}
        verdicts = [
            _unread(read.error_of(pair.from_id))
            if read.state(pair.from_id) is ReadState.ERRORED
            else self._dry_verdict(pair, indexes.get(pair.from_id, {}))
            for pair in chunk.pairs
        ]
        return ChunkOutcome(chunk, verdicts, sent=False)

    def _dry_verdict(self, pair: Pair, held: dict[str, set[TypeKey]]) -> Verdict:
        if self.removes:
            if is_present(pair, held):
                return Verdict("would_remove")
            what = (
                "none of the requested labels is present" if pair.types else "no association between the pair"
            )
            return Verdict("absent", None, what)
        missing = {(t.category.value, t.type_id) for t in pair.types} - held.get(pair.to_id, set())
        if missing or pair.to_id not in held:
            return Verdict("would_create", None, "would be created")
        return Verdict("present", None, "every type is present already")

    def recorded_types(
        self, pair: Pair, held: Sequence[AssociationLabel], unlabeled: int | None
    ) -> list[AssociationLabel]:
        """What the snapshot records for `pair` before it is sent, given what it holds now.

        A removal records what it removes: everything for a batch archive, or for a label archive
        naming the unlabeled type (HubSpot then drops every label); else only the requested labels
        that exist. A create records everything the pair holds, so its undo removes only what it
        added (and the whole association when the pair had none).
        """
        if not self.removes or not pair.types or _names_unlabeled(pair, unlabeled):
            return list(held)
        wanted = {(t.category.value, t.type_id) for t in pair.types}
        return [label for label in held if (label.category, label.type_id) in wanted]


def _unread(error: ReadError | None) -> Verdict:
    """A dry run cannot say what a record whose read failed would become: skipped, with why."""
    why = error.describe() if error is not None else "an error"
    return Verdict("skipped", "READ_FAILED", f"its read failed ({why}): a dry run cannot tell")


def _names_unlabeled(pair: Pair, unlabeled: int | None) -> bool:
    return any(t.category.value == "HUBSPOT_DEFINED" and t.type_id == unlabeled for t in pair.types)


def unlabeled_type_id(from_type: str, to_type: str) -> int | None:
    """HubSpot's unlabeled type between two object types (names or standard ids), if known."""
    key = (STANDARD_OBJECT_TYPE_IDS.get(from_type, from_type), STANDARD_OBJECT_TYPE_IDS.get(to_type, to_type))
    return UNLABELED_TYPE_IDS.get(key)


def _archive(client: HubSpotClient, from_type: str, to_type: str, pairs: Sequence[Pair]) -> BatchResult:
    return client.archive_associations(from_type, to_type, pairs)


def _archive_labels(
    client: HubSpotClient, from_type: str, to_type: str, pairs: Sequence[Pair]
) -> BatchResult:
    return client.archive_labels(from_type, to_type, pairs)


def _create(client: HubSpotClient, from_type: str, to_type: str, pairs: Sequence[Pair]) -> BatchResult:
    return client.create_associations(from_type, to_type, pairs)


ARCHIVE = Operation("batch_archive", _archive, False, "gone", "to archive", "archived")
ARCHIVE_LABELS = Operation("label_archive", _archive_labels, True, "gone", "to archive", "archived")
CREATE = Operation("batch_create", _create, True, "present", "to create", "created")
OPERATIONS: dict[str, Operation] = {op.name: op for op in (ARCHIVE, ARCHIVE_LABELS, CREATE)}
# The same writes, worded for an undo's logs.
RESTORE = replace(CREATE, intent="to re-create (undo of a removal)", progress_verb="restored")
UNDO_CREATE = replace(ARCHIVE_LABELS, intent="to remove again (undo of a create)", progress_verb="undone")


def undo_of(name: str, pair: Pair, recorded: Sequence[AssociationType]) -> tuple[Operation, Pair] | None:
    """How to undo `pair` of an operation `name`, given its snapshot (`recorded` types).

    A removal is undone by creating what it removed. A create is undone by removing what it added:
    the whole association when the pair had none before (HubSpot may have added the unlabeled type
    itself), else the added labels only. None when there is nothing to undo.
    """
    operation = OPERATIONS.get(name)
    if operation is None:
        return None
    if operation.removes:
        return (CREATE, Pair(pair.from_id, pair.to_id, tuple(recorded))) if recorded else None
    if not recorded:
        return ARCHIVE, Pair(pair.from_id, pair.to_id)
    before = set(recorded)
    added = tuple(t for t in pair.types if t not in before)
    return (ARCHIVE_LABELS, Pair(pair.from_id, pair.to_id, added)) if added else None
