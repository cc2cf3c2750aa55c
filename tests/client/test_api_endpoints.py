"""Paths for every API version and endpoint, labels, and batch read with paging."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_hubassoc.client.errors import HubSpotConfigError, HubSpotNotFoundError
from airflow_provider_hubassoc.client.versions import ApiVersion
from airflow_provider_hubassoc.models.associations import AssociationCategory
from tests.support.client_doubles import CLIENT_BASE as BASE
from tests.support.client_doubles import (
    LABELS_URL,
    READ_URL,
    ClientFactory,
    batch_body,
    error_body,
    label_pair,
    pairs,
)

PREFIXES = {
    "2025-09": "/crm/associations/2025-09/contacts/companies",
    "2026-03": "/crm/associations/2026-03/contacts/companies",
    "2026-09": "/crm/associations/2026-09/contacts/companies",
    "v4": "/crm/v4/associations/contacts/companies",
}
# v4 labels live on the current /crm/associations/v4/... path (the older one is the fallback).
V4_LABELS = "/crm/associations/v4/contacts/companies/labels"


def _call(client: Any, endpoint: str) -> None:
    if endpoint == "batch/archive":
        client.archive_associations("contacts", "companies", pairs())
    elif endpoint == "batch/labels/archive":
        client.archive_labels("contacts", "companies", [label_pair()])
    elif endpoint == "labels":
        client.list_labels("contacts", "companies")
    else:
        client.read_associations("contacts", "companies", ["1"])


@pytest.mark.parametrize("version", list(PREFIXES))
@pytest.mark.parametrize("endpoint", ["batch/archive", "batch/labels/archive", "labels", "batch/read"])
def test_every_version_and_endpoint_path(
    make_client: ClientFactory, requests_mock: rm.Mocker, version: str, endpoint: str
) -> None:
    requests_mock.register_uri(rm.ANY, re.compile(".*"), json={"status": "COMPLETE", "results": []})
    _call(make_client(api_version=version), endpoint)
    sent = requests_mock.last_request
    expected = V4_LABELS if (version, endpoint) == ("v4", "labels") else f"{PREFIXES[version]}/{endpoint}"
    assert sent.path == expected
    assert sent.method == ("GET" if endpoint == "labels" else "POST")
    assert requests_mock.call_count == 1


def test_v4_labels_fall_back_to_the_older_path_on_404(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    requests_mock.get(BASE + V4_LABELS, status_code=404, json=error_body("OBJECT_NOT_FOUND"))
    requests_mock.get(
        f"{BASE}{PREFIXES['v4']}/labels", json={"results": [{"category": "USER_DEFINED", "typeId": 36}]}
    )
    labels = make_client(api_version="v4").list_labels("contacts", "companies")
    assert [(lab.type_id, lab.label) for lab in labels] == [(36, None)]
    assert [r.path for r in requests_mock.request_history] == [V4_LABELS, f"{PREFIXES['v4']}/labels"]


def test_date_version_labels_404_is_not_retried_elsewhere(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    requests_mock.get(LABELS_URL, status_code=404, json=error_body("OBJECT_NOT_FOUND"))
    with pytest.raises(HubSpotNotFoundError):
        make_client().list_labels("contacts", "companies")
    assert requests_mock.call_count == 1


def test_default_version_is_2026_03(make_client: ClientFactory) -> None:
    assert make_client().api_version is ApiVersion.V2026_03


def test_bad_version_refused_before_any_request(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    with pytest.raises(HubSpotConfigError, match="2025-09, 2026-03, 2026-09, v4"):
        make_client(api_version="2024-01")
    assert requests_mock.call_count == 0


def test_label_archive_body(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{BASE}{PREFIXES['2026-03']}/batch/labels/archive", status_code=204)
    make_client().archive_labels("contacts", "companies", [label_pair()])
    assert requests_mock.last_request.json() == {
        "inputs": [
            {
                "from": {"id": "1"},
                "to": {"id": "2"},
                "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 36}],
            }
        ]
    }


def test_list_labels(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        LABELS_URL,
        json={
            "results": [
                {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
                {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
                {"category": "USER_DEFINED", "typeId": 36, "label": "Decision maker"},
            ]
        },
    )
    labels = make_client().list_labels("contacts", "companies")
    assert [(lab.category, lab.type_id, lab.label) for lab in labels] == [
        (AssociationCategory.HUBSPOT_DEFINED, 1, "Primary"),
        (AssociationCategory.HUBSPOT_DEFINED, 279, None),
        (AssociationCategory.USER_DEFINED, 36, "Decision maker"),
    ]


def _to(*ids: int, type_id: int = 279) -> list[dict[str, Any]]:
    return [
        {
            "toObjectId": i,
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
        }
        for i in ids
    ]


def test_read_follows_paging_per_id_and_merges_errors(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    replies = iter(
        [
            {
                "status_code": 207,
                "json": batch_body(
                    results=[
                        {
                            "from": {"id": "1"},
                            "to": _to(10, 11),
                            "paging": {"next": {"after": "c1", "link": "x"}},
                        },
                        {"from": {"id": "2"}, "to": _to(20)},
                    ],
                    numErrors=1,
                    errors=[
                        {"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"fromId": ["3"]}}
                    ],
                ),
            },
            {
                "json": batch_body(
                    results=[{"from": {"id": "1"}, "to": _to(12), "paging": {"next": {"after": "c2"}}}]
                )
            },
            {"json": batch_body(results=[{"from": {"id": "1"}, "to": _to(13)}])},
        ]
    )
    requests_mock.post(READ_URL, [next(replies) for _ in range(3)])
    result = make_client().read_associations("contacts", "companies", ["1", 2, "3", "1"])
    bodies = [r.json() for r in requests_mock.request_history]
    assert bodies == [
        {"inputs": [{"id": "1"}, {"id": "2"}, {"id": "3"}]},
        {"inputs": [{"id": "1", "after": "c1"}]},
        {"inputs": [{"id": "1", "after": "c2"}]},
    ]
    assert {k: [r.to_object_id for r in v] for k, v in result.associations.items()} == {
        "1": ["10", "11", "12", "13"],
        "2": ["20"],
        "3": [],
    }
    assert result.associations["1"][0].association_types[0].type_id == 279
    assert [e.context for e in result.errors] == [{"fromId": ["3"]}]


def test_read_sends_at_most_1000_ids_per_request(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(READ_URL, json=batch_body(results=[]))
    result = make_client().read_associations("contacts", "companies", range(1, 2501))
    assert [len(r.json()["inputs"]) for r in requests_mock.request_history] == [1000, 1000, 500]
    assert len(result.associations) == 2500


def test_read_stops_on_a_repeated_cursor(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    looping = batch_body(
        results=[{"from": {"id": "1"}, "to": _to(10), "paging": {"next": {"after": "same"}}}]
    )
    requests_mock.post(READ_URL, json=looping)
    make_client().read_associations("contacts", "companies", ["1"])
    assert requests_mock.call_count == 2


def test_read_handles_a_bodiless_reply(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.post(READ_URL, status_code=204)
    assert make_client().read_associations("contacts", "companies", ["5"]).associations == {"5": []}
