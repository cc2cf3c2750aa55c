"""HubSpot's replies: batch bodies, per-input errors, top-level errors, labels and read-backs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BatchStatus(str, Enum):
    """A batch's status, known only from the synchronous reply (HubSpot has no poll endpoint)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    CANCELED = "CANCELED"
    COMPLETE = "COMPLETE"


class _Lenient(BaseModel):
    """HubSpot adds fields over time; unknown ones are kept, never fatal."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True)


class ErrorDetail(_Lenient):
    message: str = ""
    code: str | None = None
    context: dict[str, Any] | None = None
    in_: str | None = Field(default=None, alias="in")
    sub_category: str | None = Field(default=None, alias="subCategory")


class BatchErrorItem(_Lenient):
    """One per-input error inside a 200 or 207 batch body."""

    status: str = "error"
    category: str = "UNKNOWN"
    message: str = ""
    context: dict[str, list[str]] = Field(default_factory=dict)
    errors: list[ErrorDetail] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)
    id: str | None = None
    sub_category: Any = Field(default=None, alias="subCategory")


class BatchResponse(_Lenient):
    """The body of a 200/207 batch reply."""

    status: BatchStatus
    results: list[Any] = Field(default_factory=list)
    started_at: datetime | None = Field(default=None, alias="startedAt")
    completed_at: datetime | None = Field(default=None, alias="completedAt")
    requested_at: datetime | None = Field(default=None, alias="requestedAt")
    num_errors: int | None = Field(default=None, alias="numErrors")
    errors: list[BatchErrorItem] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)


class BatchResult(BaseModel):
    """What one archive request came to: the HTTP status and the parsed body.

    `batch` is None when HubSpot sent no body (a 204, as v4 answers): then the reply says nothing
    about any single pair, and only a read-back can confirm one.
    """

    http_status: int
    batch: BatchResponse | None = None


class ErrorBody(_Lenient):
    """HubSpot's top-level error body (4xx/5xx), including 429 rate-limit bodies."""

    status: str = "error"
    message: str = ""
    correlation_id: str | None = Field(default=None, alias="correlationId")
    category: str | None = None
    sub_category: Any = Field(default=None, alias="subCategory")
    errors: list[ErrorDetail] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict)
    error_type: str | None = Field(default=None, alias="errorType")
    policy_name: str | None = Field(default=None, alias="policyName")


class AssociationLabel(_Lenient):
    """A label defined between two object types (`GET .../labels`), or one on a read-back record.

    `category` is kept as text: HubSpot adds categories (`WORK` arrived lately), and a reply
    naming a new one must not break every read-back; requests still send only known ones.
    """

    category: str
    type_id: int = Field(alias="typeId")
    label: str | None = None


class AssociatedRecord(_Lenient):
    """One `to` record of a batch-read result, with the labels that link it."""

    to_object_id: str = Field(alias="toObjectId")
    association_types: list[AssociationLabel] = Field(default_factory=list, alias="associationTypes")


# One association of a batch-read result, kept as ONE flat tuple of strings and ints, with no
# model or nested container per record: `(toObjectId, category, typeId, label, category, typeId,
# label, ...)`. A read-back of 10,000 pairs would otherwise build ~100,000 objects per pass for the
# garbage collector to track, and in the triggerer those start full collections of its whole heap
# that stall its event loop; a flat tuple of atoms is dropped by the collector the first time it
# sees it (a nested one only once its inner tuples are, which may be after it was promoted).
Link = tuple[str | int | None, ...]
LinkType = tuple[str, int, str | None]  # (category, typeId, label)


def link_to_id(link: Link) -> str:
    return str(link[0])


def link_types(link: Link) -> list[LinkType]:
    """A link's association types as `(category, typeId, label)`."""
    return [
        (str(link[i]), int(link[i + 1] or 0), None if link[i + 2] is None else str(link[i + 2]))
        for i in range(1, len(link) - 2, 3)
    ]


# Bounds of a per-input read error as it is carried to reports, logs and trigger events.
READ_ERROR_CATEGORY_CHARS = 80
READ_ERROR_MESSAGE_CHARS = 300
# HubSpot's category for a record that does not exist, and v4's sub-category for a record that
# exists but has no association of the asked type: both mean "nothing links it".
NOT_FOUND_CATEGORY = "OBJECT_NOT_FOUND"
NO_ASSOCIATIONS_SUB_CATEGORY = "NO_ASSOCIATIONS_FOUND"


class ReadState(str, Enum):
    """What a batch read says about one from record's associations."""

    READ = "read"  # its associations were read (none is a fine answer)
    NOT_FOUND = "not_found"  # HubSpot says the record, or its associations, do not exist
    ERRORED = "errored"  # any other per-input error: its associations are unknown


