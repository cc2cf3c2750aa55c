"""The pair store: validated pairs deduplicated and grouped with flat memory, then cut into chunks.

Pairs are spilled to a temporary SQLite file (`INSERT OR IGNORE` on a primary key), so a million
pairs need no Python set. Label-archive rows first hold each label as a text key (see
`operators/labels.py`); `apply_labels` swaps the keys for the checked types inside SQLite, so a
label given by name and by type is still one row. `chunks(batch_size)` then reads the pairs
`ORDER BY from_id, to_id`: a record's pairs sit together, and each chunk is named by a digest of
its pairs, which the checkpoint uses to skip work already done.

API used by the operators (`inputs.load_pairs` fills the store):
    with PairStore() as store:
        report = load_pairs(inputs, store, labels=...)
        for chunk in store.chunks(batch_size): ...   # Chunk(index, pairs, digest, from_ids())
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field

from airflow_provider_hubassoc.models.associations import AssociationCategory, AssociationType, Pair

_BATCH = 5_000  # rows per executemany / fetchmany

# (from id, to id, label key or "" for batch archive, where the row came from)
Row = tuple[str, str, str, str]


@dataclass
class Chunk:
    """The pairs of one request, in canonical order."""

    index: int
    pairs: list[Pair] = field(default_factory=list)
    phase: str | None = None  # the phase of a run of several (a sync): part of the identity

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the phase and the canonical pairs: the chunk's identity in the checkpoint."""
        h = hashlib.sha256()
        if self.phase is not None:
            h.update(f"phase {self.phase}\n".encode())
        for pair in self.pairs:
            h.update(pair.canonical().encode())
            h.update(b"\n")
        return h.hexdigest()

    def from_ids(self) -> list[str]:
        """The distinct from ids, in order: what a read-back of this chunk asks for."""
        return list(dict.fromkeys(p.from_id for p in self.pairs))


_SCHEMA = (
    # The pairs to send; a batch-archive pair has category "" and type id 0.
    "CREATE TABLE pairs (from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, category TEXT NOT NULL,"
    " type_id INTEGER NOT NULL, PRIMARY KEY (from_id, to_id, category, type_id)) WITHOUT ROWID",
    # Label-archive rows before their labels are checked: the label as a key (labels.spec_key).
    "CREATE TABLE keyed (from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, key TEXT NOT NULL,"
    " PRIMARY KEY (from_id, to_id, key)) WITHOUT ROWID",
    # Each distinct label key, in the order first seen, with the input that first named it.
    "CREATE TABLE keys (key TEXT PRIMARY KEY, first_where TEXT NOT NULL)",
    "CREATE TABLE resolved (key TEXT PRIMARY KEY, category TEXT NOT NULL, type_id INTEGER NOT NULL)",
)


def scratch_database(
    name: str, schema: Iterable[str], directory: str | None = None
) -> tuple[str, sqlite3.Connection]:
    """A temporary SQLite file that spills one run's rows to disk (the pair store, a sync's
    difference, an undo plan): no journal and no fsync, since it dies with the run. The caller
    deletes the file."""
    fd, path = tempfile.mkstemp(prefix=f"hubassoc-{name}-", suffix=".sqlite", dir=directory)
    os.close(fd)
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    for statement in schema:
        db.execute(statement)
    return path, db


