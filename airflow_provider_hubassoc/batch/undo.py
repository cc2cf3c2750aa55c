"""The undo plan: what a report says its run changed, turned into the pairs that put it back.

A run with `snapshot=True` writes, before each chunk is sent, what each pair had (a removal: what
it removes; a create: everything the pair held). A pair is undone when its run changed it or may
have: `confirmed`, `accepted`, done by an earlier attempt, in doubt (snapshot written, then a
crash before its outcome), or `failed` without proof that it was not applied (a request that got
no 2xx reply may still have been applied). Only a pair HubSpot named in a per-input error
(`notApplied`), a pair never attempted, and a dry run's pairs are left alone. Undoing what did not
happen is safe: creating what exists, or removing what is gone, changes nothing.

The report is streamed once into a temporary SQLite file, so memory stays flat at a million pairs;
each pair's first snapshot wins (a retry re-reads as absent what an earlier attempt removed) and
its last pair line is its outcome. A damaged line, or a hand-edited bad id, is refused naming the
report line.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_hubassoc.batch.inputs import LoadReport
from airflow_provider_hubassoc.batch.labels import UNLABELED_KEY, LabelCatalog, spec_key
from airflow_provider_hubassoc.batch.operations import (
    ARCHIVE,
    OPERATIONS,
    RESTORE,
    UNDO_CREATE,
    Operation,
    undo_of,
    unlabeled_type_id,
)
from airflow_provider_hubassoc.batch.report import (
    ACCEPTED,
    CONFIRMED,
    DONE_EARLIER,
    FAILED,
    KIND_HEADER,
    KIND_PAIR,
    KIND_SNAPSHOT,
    iter_numbered_objects,
    pair_status,
    snapshot_types,
)
from airflow_provider_hubassoc.batch.store import PairStore, Row, scratch_database
from airflow_provider_hubassoc.models.account import Account
from airflow_provider_hubassoc.models.associations import AssociationType, Pair, pair_of_line
from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_object_type
from airflow_provider_hubassoc.models.summary import OperationName

IN_DOUBT = "in_doubt"  # a snapshot without a pair line: the run crashed between the two
# In a phase's `ops`: the creates of this op whose undo removed the pair whole although it held
# types before (see `_recreated`), so the re-create phase puts those types back.
RECREATE = "recreate:"
UNDONE_STATUSES = (CONFIRMED, ACCEPTED, DONE_EARLIER, IN_DOUBT)
Key = tuple[str, str]
_BATCH = 5_000

_SCHEMA = (
    "CREATE TABLE snap (from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, op TEXT NOT NULL,"
    " types TEXT NOT NULL, requested TEXT NOT NULL, line INTEGER NOT NULL,"
    " PRIMARY KEY (from_id, to_id, op)) WITHOUT ROWID",
    "CREATE TABLE outcome (from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, op TEXT NOT NULL,"
    " status TEXT NOT NULL, PRIMARY KEY (from_id, to_id, op)) WITHOUT ROWID",
)


class UndoRefusedError(InputValidationError):
    """The report cannot be undone (another run's kind, a dry run, no snapshot): names the report."""


@dataclass
class UndoPlan:
    """A report read into a temporary SQLite file; `rows` streams the pairs that undo it."""

    path: str
    header: dict[str, Any] = field(default_factory=dict)
    snapshots: int = 0
    _db: sqlite3.Connection | None = None
    _file: str | None = None

    def undo_operations(self) -> list[tuple[Operation, frozenset[str]]]:
        """What undoes the report's run, phase by phase, with the operations each one undoes:
        a label archive undoes the creates, then a create the removals (a sync had both).

        Creates are undone first: removing an added unlabeled type removes every label of the pair
        (HubSpot's rule), so what the pair held before must be created after that, not before.
        """
        assert self._db is not None, "read_undo_plan fills the plan first"
        recorded = {str(op) for (op,) in self._db.execute("SELECT DISTINCT op FROM snap")}
        removals = frozenset(op for op in recorded if OPERATIONS[op].removes)
        creates = frozenset(recorded - removals)
        recreate = removals | {RECREATE + op for op in creates} if removals else frozenset()
        phases = [(UNDO_CREATE, creates), (RESTORE, recreate)]
        return [(operation, ops) for operation, ops in phases if ops]

    @property
    def kind(self) -> OperationName:
        """What the undo run is called in its own report: its one operation, or a sync."""
        operations = self.undo_operations()
        return operations[0][0].name if len(operations) == 1 else "sync"

    @property
    def account(self) -> Account:
        return Account.from_json(self.header.get("account"))

    @property
    def object_types(self) -> tuple[str, str]:
        return str(self.header.get("fromObjectType")), str(self.header.get("toObjectType"))

    def rows(self, keep: Callable[[Key], bool], ops: frozenset[str]) -> Iterator[Row]:
        """Store rows (one per pair and type) of every pair that `keep` accepts, changed by one of
        `ops`, to undo."""
        assert self._db is not None, "read_undo_plan fills the plan first"
        query = (
            "SELECT s.from_id, s.to_id, s.op, s.types, s.requested, s.line, o.status FROM snap s"
            " LEFT JOIN outcome o USING (from_id, to_id, op) WHERE instr(?, ',' || s.op || ',') > 0"
            " ORDER BY s.from_id, s.to_id, s.op"
        )
        names = {op.removeprefix(RECREATE) for op in ops}
        unlabeled = unlabeled_type_id(*self.object_types)
        with contextlib.closing(self._db.execute(query, ("," + ",".join(sorted(names)) + ",",))) as cursor:
            while batch := cursor.fetchmany(_BATCH):
                for from_id, to_id, op, recorded, requested, line, status in batch:
                    key = (str(from_id), str(to_id))
                    if not keep(key) or (status or IN_DOUBT) not in UNDONE_STATUSES:
                        continue
                    if op in ops:
                        yield from _undo_rows(self.path, key, op, recorded, requested, line, unlabeled)
                    elif RECREATE + op in ops:
                        yield from _recreated(self.path, key, recorded, requested, line, unlabeled)

    def load(
        self,
        store: PairStore,
        catalog: LabelCatalog,
        keep: Callable[[Key], bool],
        ops: frozenset[str],
        *,
        fail_on_empty: bool,
    ) -> LoadReport:
        """Fill a phase's store with its undo pairs, every recorded type checked by `catalog`."""
        store.add(self.rows(keep, ops))
        store.apply_labels(catalog.resolve)
        description = f"undo of report {self.path!r} ({self.snapshots} pairs recorded)"
        if fail_on_empty and not store.pair_count:
            raise InputValidationError(f"{description}: nothing to undo, and fail_on_empty is set")
        return LoadReport(description, store.pair_count, store.duplicates, [], store.digest())

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._file)
            self._file = None

    def __enter__(self) -> UndoPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _types(text: str) -> tuple[AssociationType, ...]:
    return tuple(AssociationType.model_validate(t) for t in json.loads(text))


