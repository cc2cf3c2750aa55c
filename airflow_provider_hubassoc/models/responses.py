"""HubSpot's replies: batch bodies, per-input errors, top-level errors, labels and read-backs."""

from __future__ import annotations

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


class AssociationReadResult(BaseModel):
    """A whole batch read, every page followed: from id -> its associated records."""

    associations: dict[str, list[AssociatedRecord]] = Field(default_factory=dict)
    errors: list[BatchErrorItem] = Field(default_factory=list)
