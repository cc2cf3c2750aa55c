"""HubSpot's associations contract, written by the project from the facts in hubspot-api-notes.md.

Not HubSpot's description file (proprietary): only what the notes say it requires. Replies and
requests are checked as JSON text (`check(Model, text)`), strictly: a string is not a number, an
integer is not a string, optional fields are absent rather than null, date-times are ISO 8601,
correlation ids are UUIDs, association type ids are int32. No field of these shapes is nullable,
so `check` refuses a `null` anywhere. Unknown fields are allowed: HubSpot adds fields over time.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

INT32_MAX = 2**31 - 1


Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]
TypeId = Annotated[int, Field(ge=1, le=INT32_MAX)]
RecordIdText = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,18}$")]
Category = Literal["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED", "WORK"]
OptStr = str | None
OptInt32 = Int32 | None
OptDateTime = datetime | None
OptLinks = dict[str, str] | None
OptContext = dict[str, list[str]] | None


class Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)


# ----- errors ---------------------------------------------------------------------------------
class ErrorDetail(Shape):
    message: str
    code: OptStr = None
    context: OptContext = None
    in_: OptStr = Field(default=None, alias="in")
    sub_category: OptStr = Field(default=None, alias="subCategory")


class Error(Shape):
    """Top-level `Error` of any 4xx/5xx. `status` is not in the description: never required."""

    category: str
    correlation_id: UUID = Field(alias="correlationId")
    message: str
    sub_category: OptStr = Field(default=None, alias="subCategory")
    context: dict[str, Any] | None = None
    errors: list[ErrorDetail] | None = None
    links: OptLinks = None


class RateLimitError(Shape):
    """A 429 as HubSpot's rate-limit guide shows it (may lack `category`)."""

    message: str
    error_type: Literal["RATE_LIMIT"] = Field(alias="errorType")
    correlation_id: UUID = Field(alias="correlationId")
    policy_name: str = Field(alias="policyName")


class StandardError(Shape):
    """One per-input error of a batch body."""

    status: str
    category: str
    message: str
    context: dict[str, list[str]]
    errors: list[ErrorDetail]
    links: dict[str, str]
    id: OptStr = None
    sub_category: dict[str, Any] | None = Field(default=None, alias="subCategory")


# ----- batch bodies ---------------------------------------------------------------------------
class BatchBody(Shape):
    """Archive and labels archive (200), and the envelope of batch read and batch create."""

    status: Literal["PENDING", "PROCESSING", "CANCELED", "COMPLETE"]
    results: list[Any]
    started_at: datetime = Field(alias="startedAt")
    completed_at: datetime = Field(alias="completedAt")
    requested_at: OptDateTime = Field(default=None, alias="requestedAt")
    num_errors: OptInt32 = Field(default=None, alias="numErrors")
    errors: list[StandardError] | None = None
    links: OptLinks = None


class AssociationTypeOut(Shape):
    category: str
    type_id: Int32 = Field(alias="typeId")
    label: OptStr = None


class ToObject(Shape):
    to_object_id: str = Field(alias="toObjectId")  # a string since 2024
    association_types: list[AssociationTypeOut] = Field(alias="associationTypes")


class NextPage(Shape):
    after: str
    link: OptStr = None


class Paging(Shape):
    next: NextPage


class ObjectId(Shape):
    id: str


class ReadResult(Shape):
    from_: ObjectId = Field(alias="from")
    to: list[ToObject]
    paging: Paging | None = None


class ReadBody(BatchBody):
    results: list[ReadResult]


class CreatedResult(Shape):
    from_object_id: str = Field(alias="fromObjectId")
    from_object_type_id: str = Field(alias="fromObjectTypeId")
    to_object_id: str = Field(alias="toObjectId")
    to_object_type_id: str = Field(alias="toObjectTypeId")
    labels: list[str]


class CreateBody(BatchBody):
    results: list[CreatedResult]


class LabelDefinition(Shape):
    category: str
    type_id: Int32 = Field(alias="typeId")
    label: OptStr = None
    from_object_type_id: OptStr = Field(default=None, alias="fromObjectTypeId")
    to_object_type_id: OptStr = Field(default=None, alias="toObjectTypeId")


class LabelsList(Shape):
    results: list[LabelDefinition]


# ----- OAuth ----------------------------------------------------------------------------------
class _TokenReply(Shape):
    access_token: str
    expires_in: int
    token_type: str
    hub_id: OptInt32 = None
    user_id: OptInt32 = None
    scopes: list[str] | None = None
    id_token: OptStr = None


class OAuthRefreshReply(_TokenReply):
    refresh_token: str
    token_use: Literal["access_token"]


class OAuthClientCredentialsReply(_TokenReply):
    token_use: Literal["client_credentials"]


# ----- requests -------------------------------------------------------------------------------
class IdIn(Shape):
    id: RecordIdText


class AssociationTypeIn(Shape):
    association_category: Category = Field(alias="associationCategory")
    association_type_id: TypeId = Field(alias="associationTypeId")


class ArchiveInput(Shape):
    from_: IdIn = Field(alias="from")
    to: list[IdIn] = Field(min_length=1)


class ArchiveRequest(Shape):
    inputs: list[ArchiveInput] = Field(min_length=1)


class LabelsInput(Shape):
    """Labels archive and batch create take the same input."""

    from_: IdIn = Field(alias="from")
    to: IdIn
    types: list[AssociationTypeIn] = Field(min_length=1)


class LabelsRequest(Shape):
    inputs: list[LabelsInput] = Field(min_length=1)


class ReadInput(Shape):
    id: RecordIdText
    after: OptStr = None


class ReadRequest(Shape):
    inputs: list[ReadInput] = Field(min_length=1, max_length=1000)


_M = TypeVar("_M", bound=Shape)


def _nulls(value: Any, where: str = "$") -> list[str]:
    if value is None:
        return [where]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _nulls(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _nulls(v, f"{where}[{i}]")]
    return []


def check(model: type[_M], text: str | bytes) -> _M:
    """Validate JSON text against one shape of the contract (raises ValueError when it does not fit)."""
    nulls = _nulls(json.loads(text))
    if nulls:
        raise ValueError(f"{model.__name__}: optional fields are absent, never null: {nulls[:5]}")
    return model.model_validate_json(text)