def _undo_rows(
    path: str, key: Key, op: str, recorded: str, requested: str, line: int, unlabeled: int | None
) -> Iterator[Row]:
    """The store rows undoing one pair, named by its snapshot's report line."""
    where = f"report {path!r} line {line}"
    before, types = _types(recorded), _types(requested)
    undo = undo_of(op, Pair(key[0], key[1], types), before)
    if undo is None:
        return
    operation, pair = undo
    keys = [spec_key(t) for t in pair.types]
    if operation is ARCHIVE:  # the pair had nothing before: remove it whole, labels and all
        keys = [UNLABELED_KEY, *(spec_key(t) for t in types)]
    elif _adds_unlabeled(before, pair.types, unlabeled):  # removing it removes the pair whole
        keys = [UNLABELED_KEY, *keys]
    for label_key in keys:
        yield pair.from_id, pair.to_id, label_key, where


def _adds_unlabeled(
    before: Sequence[AssociationType], added: Sequence[AssociationType], unlabeled: int | None
) -> bool:
    """A create gave the unlabeled type to a pair that held labels without it (a state HubSpot
    itself does not keep, but a seeded account or an older API may): its undo removes the pair
    whole, and the re-create phase puts back what it held."""

    def is_unlabeled(t: AssociationType) -> bool:
        return t.category.value == "HUBSPOT_DEFINED" and t.type_id == unlabeled

    return bool(before) and any(is_unlabeled(t) for t in added) and not any(is_unlabeled(t) for t in before)


def _recreated(
    path: str, key: Key, recorded: str, requested: str, line: int, unlabeled: int | None
) -> Iterator[Row]:
    """What a create's undo removed whole although the pair held it before: created again."""
    before = _types(recorded)
    added = tuple(t for t in _types(requested) if t not in set(before))
    if not _adds_unlabeled(before, added, unlabeled):
        return
    where = f"report {path!r} line {line}"
    for t in before:
        yield key[0], key[1], spec_key(t), where