class PairStore:
    """Unique (from, to, type) rows in a temporary SQLite file, deleted on close."""

    def __init__(self, directory: str | None = None) -> None:
        self.path, self._db = scratch_database("pairs", _SCHEMA, directory)
        self.rows_offered = 0

    # -- filling (inputs.load_pairs) ----------------------------------------------------------
    def add(self, rows: Iterable[Row]) -> None:
        """Spill rows as they stream in; an error raised by `rows` propagates with the store half full."""
        buffer: list[Row] = []
        for row in rows:
            buffer.append(row)
            if len(buffer) >= _BATCH:
                self._flush(buffer)
        self._flush(buffer)
        self._db.commit()

    def _flush(self, buffer: list[Row]) -> None:
        plain = [(int(f), int(t), "", 0) for f, t, key, _ in buffer if not key]
        keyed = [(int(f), int(t), key) for f, t, key, _ in buffer if key]
        self._db.executemany("INSERT OR IGNORE INTO pairs VALUES (?, ?, ?, ?)", plain)
        self._db.executemany("INSERT OR IGNORE INTO keyed VALUES (?, ?, ?)", keyed)
        self._db.executemany(
            "INSERT OR IGNORE INTO keys VALUES (?, ?)", [(key, where) for _, _, key, where in buffer if key]
        )
        self.rows_offered += len(buffer)
        buffer.clear()

    def label_keys(self) -> Generator[tuple[str, str], None, None]:
        """Each distinct label key with the input that first named it, in input order (streamed)."""
        with contextlib.closing(self._db.execute("SELECT key, first_where FROM keys ORDER BY rowid")) as rows:
            for key, where in rows:
                yield str(key), str(where)

    def first_where(self, key: str) -> str | None:
        """The input that first named label `key`."""
        row = self._db.execute("SELECT first_where FROM keys WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def apply_labels(self, resolve: Callable[[str, str], AssociationType]) -> None:
        """Replace every label key with `resolve(key, where)`; a refusal leaves the pairs unsent."""
        keys = self.label_keys()
        with contextlib.closing(keys):  # a refusal stops the read before the store closes
            resolved = ((key, *_type_row(resolve(key, where))) for key, where in keys)
            self._db.executemany("INSERT INTO resolved VALUES (?, ?, ?)", resolved)
        self._db.execute(
            "INSERT OR IGNORE INTO pairs SELECT k.from_id, k.to_id, r.category, r.type_id"
            " FROM keyed AS k JOIN resolved AS r ON r.key = k.key"
        )
        self._db.execute("DELETE FROM keyed")
        self._db.commit()

    # -- counting -----------------------------------------------------------------------------
    @property
    def unique_rows(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM pairs").fetchone()[0])

    @property
    def duplicates(self) -> int:
        """Rows given more than once (the same pair, or the same pair and label)."""
        return self.rows_offered - self.unique_rows

    @property
    def pair_count(self) -> int:
        """The unique (from, to) pairs: the run's `requested` total."""
        query = "SELECT COUNT(*) FROM (SELECT DISTINCT from_id, to_id FROM pairs)"
        return int(self._db.execute(query).fetchone()[0])

    def type_counts(self, category: AssociationCategory, type_ids: Iterable[int]) -> dict[int, int]:
        """How many pairs name each of `type_ids` in `category` (for the unlabeled-type warning)."""
        wanted = set(type_ids)
        rows = self._db.execute(
            "SELECT type_id, COUNT(*) FROM pairs WHERE category = ? GROUP BY type_id", (category.value,)
        ).fetchall()
        return {int(type_id): int(count) for type_id, count in rows if type_id in wanted}

    def digest(self) -> str:
        """sha256 over the stored rows in key order: the same pairs give the same digest whatever
        the input's order or duplicates (a retry checks it still loads its checkpoint's input)."""
        digest = hashlib.sha256()
        cursor = self._db.execute(
            "SELECT from_id, to_id, category, type_id FROM pairs ORDER BY from_id, to_id, category, type_id"
        )
        while rows := cursor.fetchmany(_BATCH):
            digest.update("".join(f"{f}>{t}/{c}/{ty}\n" for f, t, c, ty in rows).encode())
        return digest.hexdigest()

    # -- reading ------------------------------------------------------------------------------
    def iter_pairs(self) -> Iterator[Pair]:
        """Unique pairs ordered by from id, then to id; a pair's types are merged and sorted."""
        cursor = self._db.execute(
            "SELECT from_id, to_id, category, type_id FROM pairs ORDER BY from_id, to_id, category, type_id"
        )
        key: tuple[int, int] | None = None
        types: list[AssociationType] = []
        while rows := cursor.fetchmany(_BATCH):
            for from_id, to_id, category, type_id in rows:
                if key is not None and (from_id, to_id) != key:
                    yield Pair(str(key[0]), str(key[1]), tuple(types))
                    types = []
                key = (from_id, to_id)
                if category:
                    types.append(_stored_type(category, type_id))
        if key is not None:
            yield Pair(str(key[0]), str(key[1]), tuple(types))

    def chunks(self, batch_size: int) -> Iterator[Chunk]:
        """The pairs cut into chunks of at most `batch_size` pairs (and so inputs per request)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        chunk = Chunk(index=0)
        for pair in self.iter_pairs():
            chunk.pairs.append(pair)
            if len(chunk.pairs) >= batch_size:
                yield chunk
                chunk = Chunk(index=chunk.index + 1)
        if chunk.pairs:
            yield chunk

    def close(self) -> None:
        self._db.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> PairStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _type_row(t: AssociationType) -> tuple[str, int]:
    return t.category.value, t.type_id


@functools.lru_cache(maxsize=1024)  # every type in the store is one the labels endpoint lists
def _stored_type(category: str, type_id: int) -> AssociationType:
    """A type read back from the store was validated on the way in: build it without re-validating."""
    return AssociationType.model_construct(category=AssociationCategory(category), type_id=type_id)
