"""Per-version replies and their flips, batch create, silent drops, both v4 labels paths, cursors."""

from __future__ import annotations

import base64
from urllib.parse import unquote

import pytest
import requests

from hubassoc_simulator import Simulator, SimulatorConfig, SimulatorState
from hubassoc_simulator.__main__ import build_parser, config_from_args
from hubassoc_simulator.facts import ArchiveReply, Version
from tests.fixtures.simulator import SimulatorFactory
from tests.support.sim_client import SIM_DATE_VERSIONS, SIM_VERSIONS, SimClient

H = "HUBSPOT_DEFINED"
U = "USER_DEFINED"


def _state() -> SimulatorState:
    state = SimulatorState()
    state.add_records("contacts", ["1", "2", "3"])
    state.add_records("companies", ["10", "20", "30"])
    state.define_label("contacts", "companies", U, 36, "Decision maker")
    state.add_association("contacts", "1", "companies", "10", [(H, 279), (H, 1)], mirror=True)
    state.add_association("contacts", "2", "companies", "20", [(H, 279), (U, 36)], mirror=True)
    return state


@pytest.fixture
def sim(simulator_factory: SimulatorFactory) -> Simulator:
    return simulator_factory(None, _state())


@pytest.mark.parametrize("version", SIM_DATE_VERSIONS)
def test_date_versions_answer_archive_with_a_200_batch_body(sim: Simulator, version: str) -> None:
    client = SimClient(sim, version=version)
    archived = client.archive([("1", ["10", "99"])])
    assert archived.status_code == 200, "no version declares 207 on archive"
    body = archived.json()
    assert body["results"] == [{"from": {"id": "1"}, "to": [{"id": "10"}]}]
    assert [e["context"]["toObjectId"] for e in body["errors"]] == [["99"]]
    labels = client.archive_labels("2", "20", [(U, 36)])
    assert (labels.status_code, labels.json()["numErrors"]) == (200, 0)


def test_v4_answers_archive_with_204_and_no_body_even_when_inputs_fail(sim: Simulator) -> None:
    client = SimClient(sim, version="v4")
    archived = client.archive([("1", ["10", "99"])])
    assert (archived.status_code, archived.content) == (204, b"")
    assert not sim.state.has_association("contacts", "1", "companies", "10")
    assert client.archive_labels("2", "20", [(U, 36)]).status_code == 204


@pytest.mark.parametrize(("version", "mode", "status"), [("2026-03", "204", 204), ("v4", "200", 200)])
def test_archive_flips_are_selectable_per_version(
    simulator_factory: SimulatorFactory, version: Version, mode: ArchiveReply, status: int
) -> None:
    sim = simulator_factory(SimulatorConfig(archive_replies={version: mode}), _state())
    client = SimClient(sim, version=version)
    assert client.archive([("1", ["10"])]).status_code == status
    other = "2026-09" if version == "v4" else "v4"
    untouched = 204 if other == "v4" else 200
    assert client.archive([("3", ["30"])], version=other).status_code == untouched, (
        "other versions keep theirs"
    )


def test_archive_207_flip_reports_partial_failure_as_207(simulator_factory: SimulatorFactory) -> None:
    sim = simulator_factory(SimulatorConfig(archive_replies={"v4": "207"}), _state())
    client = SimClient(sim, version="v4")
    assert client.archive([("1", ["10"])]).status_code == 200
    assert client.archive([("1", ["99"])]).status_code == 207


@pytest.mark.parametrize(
    ("version", "status"), [("2025-09", 207), ("2026-03", 207), ("2026-09", 200), ("v4", 207)]
)
def test_batch_read_partial_failure_status_per_version(sim: Simulator, version: str, status: int) -> None:
    partial = SimClient(sim, version=version).read(["1", "999"])
    assert partial.status_code == status
    assert partial.json()["errors"][0]["context"]["fromObjectId"] == ["999"]
    assert SimClient(sim, version=version).read(["1"]).status_code == 200


def test_labels_on_both_v4_paths(sim: Simulator) -> None:
    client = SimClient(sim)
    current = client.session.get(sim.url + "/crm/associations/v4/contacts/companies/labels", timeout=5)
    older = client.session.get(sim.url + "/crm/v4/associations/contacts/companies/labels", timeout=5)
    assert current.status_code == older.status_code == 200
    assert current.json() == older.json()
    assert {"category": U, "typeId": 36, "label": "Decision maker"} in current.json()["results"]
    assert {"category": H, "typeId": 279} in current.json()["results"], "label absent, not null"
    assert [r.api_version for r in sim.request_log] == ["v4", "v4"]


def test_2026_03_labels_name_the_object_type_ids(sim: Simulator) -> None:
    (named,) = [d for d in SimClient(sim).labels().json()["results"] if d["typeId"] == 36]
    assert (named["fromObjectTypeId"], named["toObjectTypeId"]) == ("0-1", "0-2")
    (plain,) = [d for d in SimClient(sim, version="2026-09").labels().json()["results"] if d["typeId"] == 36]
    assert plain == {"category": U, "typeId": 36, "label": "Decision maker"}


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_batch_create_adds_both_directions_and_names_labels(sim: Simulator, version: str) -> None:
    created = SimClient(sim, version=version).create([("3", "30", [(U, 36), (H, 1)])])
    assert created.status_code == 201
    body = created.json()
    assert body["results"] == [
        {
            "fromObjectId": "3",
            "fromObjectTypeId": "0-1",
            "toObjectId": "30",
            "toObjectTypeId": "0-2",
            "labels": ["Decision maker", "Primary"],
        }
    ]
    assert sim.state.labels_of("contacts", "3", "companies", "30") == {(U, 36), (H, 1)}
    assert sim.state.labels_of("companies", "30", "contacts", "3") == {(U, 36), (H, 2)}
    again = SimClient(sim, version=version).create([("3", "30", [(U, 36), (H, 1)])])
    assert again.status_code == 201, "creating what exists succeeds: a replayed restore is safe"
    assert sim.counters()["created_pairs"] == 2


