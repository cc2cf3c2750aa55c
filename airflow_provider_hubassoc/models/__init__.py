"""Pydantic models of HubSpot's association requests and replies, and of our XCom summary."""

from airflow_provider_hubassoc.models.associations import (
    UNLABELED_TYPE_IDS,
    AssociationCategory,
    AssociationType,
    BatchArchiveInput,
    LabelArchiveInput,
)
from airflow_provider_hubassoc.models.identifiers import (
    InputValidationError,
    ObjectType,
    RecordId,
    parse_object_type,
    parse_record_id,
)
from airflow_provider_hubassoc.models.responses import (
    AssociatedRecord,
    AssociationLabel,
    AssociationReadResult,
    BatchErrorItem,
    BatchResponse,
    BatchResult,
    BatchStatus,
    ErrorBody,
    ErrorDetail,
)
from airflow_provider_hubassoc.models.summary import ArchiveSummary, FailedInput, Totals, VerifyPair

__all__ = [
    "UNLABELED_TYPE_IDS",
    "ArchiveSummary",
    "AssociatedRecord",
    "AssociationCategory",
    "AssociationLabel",
    "AssociationReadResult",
    "AssociationType",
    "BatchArchiveInput",
    "BatchErrorItem",
    "BatchResponse",
    "BatchResult",
    "BatchStatus",
    "ErrorBody",
    "ErrorDetail",
    "FailedInput",
    "InputValidationError",
    "LabelArchiveInput",
    "ObjectType",
    "RecordId",
    "Totals",
    "VerifyPair",
    "parse_object_type",
    "parse_record_id",
]
