"""Trustworthy undo (issue 23, items 1-5): lost replies, the account a report belongs to, damaged
reports, and the restore's own words; plus a restore of a restore. Against the simulator."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator
from hubassoc_simulator import FaultPlan, Simulator
from tests.support.operator_runs import batch_op, task_context
from tests.support.reports import read_report
from tests.support.sim_states import FT, TT, both_directions, mixed_label_state

MakeSim = Callable[..., Simulator]
TARGETS = [(f, t) for f in range(1, 5) for t in range(1001, 1006)]  # 20 pairs of the 6x8 seed


def restore_op(report: Path, **kwargs: Any) -> HubSpotRestoreAssociationsOperator:
    return HubSpotRestoreAssociationsOperator(task_id="restore", undo_report_path=str(report), **kwargs)


def archive(report: Path, pairs: list[tuple[int, int]] = TARGETS, **kwargs: Any) -> None:
    kwargs.setdefault("on_error", "ignore")
    op = batch_op([list(p) for p in pairs], report_path=str(report), snapshot=True, batch_size=5, **kwargs)
    op.execute(task_context("archive-run"))


def test_restore_brings_back_pairs_whose_archive_reply_was_lost(make_sim: MakeSim, tmp_path: Path) -> None:
    """HubSpot applied every archive but answered 503: the pairs are `failed`, yet gone. Restore
    must treat them as maybe removed and re-create them (creating what exists is safe)."""
    lost = FaultPlan(
        error_rate=1.0, error_statuses=(503,), commit_on_error=True, endpoints=frozenset({"batch_archive"})
    )
    sim = make_sim(mixed_label_state(6, 8), faults=lost, extra={"max_retries": 1, "retry_total_timeout": 5})
    seed = both_directions(sim)
    report = tmp_path / "archive.jsonl"
    archive(report, max_consecutive_failed_chunks=None)
    statuses = {line["status"] for line in read_report(report) if line["kind"] == "pair"}
    assert statuses == {"failed"}, "every reply was lost"
    assert both_directions(sim) != seed, "yet HubSpot applied them"

    sim.configure(faults=FaultPlan())
    value = restore_op(report).execute(task_context("restore-run"))
    assert both_directions(sim) == seed
    assert value["totals"]["requested"] == len(TARGETS)


def test_restore_leaves_alone_only_what_hubspot_named_in_a_per_input_error(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    report = tmp_path / "archive.jsonl"
    archive(report, [(1, 1001), (1, 1999)])  # record 1999 does not exist: a per-input error
    failed = [line for line in read_report(report) if line["kind"] == "pair" and line["status"] == "failed"]
    assert [(line["toId"], line.get("notApplied")) for line in failed] == [("1999", True)]
    before = sim.counters()["by_endpoint"]["batch_create"]
    value = restore_op(report).execute({})
    assert value["totals"]["requested"] == 1  # only 1 -> 1001; 1 -> 1999 had nothing removed
    assert sim.counters()["by_endpoint"]["batch_create"] == before + 1


def test_restore_refuses_another_accounts_report_before_any_request(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    sim = make_sim(mixed_label_state(6, 8), portal_id=111)
    report = tmp_path / "archive.jsonl"
    archive(report)
    assert read_report(report)[0]["account"] == {"portalId": 111, "unknownBecause": None}
    assert read_report(report)[0]["connId"] == "hubspot_default"
    sim.configure(portal_id=222)  # the connection now reaches another account
    edges = sim.state.edges(FT, TT)
    writes = sim.counters()["by_endpoint"]["batch_create"]
    with pytest.raises(AirflowFailException, match=r"account 111.*reaches account 222"):
        restore_op(report).execute({})
    assert sim.state.edges(FT, TT) == edges
    assert sim.counters()["by_endpoint"]["batch_create"] == writes


def test_an_unknown_account_must_be_confirmed(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8), account_info_forbidden=True)
    seed = both_directions(sim)
    report = tmp_path / "archive.jsonl"
    archive(report)
    header = read_report(report)[0]
    assert header["account"]["portalId"] is None
    assert "MissingScopes" in header["account"]["unknownBecause"]
    with pytest.raises(AirflowFailException, match="allow_unknown_account=True"):
        restore_op(report).execute({})
    assert sim.counters()["by_endpoint"]["batch_create"] == 0
    restore_op(report, allow_unknown_account=True).execute({})
    assert both_directions(sim) == seed


def test_restore_uses_the_reports_connection_by_default(
    make_sim: MakeSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    seed = both_directions(sim)
    monkeypatch.setenv("AIRFLOW_CONN_CRM_PROD", os.environ["AIRFLOW_CONN_HUBSPOT_DEFAULT"])
    monkeypatch.delenv("AIRFLOW_CONN_HUBSPOT_DEFAULT")
    report = tmp_path / "archive.jsonl"
    archive(report, hubspot_conn_id="crm_prod")
    restore_op(report).execute({})  # no hubspot_default exists: crm_prod, from the report
    assert both_directions(sim) == seed


def _damage(report: Path, line_number: int, text: str) -> None:
    lines = report.read_text().splitlines(keepends=True)
    lines[line_number - 1] = text
    report.write_text("".join(lines))


def test_a_damaged_line_in_the_middle_is_refused_naming_it(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    report = tmp_path / "archive.jsonl"
    archive(report)
    _damage(report, 5, '{"kind": "snapshot", "fromId": "1", "toId\n')
    with pytest.raises(AirflowFailException, match=r"archive.jsonl' line 5 is damaged"):
        restore_op(report).execute({})
    assert sim.counters()["by_endpoint"]["batch_create"] == 0


def test_a_torn_last_line_is_tolerated(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    seed = both_directions(sim)
    report = tmp_path / "archive.jsonl"
    archive(report)
    with report.open("a") as handle:
        handle.write('{"kind": "pair", "fromId": "4", "to')  # a crash mid-write
    restore_op(report).execute({})
    assert both_directions(sim) == seed


def test_a_hand_edited_bad_id_is_refused_naming_the_report_line(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8))
    report = tmp_path / "archive.jsonl"
    archive(report)
    lines = read_report(report)
    number = next(i for i, line in enumerate(lines, start=1) if line["kind"] == "snapshot")
    edited = {**lines[number - 1], "toId": "12x"}
    _damage(report, number, json.dumps(edited) + "\n")
    with pytest.raises(AirflowFailException, match=rf"archive.jsonl' line {number}: not a pair") as info:
        restore_op(report).execute({})
    assert "inputs[" not in str(info.value)
    assert sim.counters()["by_endpoint"]["batch_create"] == 0


def test_restore_logs_say_what_the_restore_does(
    make_sim: MakeSim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_sim(mixed_label_state(6, 8))
    report = tmp_path / "archive.jsonl"
    archive(report)
    caplog.clear()
    with caplog.at_level("INFO"):
        restore_op(report).execute({})
    text = caplog.text
    assert "to re-create (undo of a removal)" in text
    assert f"restored {len(TARGETS)}/{len(TARGETS)} pairs" in text
    for archive_wording in ("to archive", "removes every label", "archived "):
        assert archive_wording not in text


def test_a_restore_can_itself_be_undone(make_sim: MakeSim, tmp_path: Path) -> None:
    """archive -> restore -> undo of the restore: HubSpot is back to the archived state, and the
    associations the restore found already there (not archived) are kept."""
    sim = make_sim(mixed_label_state(6, 8))
    report, restored = tmp_path / "archive.jsonl", tmp_path / "restore.jsonl"
    archive(report)
    archived = both_directions(sim)
    restore_op(report, report_path=str(restored)).execute(task_context("restore-run"))
    assert read_report(restored)[0]["operation"] == "batch_create"
    undo = restore_op(restored, report_path=str(tmp_path / "undo.jsonl"))
    value = undo.execute(task_context("undo-run"))
    assert both_directions(sim) == archived
    assert value["operation"] == "label_archive"
    assert value["totals"]["requested"] == len(TARGETS)


# -- a batch read that errored is not "gone" (issue 23 item 11, in the engine) ----------------------


def test_end_of_run_read_back_keeps_an_unread_pair_accepted(make_sim: MakeSim, tmp_path: Path) -> None:
    """v4 answers 204: every pair is accepted until read back. Contact 2's read fails with an
    error other than not-found, so its pairs stay accepted, with the error on their report line."""
    sim = make_sim(mixed_label_state(6, 8), read_failures=frozenset({"2"}))
    report = tmp_path / "archive.jsonl"
    pairs = [[1, 1001], [2, 1001]]
    op = batch_op(pairs, api_version="v4", read_back=True, read_back_timeout=0, report_path=str(report))
    value = op.execute({})
    assert (value["totals"]["confirmed"], value["totals"]["accepted"]) == (1, 1)
    line = next(line for line in read_report(report) if line["kind"] == "pair" and line["fromId"] == "2")
    assert line["status"] == "accepted"
    assert "INTERNAL_ERROR" in line["message"]
    assert not sim.state.has_association(FT, "2", TT, "1001")  # removed, but nothing proved it


def test_a_snapshot_read_that_errored_sends_nothing_unrecorded(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(mixed_label_state(6, 8), read_failures=frozenset({"3"}))
    report = tmp_path / "archive.jsonl"
    with pytest.raises(AirflowException, match=r"snapshot read of record 3 .INTERNAL_ERROR"):
        archive(report, [(3, 1001), (3, 1002)])
    assert sim.state.has_association(FT, "3", TT, "1001")
    assert not [line for line in read_report(report) if line["kind"] == "snapshot"]


def test_a_dry_run_does_not_guess_for_an_unread_record(make_sim: MakeSim) -> None:
    make_sim(mixed_label_state(6, 8), read_failures=frozenset({"2"}))
    value = batch_op([[1, 1001], [2, 1001]], dry_run=True).execute({})
    assert value["totals"]["wouldRemove"] == 1
    assert value["totals"]["skipped"] == 2  # the would-remove one, and the unread one
    assert value["totals"]["absent"] == 0


# -- a chunk that never left the machine is not attempted, never "failed" --------------------------


def test_on_kill_while_waiting_for_a_rate_slot_leaves_the_chunk_not_attempted(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    """One request per 10 s: the second chunk waits for a slot when the task is killed. It never
    left the machine, so its pair is skipped (not attempted), and the run ends at once."""
    import threading
    import time

    sim = make_sim(mixed_label_state(6, 8), extra={"rate_limit": 1})
    op = batch_op(
        [[1, 1001], [1, 1002], [1, 1003]],
        batch_size=1,
        max_concurrency=1,
        report_path=str(tmp_path / "r.jsonl"),
    )
    threading.Timer(1.0, op.on_kill).start()
    started = time.monotonic()
    with pytest.raises(AirflowException, match="on_kill"):
        op.execute({})
    assert time.monotonic() - started < 5, "the wait for a slot ended on on_kill"
    pairs = {line["toId"]: line for line in read_report(tmp_path / "r.jsonl") if line["kind"] == "pair"}
    assert pairs["1001"]["status"] == "confirmed"
    assert {pairs[t]["status"] for t in ("1002", "1003")} == {"skipped"}
    assert all("not attempted" in pairs[t]["message"] for t in ("1002", "1003"))
    assert sim.counters()["by_endpoint"]["batch_archive"] == 1


def test_a_slot_past_the_deadline_stops_the_run_instead_of_skipping_silently(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    sim = make_sim(mixed_label_state(6, 8), extra={"rate_limit": 1, "retry_total_timeout": 1})
    op = batch_op(
        [[1, 1001], [1, 1002]], batch_size=1, max_concurrency=1, report_path=str(tmp_path / "r.jsonl")
    )
    with pytest.raises(AirflowException, match="stopped early"):
        op.execute({})
    summary = read_report(tmp_path / "r.jsonl")[-1]
    assert (summary["totals"]["confirmed"], summary["totals"]["skipped"], summary["totals"]["failed"]) == (
        1,
        1,
        0,
    )
    assert sim.counters()["by_endpoint"]["batch_archive"] == 1
