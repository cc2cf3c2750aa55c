"""Snapshot: record what each pair has before a run changes it, so a restore can undo the run.

HubSpot keeps no recycle bin for associations. With `snapshot=True` a run reads, ahead of
sending, what its pairs have (batch read, chunks grouped to at most 1,000 from ids, so reads stay
a small share of requests) and writes one `snapshot` line per pair to the report, flushed to disk,
before any of those pairs' archive requests is sent: a crash between the two never leaves a
removed pair without its record. Runs on the calling thread, as the chunk runner pulls chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow_provider_hubassoc.batch.operations import unlabeled_type_id
from airflow_provider_hubassoc.batch.report import KIND_SNAPSHOT
from airflow_provider_hubassoc.batch.store import Chunk
from airflow_provider_hubassoc.client.errors import HubSpotError
from airflow_provider_hubassoc.client.versions import READ_BATCH_LIMIT
from airflow_provider_hubassoc.models.associations import Pair
from airflow_provider_hubassoc.models.responses import ReadState

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.operations import Operation
    from airflow_provider_hubassoc.batch.report import ReportFile
    from airflow_provider_hubassoc.batch.sender import StopSignal
    from airflow_provider_hubassoc.batch.settings import Target
    from airflow_provider_hubassoc.models.responses import (
        AssociatedRecord,
        AssociationLabel,
        AssociationReadResult,
    )

log = logging.getLogger(__name__)

Held = dict[str, list["AssociationLabel"]]  # to id -> the types linking it
# Chunks held per read: bounds memory when a few from records have very many pairs.
MAX_CHUNKS_PER_READ = 50


def snapshot_line(pair: Pair, types: Sequence[AssociationLabel], operation: str) -> dict[str, Any]:
    """One report line: the pair, the operation about to touch it with the types it requests, and
    each recorded type's category, type id and label (absent: none)."""
    line: dict[str, Any] = {
        "kind": KIND_SNAPSHOT,
        "op": operation,
        "fromId": pair.from_id,
        "toId": pair.to_id,
        "requested": pair.types_wire(),
    }
    line["types"] = [{"category": t.category, "typeId": t.type_id, "label": t.label} for t in types]
    if not types:
        line["absent"] = True
    return line


def _first_unread(result: AssociationReadResult, group: list[Chunk]) -> str | None:
    """The first from record of `group` whose read errored (not a not-found), with its error."""
    for chunk in group:
        for from_id in chunk.from_ids():
            if result.state(from_id) is ReadState.ERRORED:
                error = result.error_of(from_id)
                return f"{from_id} ({error.describe() if error is not None else 'an error'})"
    return None


def _index(records: Sequence[AssociatedRecord]) -> Held:
    held: Held = {}
    for record in records:
        held.setdefault(record.to_object_id, []).extend(record.association_types)
    return held


class Snapshotter:
    """Reads and records what chunks' pairs hold, a group of chunks at a time, before they are sent.

    After a stop, chunks pass through unread (they are not sent). A read that fails after the
    client's retries stops the run: its chunks are yielded after the stop, so they are recorded
    as not attempted, never sent without their snapshot.
    """

    def __init__(
        self,
        target: Target,
        operation: Operation,
        report: ReportFile,
        stop: StopSignal,
        *,
        max_from_ids: int = READ_BATCH_LIMIT,
        max_chunks: int = MAX_CHUNKS_PER_READ,
        read: Callable[[list[str]], AssociationReadResult] | None = None,
    ) -> None:
        self.target, self.operation, self.report, self.stop = target, operation, report, stop
        self.read = read  # default: a batch read of the group's from ids
        self.max_from_ids, self.max_chunks = max_from_ids, max_chunks
        self.unlabeled = unlabeled_type_id(target.from_type, target.to_type)
        self.reads = 0

    def ahead(self, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        """`chunks`, each yielded only once its pairs' snapshot lines are on disk.

        The next group's read runs on a helper thread while this group's chunks are sent, so the
        reads cost request slots, not pauses; the lines are written here, on the caller's thread,
        which also writes the rest of the report.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubassoc-snapshot") as pool:
            waiting: tuple[list[Chunk], Future[AssociationReadResult] | None] | None = None
            for group in self._groups(chunks):
                read = None if self.stop.is_set() else pool.submit(self._read, group)
                if waiting is not None:
                    yield from self._recorded(*waiting)
                waiting = (group, read)
            if waiting is not None:
                yield from self._recorded(*waiting)

    def _groups(self, chunks: Iterator[Chunk]) -> Iterator[list[Chunk]]:
        """Consecutive chunks, at most `max_from_ids` distinct from ids and `max_chunks` a group."""
        group: list[Chunk] = []
        from_ids: set[str] = set()
        for chunk in chunks:
            ids = set(chunk.from_ids())
            if group and (len(from_ids | ids) > self.max_from_ids or len(group) >= self.max_chunks):
                yield group
                group, from_ids = [], set()
            group.append(chunk)
            from_ids |= ids
        if group:
            yield group

    def _read(self, group: list[Chunk]) -> AssociationReadResult:
        ids = list(dict.fromkeys(i for chunk in group for i in chunk.from_ids()))
        if self.read is not None:
            return self.read(ids)
        return self.target.client.read_associations(self.target.from_type, self.target.to_type, ids)

    def _recorded(self, group: list[Chunk], read: Future[AssociationReadResult] | None) -> Iterator[Chunk]:
        """The group's chunks, after its lines are written (after a stop, unread: not sent)."""
        if read is not None and not self.stop.is_set():
            self._record(group, read)
        yield from group

    def _record(self, group: list[Chunk], read: Future[AssociationReadResult]) -> None:
        try:
            result = read.result()
        except HubSpotError as err:
            self.stop.set(f"the snapshot read failed ({type(err).__name__}): nothing more is sent", err)
            return
        self.reads += 1
        unread = _first_unread(result, group)
        if unread is not None:  # recording it as having nothing would make its undo lose it
            self.stop.set(f"the snapshot read of record {unread} failed: nothing more is sent")
            return
        self._write(group, result)

    def _write(self, group: list[Chunk], result: AssociationReadResult) -> None:
        indexes = {from_id: _index(records) for from_id, records in result.associations.items()}
        for chunk in group:
            for pair in chunk.pairs:
                held = indexes.get(pair.from_id, {}).get(pair.to_id, [])
                recorded = self.operation.recorded_types(pair, held, self.unlabeled)
                self.report.write(snapshot_line(pair, recorded, self.operation.name))
        self.report.sync()
        if self.report.write_error is not None:
            self.stop.set("the report could not be written", self.report.write_error)
