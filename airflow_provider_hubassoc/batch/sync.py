"""Association sync: the difference between a desired table and HubSpot, inside a scope, as phases.

`plan_sync` reads the desired rows (any input kind: one row per label, a row without a label
means the pair with no label), takes the scope (their from ids plus an optional `scope` input of
from ids), reads what HubSpot holds for every from id in scope (batch read, 1,000 ids a request,
each record's pages followed) and computes the difference inside one temporary SQLite file, so
memory stays flat at a million rows. Nothing outside the scope is read or changed.

The rules (`mirror`; `upsert` only adds):
- every desired pair carries the unlabeled type as well (HubSpot cannot keep a label without it);
- a desired type the pair lacks is created (one create input per pair, with all its missing types);
- a type the pair holds that no row asks for is removed with labels archive, never the unlabeled
  type (removing it would drop every label of a pair that stays);
- a pair in scope that no row names is removed whole (batch archive);
- a from record whose read errored (any error but not-found) is not synced at all: its desired
  pairs end `failed` with HubSpot's error, nothing of it is sent.

`SyncPlan.phases` turns the difference into the engine's phases, safest first: creates, then label
removals, then removals. Their snapshots record from the plan's own read (taken before the first
write), so a restore of the sync's report returns the scope to what was read.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from airflow_provider_hubassoc.batch.fields import FROM_KEYS, KEYS, with_field_keys
from airflow_provider_hubassoc.batch.inputs import MAX_MESSAGE, LoadReport, PairInput, parse_input
from airflow_provider_hubassoc.batch.labels import UNLABELED_KEY, LabelCatalog, spec_key
from airflow_provider_hubassoc.batch.operations import ARCHIVE, ARCHIVE_LABELS, CREATE, Operation
from airflow_provider_hubassoc.batch.outcomes import ChunkOutcome, Verdict
from airflow_provider_hubassoc.batch.run import Phase
from airflow_provider_hubassoc.batch.sources import is_file_input, iter_inputs, text_lines
from airflow_provider_hubassoc.batch.sql_source import SqlSource
from airflow_provider_hubassoc.batch.store import Chunk, PairStore, Row, scratch_database
from airflow_provider_hubassoc.client.versions import READ_BATCH_LIMIT
from airflow_provider_hubassoc.models.associations import AssociationCategory, AssociationType
from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id, short_repr
from airflow_provider_hubassoc.models.responses import AssociationReadResult, Link, ReadState, link_types
from airflow_provider_hubassoc.models.summary import PairStatus

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.settings import Target

log = logging.getLogger(__name__)

Mode = Literal["mirror", "upsert"]
MODES: tuple[Mode, ...] = ("mirror", "upsert")
UNREAD_PHASE = "unread"  # the phase recording the desired pairs of records that could not be read
UNREAD_CATEGORY = "READ_FAILED"
_BATCH = 5_000
_HUBSPOT = AssociationCategory.HUBSPOT_DEFINED.value
_KNOWN_CATEGORIES = tuple(c.value for c in AssociationCategory)

_SCHEMA = (
    "CREATE TABLE scope (from_id INTEGER PRIMARY KEY)",
    # What HubSpot holds now for the from ids in scope; `unl`: the type is the unlabeled one.
    "CREATE TABLE cur (from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, category TEXT NOT NULL,"
    " type_id INTEGER NOT NULL, label TEXT, unl INTEGER NOT NULL,"
    " PRIMARY KEY (from_id, to_id, category, type_id)) WITHOUT ROWID",
    "CREATE TABLE unread (from_id INTEGER PRIMARY KEY, category TEXT NOT NULL, message TEXT NOT NULL)",
    # Every desired type of every desired pair (the unlabeled type included).
    "CREATE TABLE want (from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, category TEXT NOT NULL,"
    " type_id INTEGER NOT NULL, PRIMARY KEY (from_id, to_id, category, type_id)) WITHOUT ROWID",
    # The difference: kind 'create' (a type to add), 'unlabel' (a label to remove), 'remove' (a
    # whole pair, category '' and type id 0).
    "CREATE TABLE act (kind TEXT NOT NULL, from_id INTEGER NOT NULL, to_id INTEGER NOT NULL,"
    " category TEXT NOT NULL, type_id INTEGER NOT NULL,"
    " PRIMARY KEY (kind, from_id, to_id, category, type_id)) WITHOUT ROWID",
)


_HELD = "SELECT from_id, to_id, category, type_id, label FROM cur"


class MaxRemovalsExceededError(InputValidationError):
    """The sync would remove more than `max_removals` allows: refused before any write."""


# -- arguments ------------------------------------------------------------------------------------


def check_mode(mode: Any) -> Mode:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    return mode  # type: ignore[no-any-return]


def check_max_removals(value: Any) -> None:
    """None (no cap), an int count >= 0, or a float fraction in [0, 1] of the scope's current pairs."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"max_removals must be an int count or a float fraction, got {value!r}")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"max_removals must be a count of at least 0, got {value}")
    if isinstance(value, float) and not 0.0 <= value <= 1.0:
        raise ValueError(f"max_removals as a float is a fraction between 0 and 1, got {value}")