def read_undo_plan(path: str) -> UndoPlan:
    """Read a report in one streaming pass. Raises `UndoRefusedError` / `InputValidationError`
    (naming the report line) and `ReportUnreadableError`."""
    file, db = scratch_database("undo", _SCHEMA)
    plan = UndoPlan(path, _db=db, _file=file)
    try:
        _fill(plan, db)
        _check_undoable(plan)
    except BaseException:
        plan.close()
        raise
    return plan


def _fill(plan: UndoPlan, db: sqlite3.Connection) -> None:
    snaps: list[tuple[Any, ...]] = []
    outcomes: list[tuple[Any, ...]] = []
    kinds = (KIND_HEADER, KIND_PAIR, KIND_SNAPSHOT)
    for number, line in iter_numbered_objects(plan.path, kinds):
        if line["kind"] == KIND_HEADER:
            plan.header = plan.header or line
            continue
        default_op = str(plan.header.get("operation"))
        where = f"report {plan.path!r} line {number}"
        pair = pair_of_line(line, where) if line["kind"] == KIND_PAIR else _snapshot_pair(line, where)
        op = str(line.get("op") or default_op)
        ids = (int(pair.from_id), int(pair.to_id), op)
        if line["kind"] == KIND_PAIR:
            outcomes.append((*ids, _outcome(line)))
        else:
            requested = _types_json(pair_of_line({**line, "types": line.get("requested")}, where).types)
            snaps.append((*ids, _types_json(pair.types), requested, number))
        if len(snaps) + len(outcomes) >= _BATCH:
            _flush(db, snaps, outcomes, plan)
    _flush(db, snaps, outcomes, plan)
    db.commit()


def _snapshot_pair(line: dict[str, Any], where: str) -> Pair:
    ids = pair_of_line({"fromId": line.get("fromId"), "toId": line.get("toId")}, where)
    return Pair(ids.from_id, ids.to_id, snapshot_types(line, where))


def _outcome(line: dict[str, Any]) -> str:
    """The pair line's status for the undo: a failure HubSpot named is the one sure "not applied"."""
    status = pair_status(line)
    if status == FAILED and not line.get("notApplied"):
        return IN_DOUBT
    return status


def _types_json(types: Iterable[AssociationType]) -> str:
    return json.dumps([{"category": t.category.value, "typeId": t.type_id} for t in types])


def _flush(
    db: sqlite3.Connection, snaps: list[tuple[Any, ...]], outcomes: list[tuple[Any, ...]], plan: UndoPlan
) -> None:
    cursor = db.executemany("INSERT OR IGNORE INTO snap VALUES (?, ?, ?, ?, ?, ?)", snaps)
    plan.snapshots += max(cursor.rowcount, 0)
    db.executemany("INSERT OR REPLACE INTO outcome VALUES (?, ?, ?, ?)", outcomes)
    snaps.clear()
    outcomes.clear()


def _check_undoable(plan: UndoPlan) -> None:
    header = plan.header
    if header.get("operation") not in (*OPERATIONS, "sync"):
        raise UndoRefusedError(
            f"undo_report_path {plan.path!r} is not the report of a run this provider can undo"
        )
    if header.get("dryRun"):
        raise UndoRefusedError(f"undo_report_path {plan.path!r} is a dry run's report: it changed nothing")
    if not plan.snapshots:
        raise UndoRefusedError(
            f"undo_report_path {plan.path!r} has no snapshot: the run did not record what it changed "
            "(run it with snapshot=True to make it undoable)"
        )


def check_object_types(plan: UndoPlan, from_type: str | None, to_type: str | None) -> tuple[str, str]:
    """The report's object types; refuses others given explicitly (an undo uses the same ones)."""
    recorded = plan.object_types
    names = ("from_object_type", "to_object_type")
    for given, found, name in zip((from_type, to_type), recorded, names, strict=True):
        if given and parse_object_type(given, field=name) != found:
            raise UndoRefusedError(
                f"undo_report_path {plan.path!r} is from a {recorded[0]} -> {recorded[1]} run, but "
                f"{name} is {given!r}: an undo changes associations between the same types"
            )
    return recorded
