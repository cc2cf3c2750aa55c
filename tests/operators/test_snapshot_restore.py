"""Snapshot (the archive operators' `snapshot=True`) and the restore operator, against the simulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_hubassoc.batch.report import KIND_SNAPSHOT
from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator
from hubassoc_simulator import Simulator
from tests.support.operator_runs import batch_op, label_op, task_context
from tests.support.sim_states import BOSS, FT, PRIMARY, TT, both_directions, mixed_label_state

MakeSim = Callable[..., Simulator]
TARGETS = [(f, t) for f in range(1, 6) for t in range(1001, 1008)]  # 35 of the 6x8 seed's pairs
MISSING = [(9, 1001), (1, 1999)]  # no association between these


def lines(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in found if kind is None or line["kind"] == kind]


def restore_op(report: Path, **kwargs: Any) -> HubSpotRestoreAssociationsOperator:
    return HubSpotRestoreAssociationsOperator(task_id="restore", undo_report_path=str(report), **kwargs)


def archive_with_snapshot(sim: Simulator, report: Path, *, labels: bool = False, **kwargs: Any) -> None:
    if labels:
        inputs: list[Any] = [{"from_id": f, "to_id": t, "labels": ["Decision maker"]} for f, t in TARGETS]
        op: Any = label_op(inputs, report_path=str(report), snapshot=True, batch_size=10, **kwargs)
    else:
        inputs = [list(p) for p in TARGETS + MISSING]
        op = batch_op(inputs, report_path=str(report), snapshot=True, batch_size=10, **kwargs)
    op.execute(task_context("archive-run"))


# -- snapshot ----------------------------------------------------------------------------------------


def test_snapshot_needs_a_report_path(make_sim: MakeSim) -> None:
    with pytest.raises(ValueError, match="snapshot=True needs report_path"):
        batch_op([(1, 1001)], snapshot=True)
    sim = make_sim(mixed_label_state(2, 2))
    rendered_empty = batch_op([(1, 1001)], snapshot=True, report_path="{{ params.missing }}")
    rendered_empty.report_path = ""  # as the template renders it
    with pytest.raises(AirflowFailException, match="snapshot=True needs report_path"):
        rendered_empty.execute({})
    assert sim.counters()["requests"] == 0


def recorded(line: dict[str, Any]) -> set[tuple[str, int]]:
    return {(x["category"], x["typeId"]) for x in line["types"]}


def test_snapshot_records_every_type_and_absent_pairs(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    before, _ = both_directions(sim)
    report = tmp_path / "archive.jsonl"
    archive_with_snapshot(sim, report, on_error="ignore")

    snapshots = {(s["fromId"], s["toId"]): s for s in lines(report, KIND_SNAPSHOT)}
    assert len(snapshots) == len(TARGETS) + len(MISSING)
    assert {k: recorded(s) for k, s in snapshots.items()} == {k: set(before.get(k, ())) for k in snapshots}
    assert {k for k, s in snapshots.items() if s.get("absent")} == {k for k in snapshots if k not in before}
    boss = next(x for s in snapshots.values() for x in s["types"] if x["typeId"] == BOSS[1])
    assert boss == {"category": "USER_DEFINED", "typeId": 36, "label": "Decision maker"}
    # One read for the whole run: 7 from ids, far under the 1,000 a read takes.
    assert sim.counters()["by_endpoint"].get("batch_read") == 1


def test_snapshot_is_written_before_its_chunk_is_sent(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    report = tmp_path / "archive.jsonl"
    archive_with_snapshot(sim, report, on_error="ignore")
    kinds = [line["kind"] for line in lines(report)]
    assert max(i for i, kind in enumerate(kinds) if kind == KIND_SNAPSHOT) < kinds.index("chunk")


def test_snapshot_reads_stay_a_small_share_of_requests(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(60, 40))
    report = tmp_path / "archive.jsonl"
    pairs = [[f, t] for f in range(1, 61) for t in range(1001, 1041)]
    batch_op(pairs, report_path=str(report), snapshot=True, batch_size=10).execute({})
    by_endpoint = sim.counters()["by_endpoint"]
    assert by_endpoint["batch_archive"] == 240
    assert by_endpoint["batch_read"] == 5  # 240 chunks of 60 from ids: a read per 50 chunks
    assert len(lines(report, KIND_SNAPSHOT)) == 2400


def test_label_snapshot_records_only_the_requested_labels_that_existed(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    before, _ = both_directions(sim)
    report = tmp_path / "labels.jsonl"
    archive_with_snapshot(sim, report, labels=True)
    snapshots = {(s["fromId"], s["toId"]): s for s in lines(report, KIND_SNAPSHOT)}
    assert {k: recorded(s) for k, s in snapshots.items()} == {k: {BOSS} & before[k] for k in snapshots}
    assert {k for k, s in snapshots.items() if s.get("absent")} == {
        k for k in snapshots if BOSS not in before[k]
    }


def test_dry_run_takes_no_snapshot(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    report = tmp_path / "dry.jsonl"
    archive_with_snapshot(sim, report, dry_run=True)
    assert not lines(report, KIND_SNAPSHOT)


# -- restore -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [False, True], ids=["batch", "labels"])
@pytest.mark.parametrize("create_reply", ["201", "200"])
def test_restore_gives_back_exactly_what_was_removed(
    make_sim: MakeSim, tmp_path: Path, labels: bool, create_reply: str
) -> None:
    sim = make_sim(mixed_label_state(6, 8), create_replies={"2026-03": create_reply})
    seed = both_directions(sim)
    report = tmp_path / "archive.jsonl"
    archive_with_snapshot(sim, report, labels=labels, on_error="ignore")
    assert both_directions(sim) != seed

    restore = restore_op(report, report_path=str(tmp_path / "restore.jsonl"), batch_size=7)
    value = restore.execute(task_context("restore-run"))  # type: ignore[arg-type]
    assert both_directions(sim) == seed
    removed = sum(1 for f, t in TARGETS if not labels or BOSS in seed[0][(str(f), str(t))])
    assert (value["totals"]["requested"], value["totals"]["confirmed"]) == (removed, removed), value
    assert value["operation"] == "batch_create"


def test_restore_progress_says_restored(
    make_sim: MakeSim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    report = tmp_path / "archive.jsonl"
    archive_with_snapshot(sim, report, on_error="ignore")
    with caplog.at_level("INFO"):
        restore_op(report).execute({})
    assert f"restored {len(TARGETS)}/{len(TARGETS)} pairs (100.0%)" in caplog.text


def test_restore_a_subset_by_from_ids_or_pairs(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    seed, _ = both_directions(sim)
    report = tmp_path / "archive.jsonl"
    archive_with_snapshot(sim, report, on_error="ignore")

    restore_op(report, from_ids=[2]).execute({})
    restore_op(report, pairs=[(3, 1001), {"from_id": "4", "to_id": 1002}]).execute({})
    after = sim.state.edges(FT, TT)
    back = {k for k in after if k not in {k for k in seed if (int(k[0]), int(k[1])) not in TARGETS}}
    assert back == {(str(2), str(t)) for t in range(1001, 1008)} | {("3", "1001"), ("4", "1002")}
    assert all(after[k] == seed[k] for k in after)


def test_restore_dry_run_sends_nothing(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    report = tmp_path / "archive.jsonl"
    archive_with_snapshot(sim, report, on_error="ignore")
    restore_op(report, from_ids=[1]).execute({})  # pairs of contact 1 are back already
    value = restore_op(report, dry_run=True).execute({})
    assert sim.counters()["by_endpoint"].get("batch_create") == 1
    assert value["totals"]["wouldCreate"] == len(TARGETS) - 7
    assert value["totals"]["present"] == 7


def test_restore_refusals_before_any_request(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    plain = tmp_path / "plain.jsonl"
    batch_op([(1, 1001)], report_path=str(plain)).execute({})
    snap = tmp_path / "snap.jsonl"
    batch_op([(2, 1001)], report_path=str(snap), snapshot=True).execute({})
    requests = sim.counters()["requests"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"undo_report_path": str(plain)}, "has no snapshot"),
        ({"undo_report_path": str(tmp_path / "nope.jsonl")}, "not readable"),
        ({"undo_report_path": str(snap), "from_object_type": "deals"}, "from a contacts -> companies run"),
        ({"undo_report_path": str(snap), "from_ids": "1"}, "from_ids must be a list"),
        ({"undo_report_path": str(snap), "pairs": [("x", 1)]}, "pairs\\[0\\]"),
    ]
    for kwargs, message in cases:
        with pytest.raises(AirflowFailException, match=message):
            HubSpotRestoreAssociationsOperator(task_id="restore", **kwargs).execute({})
    assert sim.counters()["requests"] == requests
    with pytest.raises(ValueError, match="not both"):
        restore_op(snap, from_ids=[1], pairs=[(1, 2)])
    # not an argument of a restore: Airflow 3 raises TypeError, Airflow 2.11 AirflowException
    with pytest.raises((TypeError, AirflowException), match="read_back"):
        restore_op(snap, read_back=True)


def test_restore_after_a_crash_between_snapshot_and_outcome(make_sim: MakeSim, tmp_path: Path) -> None:
    """A pair with a snapshot but no outcome line may have been removed: it is re-created."""
    sim = make_sim(mixed_label_state(6, 8))
    seed = both_directions(sim)
    report = tmp_path / "archive.jsonl"
    archive_with_snapshot(sim, report, on_error="ignore")
    kept = [line for line in lines(report) if line["kind"] in ("header", KIND_SNAPSHOT)]
    report.write_text("".join(json.dumps(line) + "\n" for line in kept))  # as if killed after sending
    restore_op(report).execute({})
    assert both_directions(sim) == seed


def test_primary_is_restored_with_its_category(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    seed, _ = both_directions(sim)
    with_primary = next(k for k, v in seed.items() if PRIMARY in v)
    report = tmp_path / "archive.jsonl"
    batch_op([list(with_primary)], report_path=str(report), snapshot=True).execute({})
    restore_op(report).execute({})
    assert sim.state.labels_of(FT, with_primary[0], TT, with_primary[1]) == set(seed[with_primary])


# -- the client's batch create -----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2026-03", "v4"])
@pytest.mark.parametrize("create_reply", ["201", "200"])
def test_create_associations_accepts_201_200_and_207(
    simulator_factory: Callable[..., Simulator], version: str, create_reply: str
) -> None:
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.client.auth import StaticTokenProvider
    from airflow_provider_hubassoc.models.associations import AssociationType, Pair
    from hubassoc_simulator import DEFAULT_TOKEN, SimulatorConfig

    replies: dict[Any, Any] = {version: create_reply}
    sim = simulator_factory(SimulatorConfig(create_replies=replies), mixed_label_state(2, 2))
    client = HubSpotClient(sim.url, token_provider=StaticTokenProvider(DEFAULT_TOKEN), api_version=version)
    boss = (AssociationType(category="USER_DEFINED", type_id=36),)
    result = client.create_associations(FT, TT, [Pair("1", "1002", boss)])
    assert result.http_status == int(create_reply)
    assert result.batch is not None
    assert result.batch.results[0]["labels"] == ["Decision maker"]
    assert BOSS in sim.state.labels_of(FT, "1", TT, "1002")

    partial = client.create_associations(FT, TT, [Pair("1", "1001", boss), Pair("77", "1001", boss)])
    assert partial.http_status == 207
    assert partial.batch is not None
    assert partial.batch.errors[0].context["fromObjectId"] == ["77"]
    with pytest.raises(ValueError, match="create_associations pair 0 must be a Pair with its types"):
        client.create_associations(FT, TT, [Pair("1", "1001")])


# -- grouping reads (no server) ----------------------------------------------------------------------


class _CountingReader:
    def __init__(self) -> None:
        self.reads: list[int] = []

    def read_associations(self, from_type: str, to_type: str, ids: list[str]) -> Any:
        from airflow_provider_hubassoc.models.responses import AssociationReadResult

        self.reads.append(len(ids))
        return AssociationReadResult(associations={i: [] for i in ids})


class _Report:
    write_error = None

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.syncs = 0

    def write(self, line: dict[str, Any]) -> None:
        self.lines.append(line)

    def sync(self) -> None:
        self.syncs += 1


@pytest.mark.parametrize(
    ("from_ids", "expected_reads"),
    [
        (lambda i: str(i), [1000, 1000, 500]),  # distinct from ids: at most 1,000 a read
        (lambda i: "7", [1, 1, 1]),  # one from record: at most 50 chunks a read
    ],
    ids=["distinct", "one-record"],
)
def test_snapshot_reads_are_grouped_by_from_ids_and_chunks(
    from_ids: Callable[[int], str], expected_reads: list[int]
) -> None:
    from airflow_provider_hubassoc.batch.sender import StopSignal
    from airflow_provider_hubassoc.batch.snapshot import Snapshotter
    from airflow_provider_hubassoc.batch.store import Chunk
    from airflow_provider_hubassoc.models.associations import Pair

    pairs = [
        Pair(from_ids(i), str(100_000 + i)) for i in range(2500 if expected_reads[0] == 1000 else 12_000)
    ]
    chunks = [Chunk(n, pairs[n * 100 : (n + 1) * 100]) for n in range(len(pairs) // 100)]
    reader, report = _CountingReader(), _Report()
    from airflow_provider_hubassoc.batch.operations import ARCHIVE
    from airflow_provider_hubassoc.batch.settings import Target

    target = Target(reader, FT, TT)  # type: ignore[arg-type]
    snapshotter = Snapshotter(target, ARCHIVE, report, StopSignal())  # type: ignore[arg-type]
    sent = list(snapshotter.ahead(iter(chunks)))
    assert sent == chunks
    assert reader.reads == expected_reads
    assert len(report.lines) == len(pairs)
    assert all(line["absent"] for line in report.lines)
    assert report.syncs == len(expected_reads)
