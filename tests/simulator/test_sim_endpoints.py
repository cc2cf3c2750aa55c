"""The four association endpoints on every version: bodies, replies and state changes."""

from __future__ import annotations

import http.client
import time
import uuid
from datetime import datetime

import pytest

from hubassoc_simulator import (
    DEFAULT_TOKEN,
    Simulator,
    SimulatorConfig,
    SimulatorState,
    TokenSpec,
)
from tests.support.sim_client import SIM_VERSIONS, SimClient

H = "HUBSPOT_DEFINED"


def small_state() -> SimulatorState:
    state = SimulatorState()
    state.add_records("contacts", ["1", "2", "3"])
    state.add_records("companies", ["10", "20", "30"])
    state.add_association("contacts", "1", "companies", "10", [(H, 279), (H, 1)], mirror=True)
    state.add_association("contacts", "1", "companies", "20")
    state.add_association("contacts", "2", "companies", "20", [(H, 279), ("USER_DEFINED", 36)])
    state.define_label("contacts", "companies", "USER_DEFINED", 36, "Decision maker")
    return state


@pytest.fixture
def sim(simulator_factory) -> Simulator:
    return simulator_factory(SimulatorConfig(rate_limit=10_000), small_state())


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_every_endpoint_on_every_version(sim: Simulator, version: str) -> None:
    client = SimClient(sim, version=version)
    labels = client.labels()
    assert labels.status_code == 200
    named = [{k: d[k] for k in ("category", "typeId", "label") if k in d} for d in labels.json()["results"]]
    assert {"category": "USER_DEFINED", "typeId": 36, "label": "Decision maker"} in named
    read = client.read(["1"])
    assert read.status_code == 200
    assert [to["toObjectId"] for to in read.json()["results"][0]["to"]] == ["10", "20"]
    archive_status = 204 if version == "v4" else 200  # what HubSpot describes for each version today
    assert client.archive([("1", ["10"])]).status_code == archive_status
    assert not sim.state.has_association("contacts", "1", "companies", "10")
    assert not sim.state.has_association("companies", "10", "contacts", "1"), "reverse edge must go too"
    assert client.archive_labels("2", "20", [("USER_DEFINED", 36)]).status_code == archive_status
    assert sim.state.labels_of("contacts", "2", "companies", "20") == {(H, 279)}
    created = client.create([("3", "30", [("USER_DEFINED", 36)])])
    assert created.status_code == 201
    assert sim.state.labels_of("contacts", "3", "companies", "30") == {("USER_DEFINED", 36)}
    assert [r.api_version for r in sim.request_log] == [version] * 5


def test_object_type_ids_are_aliases(sim: Simulator) -> None:
    client = SimClient(sim)
    assert client.archive([("1", ["20"])], ft="0-1", tt="0-2").status_code == 200
    assert not sim.state.has_association("contacts", "1", "companies", "20")


def test_read_body_shape_with_labels(sim: Simulator) -> None:
    body = SimClient(sim).read(["1"]).json()
    first = body["results"][0]
    assert first["from"] == {"id": "1"}
    assert first["to"][0]["toObjectId"] == "10", "a string since 2024"
    assert first["to"][0]["associationTypes"] == [
        {"category": H, "typeId": 1, "label": "Primary"},
        {"category": H, "typeId": 279},  # `label` absent, not null
    ]
    assert "paging" not in first


@pytest.mark.parametrize("status", ["COMPLETE", "PROCESSING", "CANCELED"])
def test_reply_mode_200_body(simulator_factory, status: str) -> None:
    sim = simulator_factory(SimulatorConfig(reply_mode="200", batch_status=status), small_state())
    response = SimClient(sim).archive([("1", ["10", "20"])])
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == status
    assert body["numErrors"] == 0
    assert body["results"] == [{"from": {"id": "1"}, "to": [{"id": "10"}, {"id": "20"}]}]
    assert datetime.fromisoformat(body["startedAt"].replace("Z", "+00:00")) <= datetime.fromisoformat(
        body["completedAt"].replace("Z", "+00:00")
    )


