"""Pydantic models of HubSpot's association requests and replies, and of our XCom summary.

Exports resolve lazily (PEP 562): importing one submodule, e.g. for a DAG file's
class definitions, must not pay for the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_hubassoc.lazy_exports import lazy_getattr

if TYPE_CHECKING:
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
    from airflow_provider_hubassoc.models.summary import (
        ArchiveSummary,
        FailedInput,
        Totals,
        VerifyPair,
    )

_EXPORTS: dict[str, str] = {
    "UNLABELED_TYPE_IDS": "airflow_provider_hubassoc.models.associations",
    "AssociationCategory": "airflow_provider_hubassoc.models.associations",
    "AssociationType": "airflow_provider_hubassoc.models.associations",
    "BatchArchiveInput": "airflow_provider_hubassoc.models.associations",
    "LabelArchiveInput": "airflow_provider_hubassoc.models.associations",
    "InputValidationError": "airflow_provider_hubassoc.models.identifiers",
    "ObjectType": "airflow_provider_hubassoc.models.identifiers",
    "RecordId": "airflow_provider_hubassoc.models.identifiers",
    "parse_object_type": "airflow_provider_hubassoc.models.identifiers",
    "parse_record_id": "airflow_provider_hubassoc.models.identifiers",
    "AssociatedRecord": "airflow_provider_hubassoc.models.responses",
    "AssociationLabel": "airflow_provider_hubassoc.models.responses",
    "AssociationReadResult": "airflow_provider_hubassoc.models.responses",
    "BatchErrorItem": "airflow_provider_hubassoc.models.responses",
    "BatchResponse": "airflow_provider_hubassoc.models.responses",
    "BatchResult": "airflow_provider_hubassoc.models.responses",
    "BatchStatus": "airflow_provider_hubassoc.models.responses",
    "ErrorBody": "airflow_provider_hubassoc.models.responses",
    "ErrorDetail": "airflow_provider_hubassoc.models.responses",
    "ArchiveSummary": "airflow_provider_hubassoc.models.summary",
    "FailedInput": "airflow_provider_hubassoc.models.summary",
    "Totals": "airflow_provider_hubassoc.models.summary",
    "VerifyPair": "airflow_provider_hubassoc.models.summary",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS)


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