@dataclass(frozen=True)
class ReadError:
    """Why one from record was not read: HubSpot's category and message, bounded (the client has
    already redacted the token from the reply)."""

    category: str
    message: str

    @classmethod
    def of(cls, item: BatchErrorItem) -> ReadError:
        category = (item.category or "UNKNOWN")[:READ_ERROR_CATEGORY_CHARS]
        message = item.message or next((d.message for d in item.errors if d.message), "")
        if len(message) > READ_ERROR_MESSAGE_CHARS:
            message = message[: READ_ERROR_MESSAGE_CHARS - 3] + "..."
        return cls(category, message)

    def describe(self) -> str:
        return f"{self.category}: {self.message}" if self.message else self.category


def means_not_found(item: BatchErrorItem) -> bool:
    """Only a not-found error says a record has no associations; any other says nothing."""
    if (item.category or "").upper() == NOT_FOUND_CATEGORY:
        return True
    subs = [item.sub_category] + [d.sub_category for d in item.errors]
    return any(NO_ASSOCIATIONS_SUB_CATEGORY in _sub_category_text(s).upper() for s in subs)


def _sub_category_text(value: Any) -> str:
    """`subCategory` is a string in some replies and an object (`{"code": ...}`) in others."""
    if isinstance(value, dict):
        return " ".join(str(v) for v in value.values())
    return "" if value is None else str(value)


# Context keys that name the from record of a read input (normalised: lower case, no _ or -),
# and keys that name a record of either side. A key for the to side names no read input.
_FROM_ID_KEYS = {
    "fromid",
    "fromids",
    "from",
    "fromobjectid",
    "fromobjectids",
    "fromrecordid",
    "fromrecordids",
}
_ANY_ID_KEYS = {"id", "ids", "objectid", "objectids", "recordid", "recordids"}


def error_record_ids(item: BatchErrorItem) -> set[str]:
    """The from (or either-side) record ids a per-input error names, in its context, its
    details' contexts or its `id`. Empty when it names none recognisably."""
    ids: set[str] = {item.id} if item.id else set()
    for context in [item.context] + [d.context for d in item.errors if d.context]:
        for key, values in context.items():
            if key.replace("_", "").replace("-", "").lower() in _FROM_ID_KEYS | _ANY_ID_KEYS:
                ids.update(str(v).strip() for v in (values if isinstance(values, list) else [values]))
    return ids


def link_of(record: AssociatedRecord) -> Link:
    types = (v for t in record.association_types for v in (t.category, t.type_id, t.label))
    return (record.to_object_id, *types)


def record_of(link: Link) -> AssociatedRecord:
    labels = [{"category": c, "typeId": t, "label": name} for c, t, name in link_types(link)]
    return AssociatedRecord.model_validate({"toObjectId": link_to_id(link), "associationTypes": labels})


class AssociationReadResult:
    """A whole batch read, every page followed: per from id, what was read and whether it was.

    - `links`: from id -> its associations as tuples (every requested id has a key);
    - `not_found`: ids HubSpot said do not exist or have no associations (nothing links them);
    - `failed`: ids whose read returned any other per-input error: their associations are
      UNKNOWN, although `links` holds an empty (or partial) entry for them. Check `state()`.
    - `errors`: every per-input error, as HubSpot sent it.
    `associations` builds the record models on demand (for callers that want models).
    """

    def __init__(
        self,
        associations: Mapping[str, Sequence[AssociatedRecord]] | None = None,
        errors: Sequence[BatchErrorItem] = (),
        *,
        links: Mapping[str, tuple[Link, ...]] | None = None,
        not_found: Iterable[str] = (),
        failed: Mapping[str, ReadError] | None = None,
    ) -> None:
        self.links: dict[str, tuple[Link, ...]] = dict(links or {})
        for from_id, records in (associations or {}).items():
            self.links[from_id] = self.links.get(from_id, ()) + tuple(link_of(r) for r in records)
        self.errors: list[BatchErrorItem] = list(errors)
        self.not_found: set[str] = set(not_found)
        self.failed: dict[str, ReadError] = dict(failed or {})

    @property
    def associations(self) -> dict[str, list[AssociatedRecord]]:
        return {from_id: [record_of(link) for link in links] for from_id, links in self.links.items()}

    def state(self, from_id: str) -> ReadState:
        if from_id in self.failed:
            return ReadState.ERRORED
        if from_id in self.not_found and not self.links.get(from_id):
            return ReadState.NOT_FOUND
        return ReadState.READ

    def error_of(self, from_id: str) -> ReadError | None:
        return self.failed.get(from_id)

    def __repr__(self) -> str:
        return (
            f"AssociationReadResult({len(self.links)} from ids, {len(self.not_found)} not found, "
            f"{len(self.failed)} failed)"
        )