def test_reply_mode_alternate_flips(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(archive_replies={"2026-03": "alternate"}), small_state())
    client = SimClient(sim)
    codes = [client.archive([("3", ["30"])]).status_code for _ in range(2)]
    codes.append(client.archive_labels("3", "30", [(H, 1)]).status_code)
    codes.append(client.archive([("3", ["30"])]).status_code)
    assert codes == [204, 200, 204, 200]


@pytest.mark.parametrize(("mode", "status"), [("200", 200), ("207", 207)])
def test_unknown_ids_fail_per_pair_inside_the_body(simulator_factory, mode: str, status: int) -> None:
    """Date versions: a 200 listing the failed inputs (no version declares 207; it stays selectable)."""
    sim = simulator_factory(SimulatorConfig(archive_replies={"2026-03": mode}), small_state())
    response = SimClient(sim).archive([("1", ["10", "999"]), ("777", ["20"])])
    assert response.status_code == status
    body = response.json()
    assert body["numErrors"] == 2
    assert len(body["errors"]) == 2
    assert body["status"] == "COMPLETE"
    assert body["startedAt"]
    assert body["completedAt"]
    contexts = [e["context"] for e in body["errors"]]
    assert {"fromObjectId": ["1"], "toObjectId": ["999"], "objectType": ["companies"]} in contexts
    assert {"fromObjectId": ["777"], "toObjectId": ["20"], "objectType": ["contacts"]} in contexts
    assert all(e["category"] == "OBJECT_NOT_FOUND" for e in body["errors"])
    assert body["results"] == [{"from": {"id": "1"}, "to": [{"id": "10"}]}]
    assert not sim.state.has_association("contacts", "1", "companies", "10"), (
        "the valid pair is still archived"
    )


def test_labels_archive_unknown_record_fails_inside_a_200(sim: Simulator) -> None:
    response = SimClient(sim).archive_labels("1", "55", [(H, 1)])
    assert response.status_code == 200
    assert response.json()["errors"][0]["context"]["toObjectId"] == ["55"]
    assert sim.state.labels_of("contacts", "1", "companies", "10") == {(H, 1), (H, 279)}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b"{}",
        {"inputs": [{"from": {"id": "1"}}]},
        {"inputs": [{"from": {"id": "abc"}, "to": [{"id": "10"}]}]},
        {"inputs": [{"from": {"id": "1"}, "to": [{"id": "-5"}]}]},
        {"inputs": [{"to": [{"id": "10"}]}]},
    ],
)
def test_malformed_archive_bodies_are_400(sim: Simulator, body: object) -> None:
    response = SimClient(sim).post("contacts", "companies", "batch/archive", body)
    assert response.status_code == 400
    parsed = response.json()
    assert parsed["category"] == "VALIDATION_ERROR"
    assert parsed["status"] == "error"
    uuid.UUID(parsed["correlationId"])
    assert sim.state.association_count() == 4


@pytest.mark.parametrize(
    "types",
    [
        [],
        [{"associationCategory": "NOPE", "associationTypeId": 1}],
        [{"associationCategory": H}],
        [{"associationCategory": H, "associationTypeId": "1"}],
        [{"associationCategory": "USER_DEFINED", "associationTypeId": 2**31}],  # above int32
        [{"associationCategory": H, "associationTypeId": 0}],
    ],
)
def test_malformed_label_bodies_are_400(sim: Simulator, types: list[object]) -> None:
    body = {"inputs": [{"from": {"id": "1"}, "to": {"id": "10"}, "types": types}]}
    assert SimClient(sim).post("contacts", "companies", "batch/labels/archive", body).status_code == 400


def test_too_many_inputs_is_400_and_limit_is_configurable(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(max_inputs=3), small_state())
    client = SimClient(sim)
    assert client.archive([("1", ["10"])] * 4).status_code == 400
    assert client.archive([("1", ["10"])] * 3).status_code == 200
    sim.configure(max_inputs=100)
    assert client.archive([("1", ["10"])] * 100).status_code == 200
    assert client.archive([("1", ["10"])] * 101).status_code == 400


