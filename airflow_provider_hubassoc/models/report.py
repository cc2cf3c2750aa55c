"""The JSONL report's line schema, and its reader.

The archive operators write the report (format in docs/architecture.md); the sensor and the
trigger read it only through this module. Each line is one JSON object with a `kind`; pair lines
carry one of the per-pair statuses below.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import IO, Any

from airflow_provider_hubassoc.models.associations import AssociationType, Pair
from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id

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
PAIR_STATUSES = (CONFIRMED, ACCEPTED, FAILED, SKIPPED, WOULD_REMOVE, ABSENT)
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


def pair_line(pair: Pair, status: str | None = None) -> dict[str, Any]:
    """A pair as report lines and trigger kwargs show it; `status` added when given."""
    line: dict[str, Any] = {"fromId": pair.from_id, "toId": pair.to_id, "types": pair.types_wire()}
    if status is not None:
        line["status"] = status
    return line


def pair_of_line(line: dict[str, Any], where: str = "pair") -> Pair:
    """The inverse of `pair_line`: ids canonical, labels sorted and unique. Raises
    `InputValidationError` naming `where` for a line that is not a pair of ours."""
    try:
        labels = {AssociationType.model_validate(t) for t in line.get("types") or ()}
        return Pair(
            from_id=parse_record_id(line["fromId"], field="fromId"),
            to_id=parse_record_id(line["toId"], field="toId"),
            types=tuple(sorted(labels, key=_type_key)),
        )
    except (KeyError, TypeError, ValueError) as err:  # pydantic's ValidationError is a ValueError
        raise InputValidationError(f"{where}: not a pair ({_short(err)})") from None


def iter_report_objects(path: str, kinds: Collection[str]) -> Iterator[dict[str, Any]]:
    """Every line of the given kinds, streamed, in file order (a torn last line is skipped).

    Raises `ReportUnreadableError` naming the path when the file cannot be read.
    """
    wanted = frozenset(kinds)
    for _, obj in _iter_objects(path):
        if obj.get("kind") in wanted:
            yield obj


def snapshot_types(line: dict[str, Any], where: str = "snapshot") -> tuple[AssociationType, ...]:
    """The types of a snapshot line, sorted and unique (empty when the pair had nothing).

    Raises `InputValidationError` naming `where` for a type this provider cannot send back (an
    unknown category, a malformed type id).
    """
    try:
        types = {AssociationType.model_validate(t) for t in line.get("types") or ()}
    except (TypeError, ValueError) as err:
        raise InputValidationError(f"{where}: a recorded type cannot be re-created ({_short(err)})") from None
    return tuple(sorted(types, key=_type_key))


def _type_key(t: AssociationType) -> tuple[str, int]:
    return (t.category.value, t.type_id)


def _iter_objects(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(line number, object)` of each JSON object line; lines that do not parse are skipped."""
    try:
        with _open(path) as handle:
            # readline, not iteration: Airflow 2.11's object-storage handle cannot be iterated.
            for number, line in enumerate(iter(handle.readline, ""), start=1):
                obj = _json_object(line)
                if obj is not None:
                    yield number, obj
    except (OSError, UnicodeDecodeError) as err:
        raise ReportUnreadableError(f"report {path!r} is not readable: {_short(err)}") from None


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _open(path: str) -> IO[str]:
    """A local path (or file:// URI) with open(); any other URI through Airflow's object storage."""
    if "://" in path and not path.startswith("file://"):
        from airflow.providers.common.compat.sdk import ObjectStoragePath  # only for object storage

        handle: IO[str] = ObjectStoragePath(path).open("r", encoding="utf-8")  # type: ignore[no-untyped-call]
        return handle
    return open(path.removeprefix("file://"), encoding="utf-8")


def _short(err: BaseException, limit: int = 300) -> str:
    text = str(err)
    return text if len(text) <= limit else text[: limit - 3] + "..."