def test_batch_create_200_flip_and_207_for_unknown_records(simulator_factory: SimulatorFactory) -> None:
    sim = simulator_factory(SimulatorConfig(create_replies={"2026-03": "200"}), _state())
    client = SimClient(sim)
    assert client.create([("3", "30", [(H, 279)])]).status_code == 200
    partial = client.create([("3", "20", [(H, 279)]), ("3", "77", [(H, 279)])])
    assert partial.status_code == 207
    body = partial.json()
    assert [r["toObjectId"] for r in body["results"]] == ["20"]
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"]["toObjectId"] == ["77"]
    assert not sim.state.record_ids("companies") & {"77"}
    too_big = client.create([("3", "30", [(U, 2**31)])])
    assert too_big.status_code == 400, "type ids are int32"


@pytest.mark.parametrize(("adds", "expected"), [(False, {(U, 36)}), (True, {(U, 36), (H, 279)})])
def test_creating_a_label_may_create_the_unlabeled_type_too(
    simulator_factory: SimulatorFactory, adds: bool, expected: set[tuple[str, int]]
) -> None:
    """UNSETTLED in the notes: both answers are selectable, so a restore is tested against each."""
    sim = simulator_factory(SimulatorConfig(create_adds_unlabeled=adds), _state())
    assert SimClient(sim).create([("3", "30", [(U, 36)])]).status_code == 201
    assert sim.state.labels_of("contacts", "3", "companies", "30") == expected


@pytest.mark.parametrize("version", SIM_VERSIONS)
def test_silent_drops_answer_success_but_leave_the_pair(
    simulator_factory: SimulatorFactory, version: str
) -> None:
    sim = simulator_factory(SimulatorConfig(silent_drops=frozenset({("1", "10"), ("2", "20")})), _state())
    client = SimClient(sim, version=version)
    archived = client.archive([("1", ["10"]), ("3", ["30"])])
    labels = client.archive_labels("2", "20", [(U, 36)])
    assert archived.status_code == labels.status_code == (204 if version == "v4" else 200)
    if version != "v4":
        assert archived.json()["results"][0] == {"from": {"id": "1"}, "to": [{"id": "10"}]}
        assert labels.json()["numErrors"] == 0
    assert sim.state.labels_of("contacts", "1", "companies", "10") == {(H, 279), (H, 1)}
    assert (U, 36) in sim.state.labels_of("contacts", "2", "companies", "20")
    assert [t["toObjectId"] for t in client.read(["1"]).json()["results"][0]["to"]] == ["10"], "reads tell"
    counters = sim.counters()
    assert (counters["dropped_pairs"], counters["archived_pairs"]) == (2, 1)


def test_silent_drops_from_the_admin_endpoint(sim: Simulator) -> None:
    changed = requests.post(sim.url + "/_sim/config", json={"silent_drops": [["1", "10"]]}, timeout=5)
    assert changed.status_code == 200
    assert changed.json()["silent_drops"] == [["1", "10"]]
    SimClient(sim).archive([("1", ["10"])])
    assert sim.state.has_association("contacts", "1", "companies", "10")


def test_per_version_tables_merge_on_the_admin_endpoint(sim: Simulator) -> None:
    changed = requests.post(sim.url + "/_sim/config", json={"archive_replies": {"v4": "200"}}, timeout=5)
    assert changed.json()["archive_replies"] == {
        "2025-09": "200",
        "2026-03": "200",
        "2026-09": "200",
        "v4": "200",
    }
    refused = requests.post(sim.url + "/_sim/config", json={"read_replies": {"v5": "200"}}, timeout=5)
    assert refused.status_code == 400
    assert "read_replies" in refused.json()["message"]


def test_cli_selects_replies_per_version() -> None:
    args = build_parser().parse_args(["--archive-reply", "v4=200", "--read-reply", "2026-09=207"])
    config = config_from_args(args)
    assert (config.archive_reply("v4"), config.archive_reply("2026-03")) == ("200", "200")
    assert (config.read_reply("2026-09"), config.read_reply("2026-03")) == ("207", "207")
    assert config.create_reply("v4") == "201"
    with pytest.raises(ValueError, match="VERSION=REPLY"):
        config_from_args(build_parser().parse_args(["--archive-reply", "v4"]))


def test_paging_cursors_are_opaque_and_checked(simulator_factory: SimulatorFactory) -> None:
    state = SimulatorState()
    for i in range(1, 5):
        state.add_association("contacts", "1", "companies", str(i))
    sim = simulator_factory(SimulatorConfig(read_page_size=2), state)
    client = SimClient(sim)
    first = client.read(["1"]).json()["results"][0]
    cursor = first["paging"]["next"]["after"]
    assert not cursor.isdigit()
    base64.b64decode(unquote(cursor), validate=True)  # looks like HubSpot's: URL-quoted base64
    body = {"inputs": [{"id": "1", "after": cursor}]}
    second = client.post("contacts", "companies", "batch/read", body).json()["results"][0]
    assert [t["toObjectId"] for t in second["to"]] == ["3", "4"]
    forged = client.post("contacts", "companies", "batch/read", {"inputs": [{"id": "1", "after": "2"}]})
    assert forged.status_code == 400
