"""What the client sends, checked against the contract; what it makes of every documented reply.

The client is built the way operators build it (`HubSpotHook(...).get_conn()`, real Airflow
connection) and talks to the real simulator; the bodies it sent are read back from the simulator.
Replies the simulator cannot produce (the 2023 integer `toObjectId`, scopes named only in the
top-level context, a v4 labels path that answers 404) come from requests_mock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.errors import HubSpotError
from airflow_provider_hubassoc.client.versions import ApiVersion
from airflow_provider_hubassoc.models.associations import AssociationCategory, AssociationType, Pair
from hubassoc_simulator import DEFAULT_TOKEN, Simulator, SimulatorConfig, SimulatorState
from hubassoc_simulator.config import BatchStatus
from hubassoc_simulator.facts import ArchiveReply, ReadReply, Version
from tests.contract.hubspot_contract import ArchiveRequest, LabelsRequest, ReadRequest, Shape, check
from tests.fixtures.simulator import SimulatorFactory

H = "HUBSPOT_DEFINED"
U = "USER_DEFINED"
CLIENT_VERSIONS = [v.value for v in ApiVersion]
REQUEST_SHAPES: dict[str, type[Shape]] = {
    "batch_archive": ArchiveRequest,
    "labels_archive": LabelsRequest,
    "batch_read": ReadRequest,
    "batch_create": LabelsRequest,
}
ClientFor = Callable[..., HubSpotClient]


def _state() -> SimulatorState:
    state = SimulatorState()
    state.add_records("contacts", ["1", "2", "3", "4", "5"])
    state.add_records("companies", ["10", "20", "30", "40"])
    state.define_label("contacts", "companies", U, 36, "Decision maker")
    for f, t in (("1", "10"), ("2", "20"), ("3", "30")):
        state.add_association("contacts", f, "companies", t, [(H, 279), (U, 36)], mirror=True)
    for t in ("10", "20", "30"):
        state.add_association("contacts", "5", "companies", t)
    return state


@pytest.fixture
def client_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFor]:
    """`client_for(sim_or_url, version)`: a client from an Airflow connection, as operators get one."""
    from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

    hooks: list[HubSpotHook] = []

    def build(target: Simulator | str, version: str) -> HubSpotClient:
        url = target if isinstance(target, str) else target.url
        conn = {
            "conn_type": "hubspot",
            "host": url,
            "password": DEFAULT_TOKEN,
            "extra": {"rate_limit": 10_000},
        }
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CONTRACT", json.dumps(conn))
        hooks.append(HubSpotHook("hubspot_contract", api_version=version))
        return hooks[-1].get_conn()

    yield build
    for hook in hooks:
        hook.close()


def _labelled(from_id: str, to_id: str, *types: tuple[AssociationCategory, int]) -> Pair:
    return Pair(from_id, to_id, tuple(AssociationType(category=c, type_id=t) for c, t in types))


# ----- requests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("version", CLIENT_VERSIONS)
def test_every_request_the_client_builds_fits_the_contract(
    simulator_factory: SimulatorFactory, client_for: ClientFor, version: str
) -> None:
    sim = simulator_factory(SimulatorConfig(read_page_size=2), _state())
    client = client_for(sim, version)
    client.archive_associations("contacts", "companies", [Pair("1", "10"), Pair("2", "20")])
    client.archive_labels(
        "contacts", "companies", [_labelled("3", "30", (AssociationCategory.USER_DEFINED, 36))]
    )
    read = client.read_associations("contacts", "companies", ["5", "4"])
    assert [r.to_object_id for r in read.associations["5"]] == ["10", "20", "30"], (
        "followed the opaque cursor"
    )
    assert any(label.label == "Decision maker" for label in client.list_labels("contacts", "companies"))
    sent = sim.request_bodies()
    assert {version} == {v for v, _ in sent}, "the simulator speaks every version the client speaks"
    for endpoint, model in REQUEST_SHAPES.items():
        for body in [b for _, b in sim.request_bodies(endpoint)]:
            check(model, json.dumps(body))
    reads = [b for _, b in sim.request_bodies("batch_read")]
    assert len(reads) == 2
    assert isinstance(reads[1]["inputs"][0]["after"], str)
    assert sim.counters()["by_endpoint"]["labels"] == 1, "the first labels path answered"


@pytest.mark.parametrize("type_id", [2**31, 0])
def test_type_ids_outside_int32_are_refused_before_any_request(
    simulator_factory: SimulatorFactory, client_for: ClientFor, type_id: int
) -> None:
    sim = simulator_factory(None, _state())
    client = client_for(sim, "2026-03")
    with pytest.raises(ValueError, match=str(type_id)):
        client.archive_labels(
            "contacts", "companies", [_labelled("1", "10", (AssociationCategory.USER_DEFINED, type_id))]
        )
    assert sim.counters()["requests"] == 0


# ----- replies: every variant the notes document -------------------------------------------------
@pytest.mark.parametrize("version", CLIENT_VERSIONS)
@pytest.mark.parametrize("mode", ["200", "204", "207"])
def test_archive_replies_in_every_variant(
    simulator_factory: SimulatorFactory, client_for: ClientFor, version: Version, mode: ArchiveReply
) -> None:
    sim = simulator_factory(SimulatorConfig(archive_replies={version: mode}), _state())
    client = client_for(sim, version)
    result = client.archive_associations("contacts", "companies", [Pair("1", "10"), Pair("1", "99")])
    labels = client.archive_labels(
        "contacts", "companies", [_labelled("2", "20", (AssociationCategory.USER_DEFINED, 36))]
    )
    assert not sim.state.has_association("contacts", "1", "companies", "10")
    assert (U, 36) not in sim.state.labels_of("contacts", "2", "companies", "20")
    if mode == "204":
        assert (result.http_status, result.batch) == (204, None), "no body: nothing said about any pair"
        assert (labels.http_status, labels.batch) == (204, None)
        return
    assert result.http_status == (207 if mode == "207" else 200)
    assert result.batch is not None
    assert [e.context["toObjectId"] for e in result.batch.errors] == [["99"]]
    assert labels.http_status == 200
    assert labels.batch is not None
    assert labels.batch.errors == []


@pytest.mark.parametrize("status", ["PENDING", "PROCESSING", "CANCELED"])
def test_unfinished_batch_statuses_reach_the_caller(
    simulator_factory: SimulatorFactory, client_for: ClientFor, status: BatchStatus
) -> None:
    sim = simulator_factory(SimulatorConfig(batch_status=status), _state())
    result = client_for(sim, "2026-09").archive_associations("contacts", "companies", [Pair("1", "10")])
    assert result.batch is not None
    assert result.batch.status.value == status


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
@pytest.mark.parametrize("mode", ["200", "207"])
def test_batch_read_partial_failure_in_every_variant(
    simulator_factory: SimulatorFactory, client_for: ClientFor, version: Version, mode: ReadReply
) -> None:
    sim = simulator_factory(SimulatorConfig(read_replies={version: mode}), _state())
    read = client_for(sim, version).read_associations("contacts", "companies", ["1", "999"])
    assert [
        (r.to_object_id, sorted(t.type_id for t in r.association_types)) for r in read.associations["1"]
    ] == [("10", [36, 279])]
    assert [e.context.get("fromObjectId") for e in read.errors] == [["999"]]


def _read_body(to_object_id: Any, label: Any) -> dict[str, Any]:
    types: dict[str, Any] = {"category": H, "typeId": 279}
    if label is not ...:
        types["label"] = label
    return {
        "status": "COMPLETE",
        "results": [{"from": {"id": "1"}, "to": [{"toObjectId": to_object_id, "associationTypes": [types]}]}],
        "startedAt": "2026-08-01T10:00:00Z",
        "completedAt": "2026-08-01T10:00:01Z",
    }


@pytest.mark.parametrize(("to_object_id", "label"), [(10, None), ("10", ...), (10, ...), ("10", "Primary")])
def test_batch_read_accepts_integer_ids_and_null_or_absent_labels(
    client_for: ClientFor, requests_mock: rm.Mocker, to_object_id: Any, label: Any
) -> None:
    url = "https://api.hubapi.test"
    requests_mock.post(
        f"{url}/crm/associations/2026-03/contacts/companies/batch/read", json=_read_body(to_object_id, label)
    )
    read = client_for(url, "2026-03").read_associations("contacts", "companies", ["1"])
    (record,) = read.associations["1"]
    assert record.to_object_id == "10"
    assert record.association_types[0].label == (None if label is ... else label)


def test_v4_labels_fall_back_to_the_older_path(client_for: ClientFor, requests_mock: rm.Mocker) -> None:
    url = "https://api.hubapi.test"
    current = requests_mock.get(
        f"{url}/crm/associations/v4/contacts/companies/labels",
        status_code=404,
        json={
            "category": "OBJECT_NOT_FOUND",
            "correlationId": "5f0e4f0e-1c2b-4e63-9a43-2d1f0c9f1a11",
            "message": "x",
        },
    )
    older = requests_mock.get(
        f"{url}/crm/v4/associations/contacts/companies/labels",
        json={"results": [{"category": U, "typeId": 36, "label": "Decision maker"}]},
    )
    labels = client_for(url, "v4").list_labels("contacts", "companies")
    assert [(label.type_id, label.label) for label in labels] == [(36, "Decision maker")]
    assert (current.call_count, older.call_count) == (1, 1)


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [{"message": "m", "context": {"requiredScopes": ["crm.objects.companies.write"]}}]},
        {
            "errors": [
                {"message": "m", "context": {"requiredGranularScopes": ["crm.objects.companies.write"]}}
            ]
        },
        {"context": {"missingScopes": ["crm.objects.companies.write"]}},
    ],
)
def test_missing_scopes_are_named_from_all_three_places(
    client_for: ClientFor, requests_mock: rm.Mocker, body: dict[str, Any]
) -> None:
    url = "https://api.hubapi.test"
    error = {
        "category": "MISSING_SCOPES",
        "correlationId": "5f0e4f0e-1c2b-4e63-9a43-2d1f0c9f1a11",
        "message": "m",
    }
    requests_mock.post(
        f"{url}/crm/associations/2026-03/contacts/companies/batch/archive",
        status_code=403,
        json={**error, **body},
    )
    with pytest.raises(HubSpotError, match=r"crm\.objects\.companies\.write"):
        client_for(url, "2026-03").archive_associations("contacts", "companies", [Pair("1", "10")])