def test_unlabeled_type_removes_every_label(sim: Simulator) -> None:
    client = SimClient(sim, version="v4")
    assert client.archive_labels("1", "10", [(H, 1)]).status_code == 204
    assert sim.state.labels_of("contacts", "1", "companies", "10") == {(H, 279)}
    assert sim.state.labels_of("companies", "10", "contacts", "1") == {(H, 280)}, "inverse label removed"
    sim.state.add_association("contacts", "1", "companies", "10", [(H, 1), ("USER_DEFINED", 36)])
    assert client.archive_labels("1", "10", [(H, 279)]).status_code == 204
    assert not sim.state.has_association("contacts", "1", "companies", "10")
    assert not sim.state.has_association("companies", "10", "contacts", "1")


def test_archive_is_idempotent(sim: Simulator) -> None:
    client = SimClient(sim)
    for _ in range(3):
        assert client.archive([("1", ["10", "20"]), ("3", ["30"])]).status_code == 200
        assert client.archive_labels("2", "20", [("USER_DEFINED", 36)]).status_code == 200
    assert sim.state.association_count("contacts", "companies") == 1
    assert sim.counters()["archived_pairs"] == 3 * 4


def test_batch_read_pages_with_after(simulator_factory) -> None:
    state = SimulatorState()
    for i in range(1, 12):
        state.add_association("contacts", "1", "companies", str(i))
    sim = simulator_factory(SimulatorConfig(read_page_size=5), state)
    client = SimClient(sim)
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        item: dict[str, str] = {"id": "1"} if after is None else {"id": "1", "after": after}
        result = client.post("contacts", "companies", "batch/read", {"inputs": [item]}).json()["results"][0]
        seen += [to["toObjectId"] for to in result["to"]]
        pages += 1
        after = result.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
    assert seen == [str(i) for i in range(1, 12)]
    assert pages == 3


def test_batch_read_cap_and_unknown_ids(simulator_factory) -> None:
    state = SimulatorState()
    state.add_records("contacts", [str(i) for i in range(1, 1001)])
    sim = simulator_factory(None, state)
    client = SimClient(sim)
    ok = client.read([str(i) for i in range(1, 1001)])
    assert ok.status_code == 200
    assert len(ok.json()["results"]) == 1000
    assert client.read([str(i) for i in range(1, 1002)]).status_code == 400
    partial = client.read(["1", "5000"])
    assert partial.status_code == 207
    assert partial.json()["errors"][0]["context"]["fromObjectId"] == ["5000"]
    assert client.read(["1", "5000"], version="2026-09").status_code == 200, "2026-09 declares 200 only"
    sim.configure(read_replies={"2026-03": "200"})
    assert client.read(["1", "5000"]).status_code == 200
    sim.configure(read_empty_as_error=True)
    empty = client.read(["1"]).json()
    assert empty["errors"][0]["subCategory"] == {"code": "crm.associations.NO_ASSOCIATIONS_FOUND"}


def test_visibility_delay_keeps_archived_pairs_readable(simulator_factory) -> None:
    sim = simulator_factory(None, small_state())
    sim.configure(faults={"visibility_delay_s": 0.4})
    client = SimClient(sim)
    assert client.archive([("1", ["10"])]).status_code == 200
    assert not sim.state.has_association("contacts", "1", "companies", "10"), "the truth changes at once"
    ids = [to["toObjectId"] for to in client.read(["1"]).json()["results"][0]["to"]]
    assert "10" in ids
    time.sleep(0.5)
    ids = [to["toObjectId"] for to in client.read(["1"]).json()["results"][0]["to"]]
    assert ids == ["20"]


def test_expire_ghosts_ends_the_visibility_delay_at_once(simulator_factory) -> None:
    sim = simulator_factory(None, small_state())
    sim.configure(faults={"visibility_delay_s": 600.0})
    client = SimClient(sim)
    assert client.archive([("1", ["10"])]).status_code == 200
    assert "10" in [to["toObjectId"] for to in client.read(["1"]).json()["results"][0]["to"]]
    sim.state.expire_ghosts()
    assert [to["toObjectId"] for to in client.read(["1"]).json()["results"][0]["to"]] == ["20"]
    assert sim.state.ghost_count() == 0


