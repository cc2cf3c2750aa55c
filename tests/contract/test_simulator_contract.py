"""Every simulator reply, for every version and operation, against the project's contract.

Success, partial failure and each error, with each version's default reply and every flip the
notes list as UNSETTLED (selected per version).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from hubassoc_simulator import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TOKEN,
    FaultPlan,
    Simulator,
    SimulatorConfig,
    SimulatorState,
    TokenSpec,
    endpoints,
)
from hubassoc_simulator.config import FaultKind
from hubassoc_simulator.facts import ArchiveReply, CreateReply, ReadReply, Version
from tests.contract.hubspot_contract import (
    BatchBody,
    CreateBody,
    Error,
    LabelsList,
    OAuthClientCredentialsReply,
    OAuthRefreshReply,
    RateLimitError,
    ReadBody,
    Shape,
    check,
)
from tests.fixtures.simulator import SimulatorFactory
from tests.support.sim_client import SIM_DATE_VERSIONS, SIM_VERSIONS, SimClient, label_inputs, sim_api_path

H = "HUBSPOT_DEFINED"
U = "USER_DEFINED"
ARCHIVE_DEFAULT = {"2025-09": 200, "2026-03": 200, "2026-09": 200, "v4": 204}
READ_PARTIAL_DEFAULT = {"2025-09": 207, "2026-03": 207, "2026-09": 200, "v4": 207}


def _state() -> SimulatorState:
    state = SimulatorState()
    state.add_records("contacts", [str(i) for i in range(1, 6)])
    state.add_records("companies", [str(i) for i in range(10, 60, 10)])
    state.define_label("contacts", "companies", U, 36, "Decision maker")
    for f, t in (("1", "10"), ("2", "20"), ("3", "30"), ("4", "40")):
        state.add_association("contacts", f, "companies", t, [(H, 279), (H, 1), (U, 36)], mirror=True)
    for t in ("10", "20", "30"):
        state.add_association("contacts", "5", "companies", t)
    return state


def expect(response: requests.Response, status: int, model: type[Shape] | None) -> Any:
    """The reply has `status` and, when `model` is given, a body that fits it; else no body."""
    assert response.status_code == status, response.text[:500]
    if model is None:
        assert response.content == b""
        return None
    assert response.headers["Content-Type"].startswith("application/json")
    return check(model, response.content)


@pytest.fixture
def sim(simulator_factory: SimulatorFactory) -> Simulator:
    return simulator_factory(SimulatorConfig(rate_limit=10_000, read_page_size=2), _state())


def _archive_model(status: int) -> type[Shape] | None:
    return None if status == 204 else BatchBody


# ----- success and partial failure, each version's default reply --------------------------------
@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_archive_replies(sim: Simulator, version: str) -> None:
    client = SimClient(sim, version=version)
    status = ARCHIVE_DEFAULT[version]
    expect(client.archive([("1", ["10"])]), status, _archive_model(status))
    partial = expect(client.archive([("2", ["20", "99"]), ("77", ["30"])]), status, _archive_model(status))
    if partial is not None:
        assert partial.num_errors == 2
        assert partial.errors is not None
        assert len(partial.errors) == 2


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_labels_archive_replies(sim: Simulator, version: str) -> None:
    client = SimClient(sim, version=version)
    status = ARCHIVE_DEFAULT[version]
    expect(client.archive_labels("3", "30", [(U, 36)]), status, _archive_model(status))
    partial = client.post(
        "contacts", "companies", "batch/labels/archive", label_inputs([("3", "99", [(H, 1)])])
    )
    body = expect(partial, status, _archive_model(status))
    if body is not None:
        assert body.num_errors == 1


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_batch_read_replies(sim: Simulator, version: str) -> None:
    client = SimClient(sim, version=version)
    full = expect(client.read(["1", "5"]), 200, ReadBody)
    assert full.results[1].paging is not None, "three to records, two per page"
    assert full.results[0].to[0].association_types[0].label == "Primary"
    expect(client.read(["1", "999"]), READ_PARTIAL_DEFAULT[version], ReadBody)
    sim.configure(read_empty_as_error=True)
    sim.state.add_records("contacts", ["8"])
    expect(client.read(["8"]), READ_PARTIAL_DEFAULT[version], ReadBody)


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_batch_create_replies(sim: Simulator, version: str) -> None:
    client = SimClient(sim, version=version)
    created = expect(client.create([("4", "50", [(U, 36), (H, 279)])]), 201, CreateBody)
    assert created.results[0].labels == ["Decision maker"]
    expect(client.create([("4", "50", [(H, 279)]), ("4", "99", [(H, 279)])]), 207, CreateBody)


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_batch_create_past_an_association_limit(sim: Simulator, version: str) -> None:
    """A create past an admin's cap fails for that input only (207, an error saying so); the other
    inputs of the batch are created."""
    sim.configure(association_limits={"contacts/companies/USER_DEFINED:36": 1})  # 4 holds one (to 40)
    client = SimClient(sim, version=version)
    sim.state.add_records("contacts", ["6"])
    reply = client.create([("4", "50", [(U, 36)]), ("6", "50", [(H, 279)])])
    body = expect(reply, 207, CreateBody)
    assert body.num_errors == 1
    assert "limit" in body.errors[0].message.lower()
    assert body.errors[0].context == {"fromObjectId": ["4"], "toObjectId": ["50"]}
    assert sim.state.labels_of("contacts", "6", "companies", "50") == {(H, 279)}
    assert not sim.state.has_association("contacts", "4", "companies", "50")


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_labels_replies(sim: Simulator, version: str) -> None:
    listed = expect(SimClient(sim, version=version).labels(), 200, LabelsList)
    assert any(d.label is None for d in listed.results), "unlabeled types: label absent"
    if version == "v4":
        current = sim.url + "/crm/associations/v4/contacts/companies/labels"
        expect(SimClient(sim).session.get(current, timeout=5), 200, LabelsList)


# ----- the UNSETTLED variants, selected per version ---------------------------------------------
@pytest.mark.parametrize("version", SIM_VERSIONS)
@pytest.mark.parametrize(("mode", "ok", "partial"), [("200", 200, 200), ("204", 204, 204), ("207", 200, 207)])
def test_archive_flips(
    simulator_factory: SimulatorFactory, version: Version, mode: ArchiveReply, ok: int, partial: int
) -> None:
    sim = simulator_factory(SimulatorConfig(archive_replies={version: mode}), _state())
    client = SimClient(sim, version=version)
    expect(client.archive([("1", ["10"])]), ok, _archive_model(ok))
    expect(client.archive_labels("2", "99", [(U, 36)]), partial, _archive_model(partial))
    for batch_status in ("PENDING", "PROCESSING", "CANCELED"):
        sim.configure(batch_status=batch_status)
        expect(client.archive([("3", ["30"])]), ok, _archive_model(ok))


@pytest.mark.parametrize("version", SIM_VERSIONS)
@pytest.mark.parametrize(("read", "create"), [("200", "200"), ("207", "201")])
def test_read_and_create_flips(
    simulator_factory: SimulatorFactory, version: Version, read: ReadReply, create: CreateReply
) -> None:
    config = SimulatorConfig(read_replies={version: read}, create_replies={version: create})
    sim = simulator_factory(config, _state())
    client = SimClient(sim, version=version)
    expect(client.read(["1", "999"]), int(read), ReadBody)
    expect(client.create([("4", "50", [(H, 279)])]), int(create), CreateBody)


# ----- every error, every version ---------------------------------------------------------------
def _bad_bodies(client: SimClient) -> list[requests.Response]:
    too_big = label_inputs([("1", "10", [(U, 2**31)])])
    return [
        client.post("contacts", "companies", "batch/archive", b"{not json"),
        client.post("contacts", "companies", "batch/archive", {"inputs": [{"from": {"id": "x"}, "to": []}]}),
        client.post("contacts", "companies", "batch/labels/archive", too_big),
        client.post("contacts", "companies", "batch/create", too_big),
        client.post("contacts", "companies", "batch/read", {"inputs": [{"id": "1", "after": "forged"}]}),
        client.archive([("1", ["10"])] * 101),
    ]


def _each_operation(client: SimClient, ft: str = "contacts") -> list[requests.Response]:
    """One well-formed request per operation: archive, labels archive, create, read, labels."""
    return [
        client.archive([("1", ["10"])], ft=ft),
        client.archive_labels("2", "20", [(U, 36)], ft=ft),
        client.create([("4", "50", [(H, 279)])], ft=ft),
        client.read(["1"], ft=ft),
        client.labels(ft=ft),
    ]


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_error_replies(sim: Simulator, version: str) -> None:
    client = SimClient(sim, version=version)
    before = sim.state.snapshot()
    for response in _bad_bodies(client):
        expect(response, 400, Error)
    sim.add_token("pat-expiring", TokenSpec())
    sim.expire_token("pat-expiring")
    sim.add_token("pat-no-scopes", TokenSpec(scopes=frozenset()))
    refused: dict[int, list[str | None]] = {401: [None, "pat-expiring", "pat-wrong"], 403: ["pat-no-scopes"]}
    for status, tokens in refused.items():
        for token in tokens:
            for response in _each_operation(SimClient(sim, token=token, version=version)):
                expect(response, status, Error)
    for response in _each_operation(client, ft="widgets"):
        expect(response, 404, Error)
    wrong_method = client.session.get(sim.url + sim_api_path(version, "contacts", "companies", "batch/read"))
    expect(wrong_method, 405, Error)
    assert sim.state.snapshot() == before, "no refused request changed anything"


@pytest.mark.parametrize("version", SIM_VERSIONS)
@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "429", "429-daily"])
def test_fault_replies(simulator_factory: SimulatorFactory, version: str, fault: FaultKind) -> None:
    schedule: dict[int, FaultKind] = dict.fromkeys(range(1, 6), fault)
    sim = simulator_factory(SimulatorConfig(faults=FaultPlan(schedule=schedule)), _state())
    for response in _each_operation(SimClient(sim, version=version)):
        expect(response, int(fault[:3]), Error)
        if fault.startswith("429"):
            check(RateLimitError, response.content)


def test_rolling_and_daily_limit_replies(simulator_factory: SimulatorFactory) -> None:
    sim = simulator_factory(SimulatorConfig(rate_limit=1, daily_limit=2), _state())
    client = SimClient(sim)
    expect(client.labels(), 200, LabelsList)
    for response in (client.labels(), SimClient(sim, version="v4").read(["1"])):
        expect(response, 429, Error)
        check(RateLimitError, response.content)


def test_unexpected_error_and_unknown_route_replies(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> endpoints.Outcome:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(endpoints, "labels", boom)
    expect(SimClient(sim).labels(), 500, Error)
    expect(SimClient(sim).session.get(sim.url + "/crm/v3/nope", timeout=5), 404, Error)


# ----- OAuth ------------------------------------------------------------------------------------
GOOD = {
    "grant_type": "refresh_token",
    "client_id": DEFAULT_OAUTH_CLIENT_ID,
    "client_secret": DEFAULT_OAUTH_CLIENT_SECRET,
    "refresh_token": DEFAULT_REFRESH_TOKEN,
}


def test_oauth_replies(sim: Simulator) -> None:
    url = sim.url + "/oauth/v1/token"
    expect(requests.post(url, data=GOOD, timeout=5), 200, OAuthRefreshReply)
    credentials = {k: v for k, v in GOOD.items() if k != "refresh_token"} | {
        "grant_type": "client_credentials"
    }
    expect(requests.post(url, data=credentials, timeout=5), 200, OAuthClientCredentialsReply)
    sim.configure(oauth_scopes=frozenset({"crm.objects.contacts.write"}))
    expect(requests.post(url, data=GOOD, timeout=5), 200, OAuthRefreshReply)
    for field, value in (
        ("grant_type", "password"),
        ("client_id", "x"),
        ("client_secret", "x"),
        ("refresh_token", "x"),
    ):
        expect(requests.post(url, data={**GOOD, field: value}, timeout=5), 400, Error)
    expect(requests.get(url, timeout=5), 405, Error)


def test_the_default_token_is_not_in_any_reply(sim: Simulator) -> None:
    """Replies echo nothing secret (the contract check above would not notice an extra field)."""
    client = SimClient(sim)
    texts = [client.labels().text, client.read(["1"]).text, client.archive([("1", ["10"])]).text]
    texts.append(SimClient(sim, token=DEFAULT_TOKEN + "x").labels().text)
    assert all(DEFAULT_TOKEN not in text for text in texts)


@pytest.mark.parametrize("version", SIM_DATE_VERSIONS)
def test_toobjectid_is_a_string_and_labels_are_never_null(sim: Simulator, version: str) -> None:
    """What the strict contract means, shown once in plain terms (the 2023 description said integer)."""
    body = SimClient(sim, version=version).read(["5"]).json()
    first = body["results"][0]["to"][0]
    assert isinstance(first["toObjectId"], str)
    assert "label" not in first["associationTypes"][0]


def _read_body(
    to_object_id: Any = "10", type_id: int = 279, label: Any = "Primary", started: str = ""
) -> str:
    return json.dumps(
        {
            "status": "COMPLETE",
            "results": [
                {
                    "from": {"id": "1"},
                    "to": [
                        {
                            "toObjectId": to_object_id,
                            "associationTypes": [{"category": H, "typeId": type_id, "label": label}],
                        }
                    ],
                }
            ],
            "startedAt": started or "2026-08-01T10:00:00.000Z",
            "completedAt": "2026-08-01T10:00:01.000Z",
        }
    )


def _error_body(correlation_id: str = "5f0e4f0e-1c2b-4e63-9a43-2d1f0c9f1a11", category: Any = "X") -> str:
    return json.dumps({"category": category, "correlationId": correlation_id, "message": "m"})


@pytest.mark.parametrize(
    ("model", "text"),
    [
        (ReadBody, _read_body(to_object_id=10)),  # an integer: the 2023 description
        (ReadBody, _read_body(label=None)),  # null instead of absent
        (ReadBody, _read_body(type_id=2**31)),  # above int32
        (ReadBody, _read_body(started="yesterday")),
        (Error, _error_body(correlation_id="not-a-uuid")),
        (Error, _error_body(category=None)),
    ],
)
def test_the_contract_refuses_what_the_old_simulator_sent(model: type[Shape], text: str) -> None:
    """The checks above have teeth: each fault the conformance check found fails the contract."""
    check(ReadBody, _read_body())
    check(Error, _error_body())
    with pytest.raises(ValueError):
        check(model, text)
