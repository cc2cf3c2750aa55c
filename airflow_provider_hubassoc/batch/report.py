"""The per-pair JSONL report, in one home: its line schema, its one line reader, the writer, its
checkpoint, its lock, and the bounded XCom summary built while it is written.

The report (format in docs/architecture.md) is flushed
after every chunk, so a crash keeps what was recorded. Three rules protect it:
- a checkpoint only skips work for a retry of the same task of the same DAG run (the header
  records dag_id, task_id, run_id and map_index), or when the user asks to resume;
- a report that belongs to another run is never overwritten: a local one is kept aside as
  `<path>.<its start time>` and the run starts afresh (an object-storage one is refused);
- a lock file (`<path>.lock`, local paths) held for the whole run refuses a second live run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_hubassoc.batch.sources import local_path, path_exists
from airflow_provider_hubassoc.models.associations import (
    AssociationType,
    Pair,
    pair_line,
    pair_of_line,
    type_key,
)
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from airflow_provider_hubassoc.models.summary import (
    FAILED_SAMPLE_SIZE,
    SUMMARY_MAX_BYTES,
    VERIFY_SAMPLE_SIZE,
    ArchiveSummary,
    PairStatus,
)

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.outcomes import Verdict

log = logging.getLogger(__name__)

# Line kinds.
KIND_HEADER = "header"
KIND_PAIR = "pair"
KIND_CHUNK = "chunk"
KIND_SUMMARY = "summary"
# What a pair had just before an archive run with `snapshot` removed it (written before the
# request): `types` lists `{"category", "typeId", "label"}`; empty, with `"absent": true`, when the
# pair had nothing to remove. A restore re-creates these types.
KIND_SNAPSHOT = "snapshot"

# Pair statuses: every pair of a real run ends in exactly one of the first four.
CONFIRMED = "confirmed"  # HubSpot's reply body, or a read-back, shows it done
ACCEPTED = "accepted"  # answered 2xx, but the reply said nothing about this pair
FAILED = "failed"
SKIPPED = "skipped"
WOULD_REMOVE = "would_remove"  # dry run: present now
ABSENT = "absent"  # dry run: nothing to remove
WOULD_CREATE = "would_create"  # dry run of a create: missing now
PRESENT = "present"  # dry run of a create: there already
DRY_RUN_STATUSES = (WOULD_REMOVE, ABSENT, WOULD_CREATE, PRESENT)
PAIR_STATUSES = (CONFIRMED, ACCEPTED, FAILED, SKIPPED, *DRY_RUN_STATUSES)
# What the run sent and HubSpot answered 2xx: the pairs a read-back verifies.
SENT_STATUSES = (CONFIRMED, ACCEPTED)

# A skipped pair line with this category was done by an earlier attempt of the same run
# (checkpoint). Readers name it with the pseudo-status DONE_EARLIER.
DONE_EARLIER_CATEGORY = "checkpoint"
DONE_EARLIER = "doneEarlier"


class ReportUnreadableError(OSError):
    """The report cannot be opened or read, or a pair line in it is not one of ours."""


def iter_report_pairs(path: str, statuses: Collection[str] = SENT_STATUSES) -> Iterator[Pair]:
    """Every pair line whose status is in `statuses`, streamed (a 1M-line report is never held).

    A skipped line done by an earlier attempt matches the pseudo-status `DONE_EARLIER`.
    """
    for _, pair in iter_report_entries(path, statuses):
        yield pair


def iter_report_entries(path: str, statuses: Collection[str] = SENT_STATUSES) -> Iterator[tuple[str, Pair]]:
    """`(status, pair)` of every pair line whose status is in `statuses`.

    Raises `ReportUnreadableError` naming the path (and line) when the file cannot be read or a
    pair line is malformed. A torn last line (a crash mid-write) is not an error: it is skipped.
    """
    wanted = frozenset(statuses)
    for number, obj in _iter_objects(path):
        if obj.get("kind") != KIND_PAIR:
            continue
        status = pair_status(obj)
        if status in wanted:
            try:
                pair = pair_of_line(obj, f"report {path!r} line {number}")
            except InputValidationError as err:
                raise ReportUnreadableError(str(err)) from None
            yield status, pair


def pair_status(line: dict[str, Any]) -> str:
    """A pair line's status, `DONE_EARLIER` for a pair skipped because an earlier attempt did it."""
    status = str(line.get("status"))
    if status == SKIPPED and line.get("category") == DONE_EARLIER_CATEGORY:
        return DONE_EARLIER
    return status