def removal_cap(max_removals: int | float | None, current_pairs: int) -> int | None:
    """The most pairs the run may take anything from (None: no cap)."""
    if max_removals is None:
        return None
    if isinstance(max_removals, float):
        return int(max_removals * current_pairs)
    return max_removals


# -- the plan ---------------------------------------------------------------------------------------


@dataclass
class SyncStats:
    """The difference in numbers: what the summary's `sync` and the report's header show.

    Pairs: `toCreate` (absent now), `toRelabel` (present, gaining or losing labels), `toRemove`
    (present, removed whole), `unchanged` (desired and already as desired), `unread` (desired
    pairs of from records whose read failed: not synced). Labels: `labelsToAdd`, `labelsToRemove`.
    `removals` is what `max_removals` is judged on: pairs losing anything (removed or relabelled
    away from a label). `leftAlone` (upsert only): pairs and labels a mirror would remove.
    """

    mode: Mode = "mirror"
    scope_from_ids: int = 0
    desired_pairs: int = 0
    desired_rows: int = 0
    duplicates: int = 0
    current_pairs: int = 0
    to_create: int = 0
    to_relabel: int = 0
    to_remove: int = 0
    unchanged: int = 0
    unread: int = 0
    unread_from_ids: int = 0
    labels_to_add: int = 0
    labels_to_remove: int = 0
    removals: int = 0
    max_removals: int | float | None = None
    removal_cap: int | None = None
    left_alone: int = 0
    reads: int = 0
    unread_sample: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        return {_camel(k): v for k, v in out.items()}

    def describe(self) -> str:
        return (
            f"sync ({self.mode}) of {self.scope_from_ids} from records: {self.desired_pairs} desired pairs, "
            f"{self.current_pairs} present now; {self.to_create} to create, {self.to_relabel} to relabel "
            f"(+{self.labels_to_add} labels, -{self.labels_to_remove}), {self.to_remove} to remove, "
            f"{self.unchanged} unchanged, {self.unread} not synced (their record could not be read)"
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class SyncRequest:
    """What to sync: the desired rows, the optional scope input, the mode and the removal cap."""

    inputs: Any
    scope: Any = None
    mode: Mode = "mirror"
    max_removals: int | float | None = None
    fail_on_empty: bool = False


class SyncPlan:
    """The difference in a temporary SQLite file (deleted on close), and the phases that apply it."""

    def __init__(self, directory: str | None = None) -> None:
        self.path, self._db = scratch_database("sync", _SCHEMA, directory)
        self._lock = threading.Lock()  # the snapshot reads from its helper thread
        self.stats = SyncStats()
        self.digest = ""  # of the desired rows, scope and mode: a retry's checkpoint key
        self.unlabeled: set[int] = set()  # the unlabeled type ids the labels list names
        self.description = ""

    # -- the phases ---------------------------------------------------------------------------
    def phases(self, *, dry_run: bool) -> list[Phase]:
        """Creates, label removals, removals (mirror), then the pairs that could not be read."""
        phases = [Phase(CREATE, self._loader("create"), read_held=self.held, decide=_dry(CREATE, dry_run))]
        if self.stats.mode == "mirror":
            phases.append(
                Phase(
                    ARCHIVE_LABELS,
                    self._loader("unlabel"),
                    read_held=self.held,
                    decide=_dry(ARCHIVE_LABELS, dry_run),
                )
            )
            phases.append(
                Phase(ARCHIVE, self._loader("remove"), read_held=self.held, decide=_dry(ARCHIVE, dry_run))
            )
        if self.stats.unread:
            phases.append(Phase(CREATE, self._unread_loader, label=UNREAD_PHASE, decide=self._unread_outcome))
        return phases

    def _loader(self, kind: str) -> Callable[[PairStore], LoadReport]:
        def load(store: PairStore) -> LoadReport:
            store.add(self._act_rows(kind))
            store.apply_labels(_type_of_key)
            return LoadReport(f"{self.description}: {kind}", store.pair_count, 0, [], self.digest)

        return load

    def _act_rows(self, kind: str) -> Iterator[Row]:
        query = "SELECT from_id, to_id, category, type_id FROM act WHERE kind = ? ORDER BY from_id, to_id"
        for from_id, to_id, category, type_id in self._stream(query, (kind,)):
            key = f"type:{category}:{type_id}" if category else ""
            yield str(from_id), str(to_id), key, "sync plan"

    def _unread_loader(self, store: PairStore) -> LoadReport:
        query = (
            "SELECT DISTINCT w.from_id, w.to_id FROM want w JOIN unread u USING (from_id)"
            " ORDER BY w.from_id, w.to_id"
        )
        store.add((str(f), str(t), "", "sync plan") for f, t in self._stream(query, ()))
        return LoadReport(f"{self.description}: unread", store.pair_count, 0, [], self.digest)

    def _unread_outcome(self, chunk: Chunk) -> ChunkOutcome:
        """Pairs of a from record whose read errored: never sent, failed with HubSpot's error."""
        reasons: dict[str, str] = {}
        with self._lock:
            for from_id in chunk.from_ids():
                row = self._db.execute(
                    "SELECT category, message FROM unread WHERE from_id = ?", (int(from_id),)
                ).fetchone()
                reasons[from_id] = f"{row[0]}: {row[1]}" if row else "unknown"
        verdicts = [
            Verdict(
                "failed",
                UNREAD_CATEGORY,
                f"not synced: HubSpot's batch read of from record {p.from_id} failed ({reasons[p.from_id]}), "
                "so what it holds is unknown",
                not_applied=True,
            )
            for p in chunk.pairs
        ]
        return ChunkOutcome(chunk, verdicts, sent=False)

    def held(self, from_ids: list[str]) -> AssociationReadResult:
        """What the plan read for `from_ids` before the first write: what each phase's snapshot
        records (a fresh read would see the earlier phases' writes)."""
        links: dict[str, list[Link]] = {i: [] for i in from_ids}
        ids = [int(i) for i in from_ids]
        with self._lock:
            for start in range(0, len(ids), 900):
                part = ids[start : start + 900]
                marks = ",".join("?" * len(part))  # placeholders only
                query = f"{_HELD} WHERE from_id IN ({marks}) ORDER BY from_id, to_id"
                rows = self._db.execute(query, part).fetchall()
                by_pair: dict[tuple[str, str], list[Any]] = {}
                for f, t, category, type_id, label in rows:
                    by_pair.setdefault((str(f), str(t)), []).extend((category, type_id, label))
                for (f, t), types in by_pair.items():
                    links[f].append((t, *types))
        return AssociationReadResult(links={k: tuple(v) for k, v in links.items()})

    # -- helpers ------------------------------------------------------------------------------
    def _stream(self, query: str, args: Sequence[Any]) -> Generator[tuple[Any, ...], None, None]:
        """Rows in batches; the lock is held only while a batch is fetched."""
        with self._lock:
            cursor = self._db.execute(query, args)
        with contextlib.closing(cursor):
            while True:
                with self._lock:
                    batch = cursor.fetchmany(_BATCH)
                if not batch:
                    return
                yield from batch

    def scalar(self, query: str, args: Sequence[Any] = ()) -> int:
        with self._lock:
            return int(self._db.execute(query, args).fetchone()[0])

    def close(self) -> None:
        self._db.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> SyncPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dry(operation: Operation, dry_run: bool) -> Callable[[Chunk], ChunkOutcome] | None:
    """A dry run's verdicts come from the plan (no second read): each pair would change."""
    if not dry_run:
        return None
    status: PairStatus = "would_remove" if operation.removes else "would_create"
    what = {"batch_create": "types would be added", "label_archive": "labels would be removed"}
    message = what.get(operation.name, "the association would be removed")

    def decide(chunk: Chunk) -> ChunkOutcome:
        return ChunkOutcome(chunk, [Verdict(status, None, message)] * len(chunk.pairs), sent=False)

    return decide


def _type_of_key(key: str, where: str) -> AssociationType:
    """A plan's type key back to its type: already checked (the labels list, or HubSpot's read)."""
    category, _, type_id = key.removeprefix("type:").partition(":")
    return AssociationType.model_construct(category=AssociationCategory(category), type_id=int(type_id))


# -- reading the desired rows and the scope ----------------------------------------------------------


def _records(inputs: Any) -> Generator[tuple[str, Any], None, None]:
    yield from inputs.records() if isinstance(inputs, SqlSource) else iter_inputs(inputs)


def _describe(inputs: Any, count: int, noun: str) -> str:
    if isinstance(inputs, SqlSource):
        return f"{noun} {inputs.describe()} ({count} rows)"
    return f"{noun} file {inputs}" if is_file_input(inputs) else f"{noun} list of {count} items"


def _parse_row(item: Any, where: str) -> PairInput:
    try:
        return PairInput.model_validate(item)
    except ValidationError:
        parse_input(item, where=where, with_labels=False)  # raises the refusal, naming `where`
        raise


def _desired_rows(items: Iterable[tuple[str, Any]], counter: list[int]) -> Iterator[Row]:
    """Store rows: one per pair and label; a row without a label stands for the unlabeled type."""
    for where, item in items:
        counter[0] += 1
        parsed = _parse_row(item, f"inputs {where}")
        keys = [spec_key(spec) for spec in parsed.labels] or [UNLABELED_KEY]
        for to_id in parsed.to_ids:
            for key in keys:
                yield parsed.from_id, to_id, key, f"inputs {where}"


def _scope_records(scope: Any) -> Generator[tuple[str, Any], None, None]:
    """The scope's items: a one-column CSV (`from_id` header, no to column) is read here; every
    other kind as `inputs` is."""
    name = str(scope) if is_file_input(scope) else ""
    if not name.split("?", 1)[0].lower().endswith(".csv"):
        yield from _records(scope)
        return
    reader = csv.reader(text for _, text in text_lines(name))
    header: list[str] | None = None
    for row in reader:
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        where = f"{name} line {reader.line_num}"
        if header is None:
            header = cells
            continue
        yield where, dict(zip(header, cells, strict=False))


def _scope_id(item: Any, where: str) -> int:
    """A scope item: a from id, or a record naming one (`from_id` / `fromId` / `from` / `id`)."""
    if isinstance(item, Mapping):
        record = with_field_keys(item)
        keys = [k for k in (KEYS["from id"], "id") if k in record]
        if not keys:
            raise InputValidationError(
                f"scope {where}: {short_repr(item)} names no from id ({'/'.join(FROM_KEYS)} or id)"
            )
        item = record[keys[0]]
        if isinstance(item, Mapping) and "id" in item:
            item = item["id"]
    return int(parse_record_id(item, field=f"scope {where}"))


def _bounded(err: InputValidationError) -> InputValidationError:
    text = str(err)
    if len(text) <= MAX_MESSAGE:
        return err
    return type(err)(text[: MAX_MESSAGE - 3] + "...")


# -- planning -------------------------------------------------------------------------------------


def plan_sync(
    target: Target,
    request: SyncRequest,
    *,
    max_concurrency: int = 4,
    read_batch: int = READ_BATCH_LIMIT,
) -> SyncPlan:
    """Read the desired rows and the scope, read HubSpot for the scope, compute the difference.

    Raises `InputValidationError` (naming the input) before any request when the input is bad,
    `MaxRemovalsExceededError` when the difference removes more than allowed (a dry run is not
    refused: its stats say so), and the client's typed errors when HubSpot cannot be read.
    """
    plan = SyncPlan()
    try:
        with PairStore() as desired:
            _load_desired(plan, desired, request)
            if plan.stats.desired_rows or plan.stats.scope_from_ids:
                catalog = LabelCatalog(
                    target.from_type,
                    target.to_type,
                    target.client.list_labels(target.from_type, target.to_type),
                )
                try:
                    desired.apply_labels(catalog.resolve)
                except InputValidationError as err:
                    raise _bounded(err) from None
                _want(plan, desired, catalog)
        _read_current(plan, target, catalog_unlabeled(target), max_concurrency, read_batch)
        _diff(plan)
    except BaseException:
        plan.close()
        raise
    return plan


def catalog_unlabeled(target: Target) -> set[int]:
    from airflow_provider_hubassoc.batch.operations import unlabeled_type_id

    known = unlabeled_type_id(target.from_type, target.to_type)
    return {known} if known is not None else set()


def _load_desired(plan: SyncPlan, desired: PairStore, request: SyncRequest) -> None:
    counter = [0]
    digest = hashlib.sha256(f"mode {request.mode}\n".encode())
    try:
        with contextlib.closing(_records(request.inputs)) as items:
            desired.add(_desired_rows(items, counter))
        if counter[0] == 0 and request.fail_on_empty:
            raise InputValidationError(
                f"inputs is empty ({_describe(request.inputs, 0, 'inputs')}) and fail_on_empty is set"
            )
        scope_count = _load_scope(plan, request.scope)
    except InputValidationError as err:
        raise _bounded(err) from None
    with plan._lock:
        # The scope is every from id of the desired rows, plus the scope input.
        plan._db.execute("ATTACH DATABASE ? AS d", (desired.path,))
        plan._db.execute("INSERT OR IGNORE INTO scope SELECT DISTINCT from_id FROM d.keyed")
        plan._db.commit()
        plan._db.execute("DETACH DATABASE d")
    plan.stats.mode = request.mode
    plan.stats.max_removals = request.max_removals
    plan.stats.desired_rows = desired.rows_offered
    plan.stats.scope_from_ids = plan.scalar("SELECT COUNT(*) FROM scope")
    parts = [_describe(request.inputs, counter[0], "inputs")]
    if request.scope is not None:
        parts.append(_describe(request.scope, scope_count, "scope"))
    plan.description = "sync of " + " and ".join(parts)
    # The digest of what was asked (rows as keyed, scope, mode), not of the difference: a retry
    # re-reads HubSpot, and its smaller difference is still the same run.
    for (from_id,) in plan._stream("SELECT from_id FROM scope ORDER BY from_id", ()):
        digest.update(f"s{from_id}\n".encode())
    plan.digest = digest.hexdigest() + ":" + desired_digest(desired)


def desired_digest(desired: PairStore) -> str:
    """sha256 of the keyed desired rows in key order (labels not yet resolved)."""
    digest = hashlib.sha256()
    db = sqlite3.connect(desired.path)
    try:
        cursor = db.execute("SELECT from_id, to_id, key FROM keyed ORDER BY from_id, to_id, key")
        while rows := cursor.fetchmany(_BATCH):
            digest.update("".join(f"{f}>{t}/{k}\n" for f, t, k in rows).encode())
    finally:
        db.close()
    return digest.hexdigest()


def _load_scope(plan: SyncPlan, scope: Any) -> int:
    if scope is None:
        return 0
    count = 0

    def ids() -> Iterator[tuple[int]]:
        nonlocal count
        with contextlib.closing(_scope_records(scope)) as items:
            for where, item in items:
                count += 1
                yield (_scope_id(item, where),)

    with plan._lock:
        plan._db.executemany("INSERT OR IGNORE INTO scope VALUES (?)", ids())
        plan._db.commit()
    return count


def _want(plan: SyncPlan, desired: PairStore, catalog: LabelCatalog) -> None:
    """Every desired type, plus the unlabeled type on every desired pair."""
    unlabeled = sorted(catalog.unlabeled_type_ids())
    with plan._lock:
        db = plan._db
        db.execute("ATTACH DATABASE ? AS d", (desired.path,))
        db.execute("INSERT OR IGNORE INTO want SELECT from_id, to_id, category, type_id FROM d.pairs")
        if unlabeled:
            db.execute(
                "INSERT OR IGNORE INTO want SELECT DISTINCT from_id, to_id, ?, ? FROM d.pairs",
                (_HUBSPOT, unlabeled[0]),
            )
        db.commit()
        db.execute("DETACH DATABASE d")
    plan.stats.desired_pairs = plan.scalar("SELECT COUNT(*) FROM (SELECT DISTINCT from_id, to_id FROM want)")
    plan.stats.duplicates = desired.duplicates
    plan.unlabeled = set(unlabeled)


def _read_current(
    plan: SyncPlan, target: Target, unlabeled: set[int], max_concurrency: int, read_batch: int
) -> None:
    """Batch-read every from id in scope (pages followed by the client), a few requests in flight,
    each group's answer spilled to SQLite at once."""
    known_unlabeled = unlabeled | plan.unlabeled
    groups = _id_groups(plan, read_batch)
    with ThreadPoolExecutor(
        max_workers=max(1, max_concurrency), thread_name_prefix="hubassoc-sync-read"
    ) as pool:
        pending: list[Future[AssociationReadResult]] = []
        for group in groups:
            pending.append(
                pool.submit(target.client.read_associations, target.from_type, target.to_type, group)
            )
            if len(pending) >= max(1, max_concurrency):
                _spill(plan, pending.pop(0).result(), known_unlabeled)
        for future in pending:
            _spill(plan, future.result(), known_unlabeled)


def _id_groups(plan: SyncPlan, size: int) -> Iterator[list[str]]:
    group: list[str] = []
    for (from_id,) in plan._stream("SELECT from_id FROM scope ORDER BY from_id", ()):
        group.append(str(from_id))
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


def _spill(plan: SyncPlan, read: AssociationReadResult, unlabeled: set[int]) -> None:
    rows: list[tuple[Any, ...]] = []
    unread: list[tuple[Any, ...]] = []
    for from_id, links in read.links.items():
        if read.state(from_id) is ReadState.ERRORED:
            error = read.error_of(from_id)
            category, message = (error.category, error.message) if error else ("UNKNOWN", "")
            unread.append((int(from_id), category, message))
            if len(plan.stats.unread_sample) < 5:
                plan.stats.unread_sample.append({"fromId": from_id, "category": category, "message": message})
            continue
        for link in links:
            to_id = int(str(link[0]))
            for category, type_id, label in link_types(link):
                is_unlabeled = category == _HUBSPOT and (type_id in unlabeled or label is None)
                rows.append((int(from_id), to_id, category, type_id, label, int(is_unlabeled)))
    with plan._lock:
        plan._db.executemany("INSERT OR REPLACE INTO cur VALUES (?, ?, ?, ?, ?, ?)", rows)
        plan._db.executemany("INSERT OR REPLACE INTO unread VALUES (?, ?, ?)", unread)
        plan._db.commit()
    plan.stats.reads += 1


_CREATE = (
    "INSERT INTO act SELECT 'create', w.from_id, w.to_id, w.category, w.type_id FROM want w"
    " WHERE w.from_id NOT IN (SELECT from_id FROM unread) AND NOT EXISTS (SELECT 1 FROM cur c"
    " WHERE c.from_id = w.from_id AND c.to_id = w.to_id AND c.category = w.category"
    " AND c.type_id = w.type_id)"
)
# Labels a pair that stays holds and no row asks for; never its unlabeled type, never a category
# this provider cannot send.
_UNLABEL = (  # noqa: S608 - built from this module's constants only
    "INSERT INTO act SELECT 'unlabel', c.from_id, c.to_id, c.category, c.type_id FROM cur c"
    " WHERE c.unl = 0 AND c.category IN ({known})"
    " AND EXISTS (SELECT 1 FROM want w WHERE w.from_id = c.from_id AND w.to_id = c.to_id)"
    " AND NOT EXISTS (SELECT 1 FROM want w WHERE w.from_id = c.from_id AND w.to_id = c.to_id"
    " AND w.category = c.category AND w.type_id = c.type_id)"
).format(known=",".join(f"'{c}'" for c in _KNOWN_CATEGORIES))
_REMOVE = (
    "INSERT OR IGNORE INTO act SELECT 'remove', c.from_id, c.to_id, '', 0 FROM cur c"
    " WHERE NOT EXISTS (SELECT 1 FROM want w WHERE w.from_id = c.from_id AND w.to_id = c.to_id)"
)


def _diff(plan: SyncPlan) -> None:
    with plan._lock:
        for statement in (_CREATE, _UNLABEL, _REMOVE):
            plan._db.execute(statement)
        plan._db.commit()
    _count(plan)


def _pairs(plan: SyncPlan, where: str) -> int:
    """Distinct pairs of the difference matching `where` (one of this module's constant clauses)."""
    query = f"SELECT COUNT(*) FROM (SELECT DISTINCT from_id, to_id FROM act WHERE {where})"  # noqa: S608
    return plan.scalar(query)


def _count(plan: SyncPlan) -> None:
    stats = plan.stats
    stats.current_pairs = plan.scalar("SELECT COUNT(*) FROM (SELECT DISTINCT from_id, to_id FROM cur)")
    present = "EXISTS (SELECT 1 FROM cur c WHERE c.from_id = act.from_id AND c.to_id = act.to_id)"
    stats.to_create = _pairs(plan, f"kind = 'create' AND NOT {present}")
    stats.to_remove = _pairs(plan, "kind = 'remove'")
    stats.labels_to_add = plan.scalar("SELECT COUNT(*) FROM act WHERE kind = 'create'")
    stats.labels_to_remove = plan.scalar("SELECT COUNT(*) FROM act WHERE kind = 'unlabel'")
    relabel = f"kind IN ('create', 'unlabel') AND {present}"
    stats.unread_from_ids = plan.scalar("SELECT COUNT(*) FROM unread")
    stats.unread = plan.scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT from_id, to_id FROM want"
        " WHERE from_id IN (SELECT from_id FROM unread))"
    )
    changed = _pairs(plan, relabel)
    losing = _pairs(plan, "kind = 'unlabel'")
    if stats.mode == "upsert":
        # Upsert only adds: what a mirror would remove stays, and is said.
        stats.left_alone = stats.to_remove + losing
        with plan._lock:
            plan._db.execute("DELETE FROM act WHERE kind IN ('unlabel', 'remove')")
            plan._db.commit()
        stats.to_remove = stats.labels_to_remove = losing = 0
        changed = _pairs(plan, relabel)
    stats.to_relabel = changed
    stats.removals = stats.to_remove + losing
    stats.unchanged = stats.desired_pairs - stats.to_create - stats.to_relabel - stats.unread
    stats.removal_cap = removal_cap(stats.max_removals, stats.current_pairs)


def check_removals(stats: SyncStats) -> None:
    """Refuse, before any write, a sync that removes more than `max_removals` allows."""
    if stats.removal_cap is None or stats.removals <= stats.removal_cap:
        return
    given = (
        f"{stats.max_removals:.2%} of the {stats.current_pairs} current pairs in scope "
        f"(= {stats.removal_cap})"
        if isinstance(stats.max_removals, float)
        else str(stats.removal_cap)
    )
    raise MaxRemovalsExceededError(
        f"the sync would take associations or labels from {stats.removals} pairs ({stats.to_remove} "
        f"removed whole, {stats.removals - stats.to_remove} losing labels), more than max_removals "
        f"allows ({given}); nothing was sent. Check the desired table (an empty or partial "
        "extract?), or raise max_removals"
    )


def header_of(stats: SyncStats) -> dict[str, Any]:
    """What the report's header records about the sync (bounded: counts and a small sample)."""
    return {"sync": json.loads(json.dumps(stats.to_json()))}
