"""SimulatorState semantics and seeding from JSON, CSV and the generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubassoc_simulator import SimulatorState

H = "HUBSPOT_DEFINED"


def test_generate_is_deterministic() -> None:
    a = SimulatorState.generate(records=30, associations=80, seed=5)
    b = SimulatorState.generate(records=30, associations=80, seed=5)
    c = SimulatorState.generate(records=30, associations=80, seed=6)
    assert a.snapshot() == b.snapshot()
    assert a.snapshot() != c.snapshot()
    assert a.association_count() == a.association_count("contacts", "companies") == 80
    assert len(a.record_ids("contacts")) == 30
    assert "1000001" in a.record_ids("companies")
    labels = set().union(*a.edges("contacts", "companies").values())
    assert labels == {(H, 279), (H, 1)}


def test_generate_other_types_and_cap() -> None:
    state = SimulatorState.generate(
        records=3, associations=50, seed=1, from_type="deals", to_type="companies"
    )
    assert state.association_count("deals", "companies") == 9
    assert all((H, 341) in ls for ls in state.edges("deals", "companies").values())


def test_default_types_and_auto_records() -> None:
    state = SimulatorState()
    state.add_association("contacts", 1, "companies", "2")
    state.add_association("p1234_cars", "9", "2-555", "8")
    assert state.labels_of("contacts", "1", "companies", "2") == {(H, 279)}
    assert state.labels_of("p1234_cars", "9", "2-555", "8") == {(H, 1)}
    assert state.record_ids("contacts") == {"1"}
    assert state.record_ids("2-555") == {"8"}
    assert state.resolve_type("p1234_cars") == "p1234_cars"
    assert state.resolve_type("p9_boats") is None
    assert state.resolve_type("0-3") == "deals"


def test_hubspot_labels_are_predefined() -> None:
    defs = SimulatorState().label_definitions("companies", "contacts")
    assert {"category": H, "typeId": 2, "label": "Primary"} in defs
    assert {"category": H, "typeId": 280, "label": None} in defs
    assert {d["typeId"] for d in SimulatorState().label_definitions("deals", "companies")} == {5, 341}


def test_bad_values_are_refused() -> None:
    state = SimulatorState()
    with pytest.raises(ValueError):
        state.add_records("contacts", ["12a"])
    with pytest.raises(ValueError):
        state.add_association("contacts", "1", "companies", "2", [("NOPE", 1)])
    with pytest.raises(ValueError):
        state.add_association("../etc", "1", "companies", "2")


def test_json_seed_round_trips(tmp_path: Path) -> None:
    seed = {
        "records": {"contacts": ["1", "2", "3"]},
        "labels": [
            {
                "fromObjectType": "contacts",
                "toObjectType": "companies",
                "category": "USER_DEFINED",
                "typeId": 36,
                "label": "Decision maker",
            }
        ],
        "associations": [
            {
                "fromObjectType": "contacts",
                "fromId": "1",
                "toObjectType": "companies",
                "toId": "10",
                "types": [{"category": "USER_DEFINED", "typeId": 36}, {"category": H, "typeId": 279}],
            },
            {"fromObjectType": "contacts", "fromId": "2", "toObjectType": "companies", "toId": "20"},
        ],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    state = SimulatorState.from_file(path)
    assert state.labels_of("contacts", "1", "companies", "10") == {("USER_DEFINED", 36), (H, 279)}
    assert state.labels_of("contacts", "2", "companies", "20") == {(H, 279)}
    assert state.record_ids("contacts") == {"1", "2", "3"}
    assert state.record_ids("companies") == {"10", "20"}
    assert {"category": "USER_DEFINED", "typeId": 36, "label": "Decision maker"} in state.label_definitions(
        "contacts", "companies"
    )
    again = tmp_path / "again.json"
    again.write_text(json.dumps(state.snapshot()))
    assert SimulatorState.from_file(again).snapshot() == state.snapshot()


def test_csv_seed(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text(
        "from_object_type,from_id,to_object_type,to_id,category,type_id\n"
        "contacts,1,companies,10,HUBSPOT_DEFINED,279\n"
        "contacts,1,companies,10,HUBSPOT_DEFINED,1\n"
        "deals,5,companies,10,,\n"
    )
    state = SimulatorState.from_file(path)
    assert state.labels_of("contacts", "1", "companies", "10") == {(H, 279), (H, 1)}
    assert state.labels_of("deals", "5", "companies", "10") == {(H, 341)}
    assert state.association_count() == 2


def test_csv_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing CSV columns"):
        SimulatorState.from_file(path)


def test_state_archive_semantics_directly() -> None:
    state = SimulatorState()
    state.add_association("contacts", "1", "companies", "2", [(H, 279), (H, 1)], mirror=True)
    state.archive_labels("contacts", "1", "companies", "2", {(H, 1)})
    assert state.labels_of("contacts", "1", "companies", "2") == {(H, 279)}
    assert state.labels_of("companies", "2", "contacts", "1") == {(H, 280)}
    state.archive_labels("contacts", "1", "companies", "2", {(H, 279)})
    assert state.association_count() == 0
