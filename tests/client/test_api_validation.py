"""Bad object types, ids, batch sizes and base URLs are refused before any request is sent."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.auth import StaticTokenProvider
from airflow_provider_hubassoc.client.errors import HubSpotConfigError
from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id
from tests.support.client_doubles import ClientFactory, label_pair, pairs

BAD_TYPES = ["../x", "a%2Fb", "", "contacts ", "kontakté", "contacts/../deals", "CONTACTS", "a?b=c", 7]


@pytest.mark.parametrize("bad", BAD_TYPES)
@pytest.mark.parametrize("side", ["from", "to"])
def test_bad_object_types_send_nothing(
    make_client: ClientFactory, requests_mock: rm.Mocker, bad: Any, side: str
) -> None:
    client = make_client()
    from_type, to_type = (bad, "companies") if side == "from" else ("contacts", bad)
    calls = [
        lambda: client.archive_associations(from_type, to_type, pairs()),
        lambda: client.archive_labels(from_type, to_type, [label_pair()]),
        lambda: client.list_labels(from_type, to_type),
        lambda: client.read_associations(from_type, to_type, ["1"]),
    ]
    for call in calls:
        with pytest.raises(InputValidationError, match="object type"):
            call()
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    "good", ["contacts", "0-1", "2-1234567", "p1234_cars", "p1234_MyObject", "line_items"]
)
def test_good_object_types_pass(make_client: ClientFactory, requests_mock: rm.Mocker, good: str) -> None:
    requests_mock.get(rm.ANY, json={"results": []})
    assert make_client().list_labels(good, "companies") == []


BAD_IDS = [-1, 0, 1.5, "", " ", "12a", "١٢", 2**63, str(2**64), True, None]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_send_nothing(make_client: ClientFactory, requests_mock: rm.Mocker, bad: Any) -> None:
    with pytest.raises(InputValidationError):
        parse_record_id(bad)  # the rule every input edge applies before a Pair exists
    client = make_client()
    with pytest.raises(InputValidationError):
        client.read_associations("contacts", "companies", ["1", bad])
    with pytest.raises(InputValidationError, match="pair 0 must be a Pair"):
        client.archive_associations("contacts", "companies", [{"from_id": "1", "to_ids": [bad]}])  # type: ignore[list-item]
    assert requests_mock.call_count == 0


def test_pairs_are_grouped_by_from_id_in_the_archive_body(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(rm.ANY, status_code=204)
    make_client().archive_associations("contacts", "companies", pairs(("1", "2"), ("4", "5"), ("1", "3")))
    assert requests_mock.last_request.json() == {
        "inputs": [
            {"from": {"id": "1"}, "to": [{"id": "2"}, {"id": "3"}]},
            {"from": {"id": "4"}, "to": [{"id": "5"}]},
        ]
    }


def test_labels_and_plain_pairs_are_not_mixed_up(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    client = make_client()
    with pytest.raises(InputValidationError, match="without labels"):
        client.archive_associations("contacts", "companies", [label_pair()])
    with pytest.raises(InputValidationError, match="with its types"):
        client.archive_labels("contacts", "companies", pairs())
    assert requests_mock.call_count == 0


def test_empty_and_oversized_batches_send_nothing(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    client = make_client(max_batch_size=3)
    with pytest.raises(InputValidationError, match="non-empty sequence"):
        client.archive_associations("contacts", "companies", [])
    four = pairs(*((str(i), "9") for i in range(1, 5)))
    with pytest.raises(InputValidationError, match="4 pairs, more than max_batch_size 3"):
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
        "http://127.0.0.1:8080/pat-na1-token-in-path",
        "https://api.hubapi.com/crm",
        "https://api.hubapi.com/#pat-na1-token-in-path",
        "https://api.hubapi.com:99999",
    ],
)
def test_unsafe_base_urls_refused(url: str) -> None:
    with pytest.raises(HubSpotConfigError) as caught:
        HubSpotClient(url, token_provider=StaticTokenProvider("pat-secret-1"))
    assert "pw-secret" not in str(caught.value)
    assert "token-in-path" not in str(caught.value)
    assert "/crm" not in str(caught.value)


def test_a_base_url_path_is_refused_naming_the_problem() -> None:
    with pytest.raises(HubSpotConfigError, match=r"path, query or fragment is refused \(not shown\)"):
        HubSpotClient("http://127.0.0.1:8080/pat-na1-xyz", token_provider=StaticTokenProvider("pat-secret-1"))


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
