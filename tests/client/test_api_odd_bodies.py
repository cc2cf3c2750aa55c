"""Error bodies of shapes HubSpot never documented still become typed (and retried) errors."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hubassoc.client.errors import HubSpotServerError, HubSpotValidationError
from tests.support.client_doubles import ARCHIVE_URL, pairs


@pytest.mark.parametrize(
    "body",
    [{"status": "error", "message": None}, {"message": {"nested": 1}}, {"message": ["x"], "category": 7}],
)
def test_an_odd_5xx_body_is_still_retried_as_a_server_error(
    requests_mock: Any, make_client: Any, body: dict[str, Any]
) -> None:
    requests_mock.post(ARCHIVE_URL, [{"status_code": 503, "json": body}, {"status_code": 204}])
    client = make_client()
    result = client.archive_associations("contacts", "companies", pairs())
    assert result.http_status == 204
    assert requests_mock.call_count == 2


def test_an_odd_400_body_is_a_typed_validation_error(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post(
        ARCHIVE_URL,
        status_code=400,
        json={"message": None, "correlationId": "c-9", "category": "VALIDATION_ERROR"},
    )
    with pytest.raises(HubSpotValidationError) as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    assert caught.value.correlation_id == "c-9"
    assert caught.value.category == "VALIDATION_ERROR"
    assert not isinstance(caught.value, HubSpotServerError)
