"""HubSpot reply shapes parse into models, including fields HubSpot adds later."""

from __future__ import annotations

import pytest

from airflow_provider_hubassoc.client.errors import HubSpotConfigError
from airflow_provider_hubassoc.client.versions import (
    BATCH_ARCHIVE,
    ApiVersion,
    associations_path,
    parse_api_version,
)
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from airflow_provider_hubassoc.models.responses import (
    AssociatedRecord,
    BatchResponse,
    BatchResult,
    BatchStatus,
    ErrorBody,
)
from airflow_provider_hubassoc.models.summary import ArchiveSummary


def test_batch_body_with_errors_parses() -> None:
    body = {
        "status": "COMPLETE",
        "results": [],
        "numErrors": 1,
        "errors": [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "No contact with id 9",
                "context": {"fromId": ["9"]},
                "errors": [{"message": "missing", "in": "from"}],
                "subCategory": "crm.associations.NOT_FOUND",
            }
        ],
        "startedAt": "2026-03-30T10:00:00.000Z",
        "completedAt": "2026-03-30T10:00:00.100Z",
        "somethingNew": 1,
    }
    parsed = BatchResponse.model_validate(body)
    assert parsed.status is BatchStatus.COMPLETE
    assert parsed.num_errors == 1
    assert parsed.errors[0].context == {"fromId": ["9"]}
    assert parsed.errors[0].errors[0].in_ == "from"
    assert parsed.completed_at is not None
    assert parsed.started_at is not None


def test_bodiless_reply_has_no_batch() -> None:
    """A 204 says nothing about any pair: no status is made up for it."""
    result = BatchResult(http_status=204)
    assert result.batch is None
    assert not hasattr(result, "status")


@pytest.mark.parametrize(
    ("to_object_id", "label"), [("101", {"label": "Boss"}), (101, {}), ("101", {"label": None})]
)
def test_read_records_accept_string_or_int_ids_and_absent_or_null_labels(
    to_object_id: object, label: dict[str, object]
) -> None:
    record = AssociatedRecord.model_validate(
        {
            "toObjectId": to_object_id,
            "associationTypes": [{"category": "USER_DEFINED", "typeId": 36, **label}],
        }
    )
    assert record.to_object_id == "101"
    assert record.association_types[0].label == label.get("label")


def test_rate_limit_error_body_parses() -> None:
    body = ErrorBody.model_validate(
        {
            "status": "error",
            "message": "limit",
            "errorType": "RATE_LIMIT",
            "correlationId": "c-1",
            "policyName": "DAILY",
        }
    )
    assert body.policy_name == "DAILY"
    assert body.error_type == "RATE_LIMIT"
    assert body.correlation_id == "c-1"


def test_read_result_coerces_numeric_ids() -> None:
    record = AssociatedRecord.model_validate(
        {"toObjectId": 123, "associationTypes": [{"category": "USER_DEFINED", "typeId": 36, "label": "Boss"}]}
    )
    assert record.to_object_id == "123"
    assert record.association_types[0].type_id == 36


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2025-09", "/crm/associations/2025-09/contacts/companies/batch/archive"),
        ("2026-03", "/crm/associations/2026-03/contacts/companies/batch/archive"),
        ("2026-09", "/crm/associations/2026-09/contacts/companies/batch/archive"),
        ("v4", "/crm/v4/associations/contacts/companies/batch/archive"),
    ],
)
def test_paths_for_every_version(version: str, expected: str) -> None:
    assert associations_path(parse_api_version(version), "contacts", "companies", BATCH_ARCHIVE) == expected


def test_default_and_refused_versions() -> None:
    assert parse_api_version(None) is ApiVersion.V2026_03
    with pytest.raises(HubSpotConfigError, match=r"2025-09, 2026-03, 2026-09, v4"):
        parse_api_version("v3")


def test_path_builder_refuses_traversal() -> None:
    with pytest.raises(InputValidationError):
        associations_path(ApiVersion.V4, "../../oauth", "companies", BATCH_ARCHIVE)


def test_summary_round_trips_in_camel_case() -> None:
    summary = ArchiveSummary(
        operation="batch_archive",
        from_object_type="contacts",
        to_object_type="companies",
        api_version="2026-03",
        started_at="2026-11-23T00:00:00Z",
    )
    wire = summary.to_xcom()
    assert wire["fromObjectType"] == "contacts"
    assert wire["totals"]["requested"] == 0
    assert ArchiveSummary.from_xcom(wire) == summary


def test_a_category_hubspot_adds_later_does_not_break_replies() -> None:
    record = AssociatedRecord.model_validate(
        {
            "toObjectId": 5,
            "associationTypes": [{"category": "PARTNER_DEFINED", "typeId": 901, "label": "Reseller"}],
        }
    )
    assert record.association_types[0].category == "PARTNER_DEFINED"