def read_report_line(path: str, kind: str) -> dict[str, Any] | None:
    """The last line of `kind` (e.g. the header, or the summary a finished run ends with)."""
    found: dict[str, Any] | None = None
    for _, obj in _iter_objects(path):
        if obj.get("kind") == kind:
            found = obj
    return found


def iter_report_objects(path: str, kinds: Collection[str]) -> Iterator[dict[str, Any]]:
    """Every line of the given kinds, streamed, in file order (a torn last line is skipped).

    Raises `ReportUnreadableError` naming the path when the file cannot be read.
    """
    for _, obj in iter_numbered_objects(path, kinds):
        yield obj


def iter_numbered_objects(path: str, kinds: Collection[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(line number, line)` of every line of the given kinds: for messages naming the line."""
    wanted = frozenset(kinds)
    for number, obj in _iter_objects(path):
        if obj.get("kind") in wanted:
            yield number, obj


def snapshot_types(line: dict[str, Any], where: str = "snapshot") -> tuple[AssociationType, ...]:
    """The types of a snapshot line, sorted and unique (empty when the pair had nothing).

    Raises `InputValidationError` naming `where` for a type this provider cannot send back (an
    unknown category, a malformed type id).
    """
    try:
        types = {AssociationType.model_validate(t) for t in line.get("types") or ()}
    except (TypeError, ValueError) as err:
        raise InputValidationError(f"{where}: a recorded type cannot be re-created ({_short(err)})") from None
    return tuple(sorted(types, key=type_key))


def _iter_objects(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(line number, object)` of each JSON object line, streamed.

    Only a torn last line (a crash mid-write) is skipped; a damaged line anywhere else raises
    `ReportUnreadableError` naming the report and the line, so no pair is ever silently dropped.
    """
    try:
        with _open(path, "r") as handle:
            damaged: int | None = None
            # readline, not iteration: Airflow 2.11's object-storage handle cannot be iterated.
            for number, line in enumerate(iter(handle.readline, ""), start=1):
                if damaged is not None:
                    raise ReportUnreadableError(
                        f"report {path!r} line {damaged} is damaged (not a JSON object); only a torn "
                        "last line, left by a crash mid-write, is tolerated"
                    )
                if not line.strip():
                    continue
                obj = _json_object(line)
                if obj is None:
                    damaged = number
                    continue
                yield number, obj
    except (OSError, UnicodeDecodeError) as err:
        if isinstance(err, ReportUnreadableError):
            raise
        raise ReportUnreadableError(f"report {path!r} is not readable: {_short(err)}") from None


def _json_object(line: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _short(err: BaseException, limit: int = 300) -> str:
    text = str(err)
    return text if len(text) <= limit else text[: limit - 3] + "..."


MESSAGE_LIMIT = 300
KIND_INPUTS = "inputs"  # the loaded input's digest: a retry's checkpoint applies only to the same pairs
CATEGORY_LIMIT = 20


class ReportError(Exception):
    """The report cannot be used: names the path. Never worth an Airflow retry."""


class ReportInUseError(ReportError):
    """Another live run holds the report's lock."""


class ReportWriteError(ReportError):
    """Writing the report failed mid-run (disk full, storage gone): the run must stop sending."""


def truncate(message: str | None, limit: int = MESSAGE_LIMIT) -> str:
    text = message or ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class RunIdentity:
    """Which task of which DAG run writes a report: a checkpoint is valid only for the same one."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Any) -> RunIdentity | None:
        ti = context.get("ti") if hasattr(context, "get") else None
        names = ("dag_id", "task_id", "run_id")
        if ti is None or not all(isinstance(getattr(ti, n, None), str) for n in names):
            return None
        map_index = getattr(ti, "map_index", -1)
        return cls(ti.dag_id, ti.task_id, ti.run_id, map_index if isinstance(map_index, int) else -1)

    def to_json(self) -> dict[str, Any]:
        return {
            "dagId": self.dag_id,
            "taskId": self.task_id,
            "runId": self.run_id,
            "mapIndex": self.map_index,
        }

    def describe(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{index} of run {self.run_id}"


def _open(location: str, mode: str) -> IO[str]:
    local = local_path(location)
    if local is not None:
        return open(local, mode, encoding="utf-8", newline="")
    from airflow.providers.common.compat.sdk import ObjectStoragePath  # heavy: only for URIs

    handle: IO[str] = ObjectStoragePath(location).open(mode, encoding="utf-8", newline="")  # type: ignore[no-untyped-call]
    return handle


def _header(location: str) -> dict[str, Any] | None:
    return next(iter_report_objects(location, (KIND_HEADER,)), None)


def _done_digests(location: str) -> set[str]:
    """Chunks whose last line says `done` (a later line, e.g. a failed read-back, revokes it)."""
    done: set[str] = set()
    for line in iter_report_objects(location, (KIND_CHUNK,)):
        if line.get("digest"):
            digest = str(line["digest"])
            if line.get("status") == "done":
                done.add(digest)
            else:
                done.discard(digest)
    return done


def _snapshot_lines(location: str) -> list[str]:
    """The snapshot lines of a report, as lines to carry into a retry's report."""
    return [
        json.dumps(line, separators=(",", ":")) + "\n"
        for line in iter_report_objects(location, (KIND_SNAPSHOT,))
    ]


def _input_digests(location: str) -> set[str]:
    """`phase digest` texts: a multi-phase run (a sync) records one input per phase."""
    return {
        _input_key(line.get("phase"), str(line["digest"]))
        for line in iter_report_objects(location, (KIND_INPUTS,))
    }


def _input_key(phase: Any, digest: str) -> str:
    return f"{phase} {digest}" if phase else digest


SAME_WORK = ("operation", "fromObjectType", "toObjectType")


def is_checkpoint_for(found: dict[str, Any] | None, ours: dict[str, Any], *, resume: bool) -> bool:
    """Whether a report with header `found` may skip work for the run with header `ours`: both
    real runs of the same work, and the same run (same dag_id, task_id, run_id, map_index) unless
    resuming. A run without an identity (no task instance) only resumes when told to."""
    if found is None or found.get("dryRun") or ours.get("dryRun"):
        return False
    if not all(found.get(k) == ours.get(k) for k in SAME_WORK):
        return False
    return resume or (ours.get("run") is not None and found.get("run") == ours.get("run"))


def read_checkpoint(path: str, header: dict[str, Any], *, resume: bool = False) -> set[str]:
    """Digests of the chunks done by earlier attempts of the run with `header` (report and `.prev`)."""
    candidates = [path, path + ".prev"] if local_path(path) is not None else [path]
    done: set[str] = set()
    for candidate in candidates:
        if path_exists(candidate) and is_checkpoint_for(_header(candidate), header, resume=resume):
            done |= _done_digests(candidate)
    return done


class ReportFile:
    """One run's report: lock, checkpoint, set-aside of other runs' reports, then the writer.

    `open()` does everything that can fail on the path before any request is sent, so an
    unusable `report_path` fails the task at once, naming it.
    """

    def __init__(
        self, path: str, header: dict[str, Any], *, identity: RunIdentity | None, resume: bool
    ) -> None:
        self.path = path
        self.header = {**header, "run": identity.to_json() if identity else None}
        self.identity = identity
        self.resume = resume
        self.local = local_path(path)
        self.checkpoint: set[str] = set()
        self.earlier_inputs: set[str] = set()  # input digests the checkpoint's attempts recorded
        self.earlier_snapshots: list[str] = []  # their snapshot lines, carried into this report
        self.write_error: ReportWriteError | None = None
        self._lock: IO[str] | None = None
        self._handle: IO[str] | None = None

    # -- before any request ---------------------------------------------------------------------
    def open(self) -> None:
        try:
            self._take_lock()
            self._adopt_or_set_aside()
            self._handle = _open(self.path, "w")
            self.write(self.header)
            self._carry_snapshots()
        except ReportError:
            self.release()
            raise
        except OSError as err:
            self.release()
            raise ReportError(f"report_path {self.path!r} is not writable: {err.strerror or err}") from err
        if self.write_error is not None:
            raise self.write_error

    def _take_lock(self) -> None:
        if self.local is None:
            return  # object storage has no lock: give each run its own path
        import fcntl

        self.local.parent.mkdir(parents=True, exist_ok=True)
        lock_path = Path(str(self.local) + ".lock")
        handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise ReportInUseError(
                f"report_path {self.path!r} is in use by a live run ({truncate(owner, 200)}): "
                "give each task its own report_path (template it with {{ run_id }} and, for mapped "
                "tasks, {{ ti.map_index }})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(self.identity.describe() if self.identity else f"pid {os.getpid()}")
        handle.flush()
        self._lock = handle

    def _candidates(self) -> list[str]:
        paths = [self.path, self.path + ".prev"] if self.local is not None else [self.path]
        return [p for p in paths if path_exists(p)]

    def _adopt_or_set_aside(self) -> None:
        """Earlier reports of this run (or, with `resume`, of this work) feed the checkpoint;
        any other report is kept aside (local) or refused (object storage), never overwritten."""
        ours: list[str] = []
        for candidate in self._candidates():
            if self._is_checkpoint_for_us(_header(candidate)):
                self.checkpoint |= _done_digests(candidate)
                self.earlier_inputs |= _input_digests(candidate)
                self.earlier_snapshots += _snapshot_lines(candidate)
                ours.append(candidate)
            else:
                self._set_aside(candidate)
        if self.path in ours and self.local is not None:
            self._keep_as_prev()

    def _is_checkpoint_for_us(self, header: dict[str, Any] | None) -> bool:
        return is_checkpoint_for(header, self.header, resume=self.resume)

    def _set_aside(self, location: str) -> None:
        if self.local is None:
            raise ReportError(
                f"report_path {self.path!r} holds the report of another run; it is not overwritten: "
                "give each run its own report_path (template it with {{ run_id }}), or pass resume=True "
                "to continue that run's work"
            )
        header = _header(location) or {}
        stamp = re.sub(r"[^0-9A-Za-z]", "", str(header.get("startedAt") or "unknown"))[:20]
        target = Path(f"{self.path}.{stamp}")
        number = 1
        while target.exists():
            number += 1
            target = Path(f"{self.path}.{stamp}-{number}")
        os.replace(location, target)
        log.warning(
            "%s held the report of another run: kept as %s; it is no checkpoint for this run, which "
            "starts afresh (pass resume=True to skip the chunks it did)",
            location,
            target,
        )

    def _keep_as_prev(self) -> None:
        """An interrupted retry must lose no checkpoint: the old report stays as `.prev` (merged)."""
        assert self.local is not None
        prev = Path(str(self.local) + ".prev")
        if not prev.exists():
            os.replace(self.local, prev)
            return
        with prev.open("a", encoding="utf-8") as out, self.local.open(encoding="utf-8") as src:
            for line in src:
                out.write(line if line.endswith("\n") else line + "\n")
        self.local.unlink()

    def record_inputs(self, digest: str, phase: str | None = None) -> None:
        """Record the loaded input's digest (of one `phase` of a multi-phase run). A retry whose
        input differs from the one its checkpoint was made from is refused (a warehouse query
        re-read may change), unless resuming."""
        same_phase = {key for key in self.earlier_inputs if key.rpartition(" ")[0] == (phase or "")}
        changed = sorted(key.rpartition(" ")[2] for key in same_phase - {_input_key(phase, digest)})
        if changed and self.checkpoint and not self.resume:
            raise ReportError(
                f"report_path {self.path!r}: the input differs from the one an earlier attempt of this "
                f"run checkpointed (pairs digest {changed[0][:12]} then, {digest[:12]} now; a query "
                "re-read on retry returned other pairs). Make the query deterministic (pin it to the "
                "run, not to now), pass resume=True to skip the chunks already done anyway, or give "
                "another report_path to start afresh"
            )
        self.write({"kind": KIND_INPUTS, "digest": digest, **({"phase": phase} if phase else {})})
        self.flush()

    # -- during the run ---------------------------------------------------------------------------
    def write(self, obj: dict[str, Any]) -> None:
        """Write one line; after a failure nothing more is written and `write_error` says why."""
        if self._handle is None or self.write_error is not None:
            return
        try:
            self._handle.write(json.dumps(obj, separators=(",", ":")) + "\n")
        except OSError as err:
            self._fail(err)

    def _carry_snapshots(self) -> None:
        """An earlier attempt's snapshots come first: taken before anything was removed, they win
        over a retry's (which reads as absent what that attempt already removed)."""
        if self._handle is not None and self.earlier_snapshots:
            self._handle.write("".join(self.earlier_snapshots))  # an OSError: open() names the path
        self.earlier_snapshots = []

    def sync(self) -> None:
        """Flush and, for a local file, fsync: the snapshot must be on disk before its archive."""
        self.flush()
        if self._handle is None or self.write_error is not None or self.local is None:
            return
        try:
            os.fsync(self._handle.fileno())
        except OSError as err:
            self._fail(err)

    def flush(self) -> None:
        if self._handle is None or self.write_error is not None:
            return
        try:
            self._handle.flush()
        except OSError as err:
            self._fail(err)

    def _fail(self, err: OSError) -> None:
        self.write_error = ReportWriteError(
            f"could not write report_path {self.path!r}: {err.strerror or err}; what was recorded "
            "before is kept, and no more requests are sent"
        )

    def pair(self, pair: Pair, verdict: Verdict, chunk: int, operation: str) -> None:
        """One pair's final line. `notApplied` marks a pair HubSpot named in a per-input error:
        the only failure an undo may skip (any other may have been applied)."""
        line = {
            "kind": KIND_PAIR,
            "op": operation,
            **pair_line(pair),
            "status": verdict.status,
            "chunk": chunk,
        }
        line["category"] = verdict.category
        line["message"] = truncate(verdict.message) if verdict.message else None
        if verdict.not_applied:
            line["notApplied"] = True
        self.write(line)

    def chunk(self, fields: dict[str, Any]) -> None:
        self.write({"kind": KIND_CHUNK, **fields})
        self.flush()

    def finish(self, summary: dict[str, Any], *, complete: bool) -> None:
        """The summary line, then close; a complete run no longer needs the `.prev` checkpoint."""
        self.write({"kind": KIND_SUMMARY, **summary})
        self.flush()
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
        if complete and self.write_error is None and self.local is not None:
            Path(str(self.local) + ".prev").unlink(missing_ok=True)

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
        if self._lock is not None:
            self._lock.close()  # closing drops the flock; the lock file stays (harmless, reused)
            self._lock = None


def holds_real_run(path: str) -> bool:
    """Whether `path` (or its `.prev`) holds a real (not dry) run's report, which a dry run must
    not replace."""
    candidates = [path, path + ".prev"] if local_path(path) is not None else [path]
    for candidate in candidates:
        if path_exists(candidate):
            header = _header(candidate)
            if header is not None and not header.get("dryRun"):
                return True
    return False


class SummaryBuilder:
    """Counts every pair's final state and keeps bounded samples while chunks complete."""

    def __init__(self, summary: ArchiveSummary) -> None:
        self.summary = summary
        self.categories: Counter[str] = Counter()
        self._seen_done = 0
        self._rng = random.Random(0)  # noqa: S311 - sampling, not security

    def record(self, pair: Pair, status: PairStatus, category: str | None, message: str | None) -> None:
        totals = self.summary.totals
        if status in ("confirmed", "accepted"):
            setattr(totals, status, getattr(totals, status) + 1)
            self._sample_done(pair, status)
        elif status == "failed":
            self._record_failed(pair, category, message)
        else:
            self._record_skipped(pair, status, category)

    def _record_failed(self, pair: Pair, category: str | None, message: str | None) -> None:
        self.summary.totals.failed += 1
        self.categories[category or "UNKNOWN"] += 1
        if len(self.summary.failed_sample) < FAILED_SAMPLE_SIZE:
            self.summary.failed_sample.append(
                {
                    **pair_line(pair),
                    "category": truncate(category or "UNKNOWN", 80),
                    "message": truncate(message),
                }
            )

    def _record_skipped(self, pair: Pair, status: PairStatus, category: str | None) -> None:
        totals = self.summary.totals
        totals.skipped += 1
        if status in DRY_RUN_STATUSES:
            setattr(totals, status, getattr(totals, status) + 1)
        elif category == DONE_EARLIER_CATEGORY:
            totals.done_earlier += 1
            self._sample_done(pair, DONE_EARLIER)

    def read_back(self, pair: Pair, status: PairStatus, category: str | None, message: str | None) -> None:
        """An accepted pair, read back after the run, becomes confirmed or failed."""
        self.summary.totals.accepted -= 1
        wire = pair_line(pair, "accepted")
        sample = self.summary.verify_sample
        if status == "failed":
            sample[:] = [p for p in sample if p != wire]
            self._record_failed(pair, category, message)
            return
        self.summary.totals.confirmed += 1
        sample[:] = [pair_line(pair, status) if p == wire else p for p in sample]

    def _sample_done(self, pair: Pair, status: str) -> None:
        """Reservoir sampling: a uniform sample of done pairs however many there are."""
        self._seen_done += 1
        sample = self.summary.verify_sample
        if len(sample) < VERIFY_SAMPLE_SIZE:
            sample.append(pair_line(pair, status))
            return
        slot = self._rng.randrange(self._seen_done)
        if slot < VERIFY_SAMPLE_SIZE:
            sample[slot] = pair_line(pair, status)

    def batch(self, status: str | None) -> None:
        self.summary.batches += 1
        key = status or "NONE"
        self.summary.batch_statuses[key] = self.summary.batch_statuses.get(key, 0) + 1

    def finish(self) -> dict[str, Any]:
        top = self.categories.most_common(CATEGORY_LIMIT)
        by_category = {truncate(k, 80): v for k, v in top}
        rest = sum(self.categories.values()) - sum(v for _, v in top)
        if rest:
            by_category["OTHER"] = by_category.get("OTHER", 0) + rest
        self.summary.errors_by_category = by_category
        return bounded_xcom(self.summary)


def bounded_xcom(summary: ArchiveSummary) -> dict[str, Any]:
    """`summary.to_xcom()`, with samples shrunk until the JSON is under SUMMARY_MAX_BYTES."""
    value = summary.to_xcom()
    while len(json.dumps(value).encode()) >= SUMMARY_MAX_BYTES:
        if value["verifySample"]:
            value["verifySample"] = value["verifySample"][: len(value["verifySample"]) // 2]
        elif value["failedSample"]:
            value["failedSample"] = value["failedSample"][: len(value["failedSample"]) // 2]
        elif len(value["errorsByCategory"]) > 1:
            value["errorsByCategory"] = dict(list(value["errorsByCategory"].items())[:1])
        else:
            break
    return value
