"""Dedup, grouping and chunking of pairs with flat memory.

Pairs are spilled to a temporary SQLite database (`INSERT OR IGNORE` on a primary key), so a
million pairs need no Python set; iterating `ORDER BY from_id` then groups a record's pairs
into one batch-archive input. A chunk is at most `batch_size` pairs and is named by a digest
of its canonical pairs, which the checkpoint uses to skip work already done.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from airflow_provider_hubassoc.models.associations import (
    AssociationCategory,
    AssociationType,
    BatchArchiveInput,
    LabelArchiveInput,
    Pair,
)

_INSERT_BATCH = 5_000


@dataclass
class Chunk:
    """The pairs of one request, in canonical order."""

    index: int
    pairs: list[Pair] = field(default_factory=list)

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the canonical pairs: the chunk's identity in the checkpoint (computed once)."""
        h = hashlib.sha256()
        for pair in self.pairs:
            h.update(pair.canonical().encode())
            h.update(b"\n")
        return h.hexdigest()

    def batch_inputs(self) -> list[BatchArchiveInput]:
        """Group by from record: one input with many to ids (pairs are sorted by from id)."""
        inputs: list[BatchArchiveInput] = []
        current: str | None = None
        to_ids: list[str] = []
        for pair in self.pairs:
            if pair.from_id != current and current is not None:
                inputs.append(BatchArchiveInput(from_id=current, to_ids=tuple(to_ids)))
                to_ids = []
            current = pair.from_id
            to_ids.append(pair.to_id)
        if current is not None:
            inputs.append(BatchArchiveInput(from_id=current, to_ids=tuple(to_ids)))
        return inputs

    def label_inputs(self) -> list[LabelArchiveInput]:
        return [LabelArchiveInput(from_id=p.from_id, to_id=p.to_id, types=p.types) for p in self.pairs]

    def from_ids(self) -> list[str]:
        return list(dict.fromkeys(p.from_id for p in self.pairs))


class PairStore:
    """Unique (from, to, type) rows in a temporary SQLite file, deleted on close."""

    def __init__(self, directory: str | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix="hubassoc-pairs-", suffix=".sqlite", dir=directory)
        os.close(fd)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE pairs (from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, category TEXT NOT NULL,"
            " type_id INTEGER NOT NULL, PRIMARY KEY (from_id, to_id, category, type_id)) WITHOUT ROWID"
        )
        self.rows_offered = 0

    def add(self, rows: Iterable[tuple[str, str, tuple[AssociationType, ...]]]) -> None:
        """Add pairs; a pair with no types is stored once with an empty category."""
        buffer: list[tuple[int, int, str, int]] = []
        for from_id, to_id, types in rows:
            if types:
                for t in types:
                    buffer.append((int(from_id), int(to_id), t.category.value, t.type_id))
            else:
                buffer.append((int(from_id), int(to_id), "", 0))
            if len(buffer) >= _INSERT_BATCH:
                self._flush(buffer)
        self._flush(buffer)
        self._db.commit()

    def _flush(self, buffer: list[tuple[int, int, str, int]]) -> None:
        if buffer:
            self._db.executemany("INSERT OR IGNORE INTO pairs VALUES (?, ?, ?, ?)", buffer)
            self.rows_offered += len(buffer)
            buffer.clear()

    @property
    def unique_rows(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM pairs").fetchone()[0])

    @property
    def duplicates(self) -> int:
        """Rows given more than once (the same pair, or the same pair and label)."""
        return self.rows_offered - self.unique_rows

    @property
    def pair_count(self) -> int:
        query = "SELECT COUNT(*) FROM (SELECT DISTINCT from_id, to_id FROM pairs)"
        return int(self._db.execute(query).fetchone()[0])

    def iter_pairs(self) -> Iterator[Pair]:
        """Unique pairs ordered by from id, then to id; a pair's types are merged."""
        cursor = self._db.execute(
            "SELECT from_id, to_id, category, type_id FROM pairs ORDER BY from_id, to_id, category, type_id"
        )
        key: tuple[int, int] | None = None
        types: list[AssociationType] = []
        while True:
            rows = cursor.fetchmany(_INSERT_BATCH)
            if not rows:
                break
            for from_id, to_id, category, type_id in rows:
                if key is not None and (from_id, to_id) != key:
                    yield Pair(str(key[0]), str(key[1]), tuple(types))
                    types = []
                key = (from_id, to_id)
                if category:
                    types.append(AssociationType(category=AssociationCategory(category), type_id=type_id))
        if key is not None:
            yield Pair(str(key[0]), str(key[1]), tuple(types))

    def close(self) -> None:
        self._db.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> PairStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_chunks(pairs: Iterable[Pair], batch_size: int) -> Iterator[Chunk]:
    """Cut the ordered pairs into chunks of at most `batch_size` pairs (and so inputs)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    chunk = Chunk(index=0)
    for pair in pairs:
        chunk.pairs.append(pair)
        if len(chunk.pairs) >= batch_size:
            yield chunk
            chunk = Chunk(index=chunk.index + 1)
    if chunk.pairs:
        yield chunk
