"""HubSpotSyncAssociationsOperator against the simulator over HTTP (issue 25).

The independent check: seed a HubSpot, sync a desired table into it, and compare the WHOLE state
with what the desired table says, computed here from the table and the seed (never from the
provider): inside the scope, outside it, after a second run (0 writes), and after a restore of the
sync's report (equal to the seed, both directions).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import Simulator, SimulatorState
from tests.support.operator_runs import task_context
from tests.support.reports import read_report
from tests.support.sim_states import BILLING, BOSS, FT, PRIMARY, TT, UNLABELED, MakeSim, both_directions

WRITES = ("batch_create", "labels_archive", "batch_archive")
LABEL_NAMES = {BOSS: "Decision maker", BILLING: "Billing contact", PRIMARY: "Primary"}
Edges = dict[tuple[str, str], frozenset[tuple[str, int]]]

SCOPE_FROMS = range(1, 13)  # contacts 1-12 are synced (12 only through `scope`: no desired row)
OUTSIDE_FROMS = range(13, 16)  # contacts 13-15 are outside the scope: never read, never changed
KINDS = ((UNLABELED,), (UNLABELED, PRIMARY), (UNLABELED, BOSS), (UNLABELED, PRIMARY, BILLING), (BOSS,))


def seed_state() -> SimulatorState:
    """Contacts 1-15 x companies 101-108 in a mix of labels (mirrored, as HubSpot keeps them);
    contact 1 has 8 companies, more than one read page (read_page_size=3)."""
    state = SimulatorState()
    state.define_label(FT, TT, "USER_DEFINED", 36, "Decision maker")
    state.define_label(FT, TT, "USER_DEFINED", 37, "Billing contact")
    state.add_records(TT, [str(t) for t in range(101, 113)])
    rng = random.Random(7)
    for f in (*SCOPE_FROMS, *OUTSIDE_FROMS):
        state.add_records(FT, [str(f)])
        for t in range(101, 109):
            if f == 1 or rng.random() < 0.6:
                state.add_association(FT, f, TT, t, rng.choice(KINDS), mirror=True)
    return state


def desired_table(seed: Edges) -> list[dict[str, Any]]:
    """A warehouse table for contacts 1-11: some pairs as they are, some relabelled, some dropped,
    some new (companies 109-112); labels by name and by category + type id."""
    rng = random.Random(11)
    rows: list[dict[str, Any]] = []
    for f in range(1, 12):
        for t in range(101, 113):
            held = seed.get((str(f), str(t)))
            roll = rng.random()
            if (held is None and roll < 0.25) or (held is not None and roll < 0.85):
                labels = (
                    [BOSS, BILLING, PRIMARY]
                    if roll < 0.1
                    else rng.sample([BOSS, BILLING, PRIMARY], k=rng.randint(0, 2))
                )
                if not labels:
                    rows.append({"from_id": f, "to_id": t})
                for n, label in enumerate(labels):
                    if n % 2:
                        rows.append({"from_id": f, "to_id": t, "category": label[0], "type_id": label[1]})
                    else:
                        rows.append({"from_id": str(f), "to_id": str(t), "label": LABEL_NAMES[label]})
    return rows


def expected_state(seed: Edges, rows: list[dict[str, Any]], scope: set[str], mode: str) -> Edges:
    """What HubSpot must hold afterwards, from the table and the seed alone."""
    wanted: dict[tuple[str, str], set[tuple[str, int]]] = {}
    for row in rows:
        types = wanted.setdefault((str(row["from_id"]), str(row["to_id"])), {UNLABELED})
        if "label" in row:
            types.add(next(k for k, v in LABEL_NAMES.items() if v == row["label"]))
        elif "category" in row:
            types.add((row["category"], row["type_id"]))
    out: Edges = {}
    for pair, types in seed.items():
        if pair[0] not in scope or mode == "upsert":
            out[pair] = types
    for pair, types in wanted.items():
        out[pair] = frozenset(types | (set(out.get(pair, ())) if mode == "upsert" else set()))
    return out


def writes(sim: Simulator) -> int:
    by = sim.counters()["by_endpoint"]
    return sum(int(by.get(e, 0)) for e in WRITES)


def sync_op(inputs: Any, **kwargs: Any) -> Any:
    from airflow_provider_hubassoc.operators.sync import HubSpotSyncAssociationsOperator

    kwargs = {"task_id": "sync", "from_object_type": FT, "to_object_type": TT, "batch_size": 7, **kwargs}
    return HubSpotSyncAssociationsOperator(inputs=inputs, **kwargs)


def restore(report: Path, **kwargs: Any) -> dict[str, Any]:
    from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator

    op = HubSpotRestoreAssociationsOperator(task_id="restore", undo_report_path=str(report), **kwargs)
    return op.execute(task_context("undo"))  # type: ignore[no-any-return]


def pair_lines(report: Path) -> list[dict[str, Any]]:
    return [line for line in read_report(report) if line["kind"] == "pair"]


@pytest.fixture
def seeded(make_sim: MakeSim) -> Simulator:
    return make_sim(seed_state(), read_page_size=3)


def test_independent_check_mirror_second_run_and_restore(seeded: Simulator, tmp_path: Path) -> None:
    sim = seeded
    seed_fwd, seed_back = both_directions(sim)
    rows = desired_table(seed_fwd)
    scope = {str(f) for f in SCOPE_FROMS}
    expected = expected_state(seed_fwd, rows, scope, "mirror")
    report = tmp_path / "sync.jsonl"

    value = sync_op(rows, scope=[12], report_path=str(report)).execute(task_context("run-1"))

    after = sim.state.edges(FT, TT)
    assert {p: t for p, t in after.items() if p[0] in scope} == {
        p: t for p, t in expected.items() if p[0] in scope
    }
    assert {p: t for p, t in after.items() if p[0] not in scope} == {
        p: t for p, t in seed_fwd.items() if p[0] not in scope
    }, "outside the scope nothing changes"
    assert not any(p[0] == "12" for p in after), "a from id in scope with no desired row ends with nothing"
    totals, sync = value["totals"], value["sync"]
    assert value["operation"] == "sync"
    assert totals["failed"] == 0
    assert totals["requested"] == totals["confirmed"], totals
    assert sync["toCreate"] == len(set(expected) - set(seed_fwd))
    assert sync["toRemove"] == len(set(seed_fwd) - set(expected))
    changed = {p for p in set(expected) & set(seed_fwd) if expected[p] != seed_fwd[p]}
    assert sync["toRelabel"] == len(changed)
    assert sync["unchanged"] == len({p for p in rows_pairs(rows)}) - sync["toCreate"] - len(changed)
    assert set(value["phases"]) == {"batch_create", "label_archive", "batch_archive"}
    header = read_report(report)[0]
    assert header["operation"] == "sync"
    assert header["sync"]["toRemove"] == sync["toRemove"]
    lines = pair_lines(report)
    assert len({(x["op"], x["fromId"], x["toId"]) for x in lines}) == len(lines) == totals["requested"]

    sim.reset_counters()  # a second run with unchanged inputs sends no write
    again = sync_op(rows, scope=[12], report_path=str(tmp_path / "again.jsonl")).execute(
        task_context("run-2")
    )
    assert writes(sim) == 0
    assert again["totals"]["requested"] == 0
    assert again["sync"]["unchanged"] == len(rows_pairs(rows))
    assert sim.state.edges(FT, TT) == after

    restore(report)  # the sync's report undoes the whole sync
    assert differences(sim.state.edges(FT, TT), seed_fwd) == {}
    # The reverse direction too, for HubSpot-defined types (the simulator mirrors those on every
    # write; it mirrors user-defined labels on create but not on labels archive).
    back = sim.state.edges(TT, FT)
    hubspot_only = lambda edges: {p: {t for t in ts if t[0] == "HUBSPOT_DEFINED"} for p, ts in edges.items()}  # noqa: E731
    assert hubspot_only(back) == hubspot_only(seed_back)


def differences(got: Edges, want: Edges) -> dict[tuple[str, str], tuple[Any, Any]]:
    """Pairs whose types differ (got, wanted): a readable failure."""
    return {p: (got.get(p), want.get(p)) for p in set(got) | set(want) if got.get(p) != want.get(p)}


def rows_pairs(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(str(r["from_id"]), str(r["to_id"])) for r in rows}


def test_dry_run_reports_the_whole_difference_and_writes_nothing(seeded: Simulator, tmp_path: Path) -> None:
    sim = seeded
    seed_fwd = sim.state.edges(FT, TT)
    rows = desired_table(seed_fwd)
    report = tmp_path / "preview.jsonl"
    sim.reset_counters()
    value = sync_op(rows, dry_run=True, report_path=str(report), max_removals=1).execute(task_context())
    assert writes(sim) == 0
    assert sim.state.edges(FT, TT) == seed_fwd
    sync = value["sync"]
    expected = expected_state(seed_fwd, rows, {str(f) for f in range(1, 12)}, "mirror")
    assert sync["toCreate"] == len(set(expected) - set(seed_fwd))
    assert sync["toRemove"] == len(
        {p for p in seed_fwd if p[0] in {str(f) for f in range(1, 12)}} - set(expected)
    )
    assert sync["maxRemovalsExceeded"] is True, "a dry run is not refused, it says a real run would be"
    statuses = {(x["op"], x["status"]) for x in pair_lines(report)}
    assert statuses == {
        ("batch_create", "would_create"),
        ("label_archive", "would_remove"),
        ("batch_archive", "would_remove"),
    }
    assert value["totals"]["wouldCreate"] == len(
        [x for x in pair_lines(report) if x["status"] == "would_create"]
    )
    assert value["totals"]["confirmed"] == 0


@pytest.mark.parametrize("cap", [3, 0.05])
def test_max_removals_refuses_before_any_write(seeded: Simulator, tmp_path: Path, cap: float) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    sim = seeded
    seed = sim.state.edges(FT, TT)
    sim.reset_counters()
    op = sync_op(desired_table(seed), report_path=str(tmp_path / "r.jsonl"), max_removals=cap)
    with pytest.raises(AirflowFailException, match="max_removals"):
        op.execute(task_context())
    assert writes(sim) == 0
    assert sim.state.edges(FT, TT) == seed


def test_upsert_only_creates_and_adds_labels(seeded: Simulator, tmp_path: Path) -> None:
    sim = seeded
    seed = sim.state.edges(FT, TT)
    rows = desired_table(seed)
    value = sync_op(rows, mode="upsert", report_path=str(tmp_path / "u.jsonl")).execute(task_context())
    assert sim.state.edges(FT, TT) == expected_state(seed, rows, set(), "upsert")
    assert set(value.get("phases", ["batch_create"])) == {"batch_create"}
    assert value["sync"]["toRemove"] == 0
    assert value["sync"]["leftAlone"] > 0
    assert sim.counters()["by_endpoint"].get("batch_archive", 0) == 0
    assert sim.counters()["by_endpoint"].get("labels_archive", 0) == 0


def test_a_create_past_an_association_limit_fails_with_hubspots_message_and_the_run_goes_on(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    state = SimulatorState()
    state.add_records(FT, ["1", "2"])
    state.add_records(TT, ["101", "102", "103"])
    state.add_association(FT, 1, TT, 101, [UNLABELED], mirror=True)
    sim = make_sim(state, association_limits={"contacts/companies/HUBSPOT_DEFINED:279": 2})
    rows = [(1, 101), (1, 102), (1, 103), (2, 101)]
    op = sync_op(
        [{"from_id": f, "to_id": t} for f, t in rows],
        report_path=str(tmp_path / "l.jsonl"),
        on_error="ignore",
    )
    value = op.execute(task_context())
    assert value["totals"]["failed"] == 1
    assert value["totals"]["confirmed"] == 2
    assert value["sync"]["unchanged"] == 1
    assert value["sync"]["toCreate"] == 3
    failed = [x for x in pair_lines(tmp_path / "l.jsonl") if x["status"] == "failed"]
    assert len(failed) == 1
    assert "limit" in failed[0]["message"].lower()
    assert failed[0]["fromId"] == "1"
    assert sim.state.has_association(FT, "2", TT, "101")
    assert len([p for p in sim.state.edges(FT, TT) if p[0] == "1"]) == 2


def test_a_record_whose_read_failed_is_not_synced(seeded: Simulator, tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    sim = seeded
    sim.configure(read_failures={"3"})
    seed = sim.state.edges(FT, TT)
    rows = desired_table(seed)
    op = sync_op(rows, report_path=str(tmp_path / "e.jsonl"))
    with pytest.raises(AirflowException, match="failed"):
        op.execute(task_context())
    after = sim.state.edges(FT, TT)
    assert {p: t for p, t in after.items() if p[0] == "3"} == {p: t for p, t in seed.items() if p[0] == "3"}
    unread = [x for x in pair_lines(tmp_path / "e.jsonl") if x["fromId"] == "3"]
    assert unread
    assert {x["status"] for x in unread} == {"failed"}
    assert {x["category"] for x in unread} == {"READ_FAILED"}
    assert len(unread) == len({p for p in rows_pairs(rows) if p[0] == "3"})
    expected = expected_state(seed, rows, {str(f) for f in range(1, 12)} - {"3"}, "mirror")
    assert {p: t for p, t in after.items() if p[0] != "3"} == {
        p: t for p, t in expected.items() if p[0] != "3"
    }


def test_files_as_inputs_and_scope(seeded: Simulator, tmp_path: Path) -> None:
    sim = seeded
    seed = sim.state.edges(FT, TT)
    rows = [{"from_id": 2, "to_id": 111, "label": "Decision maker"}, {"from_id": 2, "to_id": 112}]
    jsonl = tmp_path / "desired.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    scope = tmp_path / "scope.csv"
    scope.write_text("from_id\n4\n")
    sync_op(str(jsonl), scope=str(scope), report_path=str(tmp_path / "f.jsonl")).execute(task_context())
    after = sim.state.edges(FT, TT)
    assert {p: t for p, t in after.items() if p[0] in ("2", "4")} == {
        ("2", "111"): frozenset({UNLABELED, BOSS}),
        ("2", "112"): frozenset({UNLABELED}),
    }
    assert {p: t for p, t in after.items() if p[0] not in ("2", "4")} == {
        p: t for p, t in seed.items() if p[0] not in ("2", "4")
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "replace"}, "mode"),
        ({"max_removals": -1}, "max_removals"),
        ({"max_removals": 1.5}, "max_removals"),
        ({"max_removals": True}, "max_removals"),
        ({"report_path": None}, "report_path"),
    ],
)
def test_bad_arguments_fail_the_dag_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sync_op([], **{"report_path": "r.jsonl", **kwargs})


def test_bad_rows_are_refused_before_any_request(seeded: Simulator, tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    sim = seeded
    sim.reset_counters()
    rows = [{"from_id": 1, "to_id": 101}, {"from_id": "x", "to_id": 2}]
    with pytest.raises(AirflowFailException, match=r"inputs \[1\]|inputs.*1"):
        sync_op(rows, report_path=str(tmp_path / "b.jsonl")).execute(task_context())
    assert sim.counters()["requests"] == 0
    with pytest.raises(AirflowFailException, match="not defined"):
        sync_op(
            [{"from_id": 1, "to_id": 101, "label": "Nope"}], report_path=str(tmp_path / "c.jsonl")
        ).execute(task_context())
    assert writes(sim) == 0
