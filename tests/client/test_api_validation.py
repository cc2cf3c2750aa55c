"""Bad object types, ids, batch sizes and base URLs are refused before any request is sent."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock as rm
from client_helpers import ClientFactory, one_input
from pydantic import ValidationError

from airflow_provider_hubassoc.client import HubSpotClient, HubSpotConfigError, StaticTokenProvider
from airflow_provider_hubassoc.models import BatchArchiveInput, InputValidationError

BAD_TYPES = ["../x", "a%2Fb", "", "contacts ", "kontakté", "contacts/../deals", "CONTACTS", "a?b=c", 7]


@pytest.mark.parametrize("bad", BAD_TYPES)
@pytest.mark.parametrize("side", ["from", "to"])
def test_bad_object_types_send_nothing(
    make_client: ClientFactory, requests_mock: rm.Mocker, bad: Any, side: str
) -> None:
    client = make_client()
    from_type, to_type = (bad, "companies") if side == "from" else ("contacts", bad)
    calls = [
        lambda: client.archive_associations(from_type, to_type, one_input()),
        lambda: client.archive_labels(from_type, to_type, []),
        lambda: client.list_labels(from_type, to_type),
        lambda: client.read_associations(from_type, to_type, ["1"]),
    ]
    for call in calls:
        with pytest.raises(InputValidationError, match="object type"):
            call()
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("good", ["contacts", "0-1", "2-1234567", "p1234_cars", "line_items"])
def test_good_object_types_pass(make_client: ClientFactory, requests_mock: rm.Mocker, good: str) -> None:
    requests_mock.get(rm.ANY, json={"results": []})
    assert make_client().list_labels(good, "companies") == []


BAD_IDS = [-1, 0, 1.5, "", " ", "12a", "١٢", 2**63, str(2**64), True, None]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_send_nothing(make_client: ClientFactory, requests_mock: rm.Mocker, bad: Any) -> None:
    with pytest.raises(ValidationError):
        BatchArchiveInput(from_id=bad, to_ids=("2",))
    client = make_client()
    with pytest.raises(InputValidationError):
        client.read_associations("contacts", "companies", ["1", bad])
    with pytest.raises(InputValidationError, match="input 0 is invalid"):
        client.archive_associations("contacts", "companies", [{"from_id": "1", "to_ids": [bad]}])  # type: ignore[list-item]
    assert requests_mock.call_count == 0


def test_mappings_are_validated_into_inputs(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.post(rm.ANY, status_code=204)
    make_client().archive_associations("contacts", "companies", [{"from_id": 1, "to_ids": [2]}])  # type: ignore[list-item]
    assert requests_mock.last_request.json() == {"inputs": [{"from": {"id": "1"}, "to": [{"id": "2"}]}]}


def test_empty_and_oversized_batches_send_nothing(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    client = make_client(max_batch_size=3)
    with pytest.raises(InputValidationError, match="at least one input"):
        client.archive_associations("contacts", "companies", [])
    four = [BatchArchiveInput(from_id=str(i), to_ids=("9",)) for i in range(1, 5)]
    with pytest.raises(InputValidationError, match="4 inputs, more than max_batch_size 3"):
        client.archive_associations("contacts", "companies", four)
    with pytest.raises(InputValidationError, match="at least one id"):
        client.read_associations("contacts", "companies", [])
    with pytest.raises(InputValidationError, match="sequence"):
        client.archive_associations("contacts", "companies", "12")  # type: ignore[arg-type]
    assert requests_mock.call_count == 0


def test_bad_client_settings_refused() -> None:
    with pytest.raises(HubSpotConfigError, match="max_batch_size"):
        HubSpotClient(token_provider=StaticTokenProvider("t" * 10), max_batch_size=0)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.hubapi.com",
        "http://10.0.0.5:8080",
        "http://127.example.com",
        "ftp://api.hubapi.com",
        "api.hubapi.com",
        "https://",
        "https://user:pw-secret@api.hubapi.com",
        "https://api.hubapi.com?x=1",
    ],
)
def test_unsafe_base_urls_refused(url: str) -> None:
    with pytest.raises(HubSpotConfigError) as caught:
        HubSpotClient(url, token_provider=StaticTokenProvider("pat-secret-1"))
    assert "pw-secret" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.3.4.5",
        "http://localhost:9000/",
        "http://[::1]:8080",
        "https://x.test",
    ],
)
def test_loopback_http_and_https_allowed(url: str) -> None:
    client = HubSpotClient(url, token_provider=StaticTokenProvider("pat-secret-1"))
    assert client.base_url == url.rstrip("/")
    client.close()