def test_auth_errors(sim: Simulator) -> None:
    missing = SimClient(sim, token=None).archive([("1", ["10"])])
    assert missing.status_code == 401
    assert missing.json()["category"] == "INVALID_AUTHENTICATION"
    wrong = SimClient(sim, token="pat-wrong").labels()
    assert wrong.status_code == 401
    assert wrong.json()["category"] == "INVALID_AUTHENTICATION"
    sim.add_token("pat-short-lived", TokenSpec())
    assert SimClient(sim, token="pat-short-lived").labels().status_code == 200
    sim.expire_token("pat-short-lived")
    expired = SimClient(sim, token="pat-short-lived").labels()
    assert expired.status_code == 401
    assert expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    assert sim.state.association_count() == 4
    assert all("pat-" not in repr(record) for record in sim.request_log)


def test_missing_scopes_403(sim: Simulator) -> None:
    sim.set_scopes(DEFAULT_TOKEN, {"crm.objects.contacts.write", "crm.objects.contacts.read"})
    client = SimClient(sim)
    response = client.archive([("1", ["10"])])
    assert response.status_code == 403
    body = response.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredScopes"] == ["crm.objects.companies.write"]
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.companies.write"]
    assert client.read(["1"]).json()["errors"][0]["context"]["requiredScopes"] == [
        "crm.objects.companies.read"
    ]
    assert sim.state.has_association("contacts", "1", "companies", "10")
    sim.set_scopes(DEFAULT_TOKEN, None)
    assert client.archive([("1", ["10"])]).status_code == 200


def test_custom_objects_need_custom_scope(simulator_factory) -> None:
    state = SimulatorState()
    state.add_association("p1234_cars", "5", "contacts", "1")
    sim = simulator_factory(None, state)
    sim.set_scopes(DEFAULT_TOKEN, {"crm.objects.contacts.write"})
    response = SimClient(sim).archive([("5", ["1"])], ft="p1234_cars", tt="contacts")
    assert response.json()["errors"][0]["context"]["requiredScopes"] == ["crm.objects.custom.write"]
    sim.set_scopes(DEFAULT_TOKEN, {"crm.objects.contacts.write", "crm.objects.custom.write"})
    assert SimClient(sim).archive([("5", ["1"])], ft="p1234_cars", tt="contacts").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/crm/associations/2026-03/widgets/companies/batch/archive",
        "/crm/associations/2026-03/2-999/companies/batch/archive",
        "/crm/associations/2099-01/contacts/companies/batch/archive",
        "/crm/v3/associations/contacts/companies/batch/archive",
        "/crm/associations/2026-03/contacts/companies/batch/nope",
        "/crm/associations/v4/contacts/companies/batch/archive",  # only labels live under that path
    ],
)
def test_unknown_object_types_and_paths_are_404(sim: Simulator, path: str) -> None:
    response = SimClient(sim).session.post(sim.url + path, json={"inputs": []})
    assert response.status_code == 404
    assert response.json()["category"] in ("OBJECT_NOT_FOUND", "RESOURCE_NOT_FOUND")


def test_wrong_method_is_405(sim: Simulator) -> None:
    response = SimClient(sim).session.get(
        sim.url + "/crm/associations/2026-03/contacts/companies/batch/archive"
    )
    assert response.status_code == 405


def test_keep_alive_and_content_length(sim: Simulator) -> None:
    client = SimClient(sim)
    for response in (client.archive([("3", ["30"])]), client.labels(), client.read(["1"])):
        assert response.headers["Content-Length"] == str(len(response.content))
        assert response.headers.get("Connection", "").lower() != "close"
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    sockets = []
    for _ in range(3):
        conn.request("GET", "/crm/v4/associations/contacts/companies/labels", headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert response.read()
        sockets.append(conn.sock)
    assert sockets[0] is not None
    assert sockets.count(sockets[0]) == 3, "three requests, one TCP connection"
    conn.close()
