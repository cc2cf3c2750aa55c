"""Both archive operators end to end against the simulator, via `op.execute()` (fast)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_hubassoc.batch.report import DONE_EARLIER, SENT_STATUSES, iter_report_pairs
from airflow_provider_hubassoc.client.errors import HubSpotDailyLimitError, HubSpotNotFoundError
from airflow_provider_hubassoc.models.summary import SUMMARY_MAX_BYTES, ArchiveSummary
from hubassoc_simulator import FaultPlan, Simulator, SimulatorState
from tests.support.operator_runs import batch_op, label_op, task_context
from tests.support.sim_states import BILLING, BOSS, FT, TT, UNLABELED

MakeSim = Callable[..., Simulator]


def report_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_only_removed(sim: Simulator, before: dict[Any, Any], removed: set[tuple[str, str]]) -> None:
    """The removed pairs are gone; every other edge keeps exactly its labels."""
    after = sim.state.edges(FT, TT)
    expected = {k: v for k, v in before.items() if k not in removed}
    assert after == expected


# -- batch archive ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reply_mode", ["204", "200", "alternate"])
def test_batch_archive_list_groups_dedups_and_removes_exactly(
    make_sim: MakeSim, reply_mode: str, tmp_path: Path
) -> None:
    sim = make_sim(reply_mode=reply_mode)
    before = sim.state.edges(FT, TT)
    targets = [(f, t) for f in range(1, 6) for t in range(101, 108)]  # 35 pairs, 5 from records
    inputs: list[Any] = [{"from_id": f, "to_id": str(t)} for f, t in targets] + [(1, 101), ("2", 102)]
    report = tmp_path / "report.jsonl"
    value = batch_op(inputs, batch_size=10, max_concurrency=3, report_path=str(report)).execute({})

    summary = ArchiveSummary.from_xcom(value)
    totals = summary.totals
    assert totals.requested == 35
    assert totals.duplicates == 2
    assert (totals.confirmed + totals.accepted, totals.failed, totals.skipped) == (35, 0, 0)
    # A reply without a body (204) says nothing per pair: accepted, never claimed confirmed.
    if reply_mode == "204":
        assert (totals.confirmed, totals.accepted) == (0, 35)
        assert summary.batch_statuses == {"NO_BODY": 4}
    elif reply_mode == "200":
        assert (totals.confirmed, totals.accepted) == (35, 0)
        assert summary.batch_statuses == {"COMPLETE": 4}
    else:
        assert totals.confirmed > 0
        assert totals.accepted > 0
        assert sum(summary.batch_statuses.values()) == 4
    assert summary.batches == 4
    assert summary.report_path == str(report)
    assert summary.hubspot_conn_id == "hubspot_default"
    assert summary.completed_at is not None
    assert len(summary.verify_sample) == 35
    assert_only_removed(sim, before, {(str(f), str(t)) for f, t in targets})
    counters = sim.counters()
    assert counters["by_endpoint"]["batch_archive"] == 4
    assert counters["archived_pairs"] == 35
    assert counters["archive_inputs"] < 35  # grouped by from record

    lines = report_lines(report)
    assert lines[0]["kind"] == "header"
    assert lines[0]["operation"] == "batch_archive"
    assert lines[-1]["kind"] == "summary"
    assert lines[-1]["totals"]["confirmed"] + lines[-1]["totals"]["accepted"] == 35
    assert sum(1 for line in lines if line["kind"] == "chunk" and line["status"] == "done") == 4
    assert {(p.from_id, p.to_id) for p in iter_report_pairs(str(report))} == {
        (str(f), str(t)) for f, t in targets
    }


def test_batch_207_partial_failure_attributed_per_pair(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    before = sim.state.edges(FT, TT)
    good = [(1, 101), (1, 102), (2, 101)]
    bad = [(1, 999), (777, 101)]  # unknown company 999, unknown contact 777
    report = tmp_path / "r.jsonl"
    value = batch_op(good + bad, on_error="ignore", report_path=str(report)).execute({})
    totals = value["totals"]
    assert (totals["confirmed"], totals["accepted"], totals["failed"], totals["skipped"]) == (3, 0, 2, 0)
    assert value["errorsByCategory"] == {"OBJECT_NOT_FOUND": 2}
    assert {(f["fromId"], f["toId"]) for f in value["failedSample"]} == {("1", "999"), ("777", "101")}
    assert value["batchStatuses"] == {"COMPLETE": 1}
    assert sim.counters()["by_status"] == {"200": 1}  # per-input errors inside a 200 batch body
    assert_only_removed(sim, before, {(str(f), str(t)) for f, t in good})
    statuses = {
        (line["fromId"], line["toId"]): line["status"]
        for line in report_lines(report)
        if line["kind"] == "pair"
    }
    assert statuses == {
        ("1", "101"): "confirmed",
        ("1", "102"): "confirmed",
        ("2", "101"): "confirmed",
        ("1", "999"): "failed",
        ("777", "101"): "failed",
    }
    chunk = next(line for line in report_lines(report) if line["kind"] == "chunk")
    assert (chunk["status"], chunk["httpStatus"]) == ("failed", 200)


def test_on_error_fail_raises_after_doing_the_rest(make_sim: MakeSim) -> None:
    sim = make_sim()
    with pytest.raises(AirflowException, match="1 of 3 pairs failed") as info:
        batch_op([(1, 101), (1, 102), (1, 999)]).execute({})
    assert not isinstance(info.value, AirflowFailException)  # Airflow retries are allowed
    assert not sim.state.has_association(FT, "1", TT, "101")


def test_on_error_threshold(make_sim: MakeSim) -> None:
    make_sim()
    inputs = [(1, t) for t in range(101, 111)] + [(1, 999)]  # 1 failure in 11
    value = batch_op(inputs, on_error="threshold", max_error_ratio=0.1).execute({})
    assert value["totals"]["failed"] == 1
    assert value["onError"] == "threshold"
    with pytest.raises(AirflowException, match=r"above max_error_ratio 5\.00%"):
        batch_op(
            [(2, 101), (2, 999), (2, 102)] + [(3, t) for t in range(101, 111)],
            on_error="threshold",
            max_error_ratio=0.05,
        ).execute({})


def test_on_error_arguments_checked() -> None:
    with pytest.raises(ValueError, match="max_error_ratio"):
        batch_op([(1, 2)], on_error="threshold")
    with pytest.raises(ValueError, match="on_error"):
        batch_op([(1, 2)], on_error="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        batch_op([(1, 2)], batch_size=0)


def test_canceled_and_pending_batch_statuses(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(reply_mode="200", batch_status="CANCELED")
    value = batch_op([(1, 101)], on_error="ignore").execute({})
    assert value["totals"]["failed"] == 1
    assert value["batchStatuses"] == {"CANCELED": 1}
    sim.configure(batch_status="PENDING")
    report = tmp_path / "pending.jsonl"
    value = batch_op([(1, 102)], report_path=str(report)).execute(task_context())
    assert (value["totals"]["confirmed"], value["totals"]["accepted"]) == (0, 1)  # at most accepted
    assert value["batchStatuses"] == {"PENDING": 1}
    chunk = next(line for line in report_lines(report) if line["kind"] == "chunk")
    assert chunk["status"] == "unfinished"
    # Never checkpointed as done: a retry of the same run sends the PENDING chunk again.
    sim.configure(batch_status="COMPLETE")
    sim.reset_counters()
    value = batch_op([(1, 102)], report_path=str(report)).execute(task_context())
    assert (value["totals"]["confirmed"], value["totals"]["doneEarlier"]) == (1, 0)
    assert sim.counters()["by_endpoint"]["batch_archive"] == 1


# -- input sources ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "jsonl", "uri", "tuple_generator"])
def test_every_input_source(make_sim: MakeSim, tmp_path: Path, kind: str) -> None:
    sim = make_sim()
    before = sim.state.edges(FT, TT)
    targets = [(3, 101), (3, 105), (4, 110)]
    inputs: Any
    if kind == "csv":
        path = tmp_path / "pairs.csv"
        path.write_text("from_id,to_id\n" + "".join(f"{f},{t}\n" for f, t in targets))
        inputs = str(path)
    elif kind in ("jsonl", "uri"):
        path = tmp_path / "pairs.jsonl"
        path.write_text("".join(json.dumps({"fromId": str(f), "toId": str(t)}) + "\n" for f, t in targets))
        inputs = str(path) if kind == "jsonl" else f"file://{path}"
    else:
        inputs = ((f, t) for f, t in targets)  # e.g. a lazy XCom sequence
    value = batch_op(inputs).execute({})
    assert value["totals"]["confirmed"] == 3
    assert_only_removed(sim, before, {(str(f), str(t)) for f, t in targets})


# -- bad inputs: refused before any request --------------------------------------------------------


def _bad_file(tmp_path: Path) -> str:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"from_id": 1, "to_id": 101}\n{"from_id": 2, "to_id": 102}\nnot json\n')
    return str(path)


@pytest.mark.parametrize(
    ("make_inputs", "kwargs", "needle"),
    [
        (lambda p: [], {"fail_on_empty": True}, "inputs is empty"),
        (lambda p: [(1, 101), ("x1", 102)], {}, r"inputs\[1\]: from id 'x1'"),
        (lambda p: [(1, 101)], {"from_object_type": "../contacts"}, "from_object_type '../contacts'"),
        (lambda p: [(1, 101)], {"to_object_type": "Companies%2F"}, "to_object_type"),
        (_bad_file, {}, "bad.jsonl line 3: malformed JSON"),
        (lambda p: str(p / "missing.csv"), {}, "does not exist"),
    ],
)
def test_bad_inputs_fail_before_any_request(
    make_sim: MakeSim, tmp_path: Path, make_inputs: Any, kwargs: dict[str, Any], needle: str
) -> None:
    sim = make_sim()
    before = sim.state.edges(FT, TT)
    op = batch_op(make_inputs(tmp_path), **kwargs)
    with pytest.raises(AirflowFailException, match=needle) as info:
        op.execute({})
    assert info.value.__cause__ is not None
    assert sim.counters()["requests"] == 0
    assert sim.state.edges(FT, TT) == before


@pytest.mark.parametrize("empty", ["list", "file"])
def test_an_empty_input_is_a_run_with_nothing_to_do(
    make_sim: MakeSim, tmp_path: Path, caplog: pytest.LogCaptureFixture, empty: str
) -> None:
    """A nightly query that found nothing is the common case: success, zero totals, said once."""
    sim = make_sim()
    path = tmp_path / "empty.csv"
    path.write_text("from_id,to_id\n")
    with caplog.at_level("INFO"):
        inputs = [] if empty == "list" else str(path)
        value = batch_op(inputs, report_path=str(tmp_path / "r.jsonl")).execute({})
    assert value["totals"]["requested"] == value["batches"] == 0
    assert caplog.text.count("is empty: nothing to send") == 1
    assert sim.counters()["requests"] == 0
    summary = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[-1])
    assert summary["kind"] == "summary"
    assert summary["totals"]["requested"] == 0


def test_empty_file_and_batch_size_above_connection_maximum(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(extra={"max_batch_size": 50})
    empty = tmp_path / "empty.csv"
    empty.write_text("from_id,to_id\n")
    with pytest.raises(AirflowFailException, match="empty"):
        batch_op(str(empty), batch_size=50, fail_on_empty=True).execute({})
    with pytest.raises(AirflowFailException, match="batch_size 100 exceeds the connection's maximum of 50"):
        batch_op([(1, 101)], batch_size=100).execute({})
    assert sim.counters()["requests"] == 0


# -- label archive ---------------------------------------------------------------------------------


def test_label_archive_by_name_and_by_type(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    before = sim.state.edges(FT, TT)
    inputs = [
        {"from_id": 1, "to_id": 101, "label": "decision MAKER"},
        (1, 102, ("USER_DEFINED", 36)),
        {
            "fromId": "2",
            "toId": "101",
            "types": [
                {"associationCategory": "USER_DEFINED", "associationTypeId": 37},
                {"category": "USER_DEFINED", "typeId": 36},
            ],
        },
    ]
    value = label_op(inputs, report_path=str(tmp_path / "l.jsonl")).execute({})
    assert value["operation"] == "label_archive"
    assert value["totals"]["confirmed"] == 3
    assert sim.counters()["by_endpoint"]["labels"] == 1  # names resolved once
    assert sim.counters()["by_endpoint"]["labels_archive"] == 1
    assert sim.state.labels_of(FT, "1", TT, "101") == {UNLABELED, BILLING}
    assert sim.state.labels_of(FT, "1", TT, "102") == {UNLABELED, BILLING}
    assert sim.state.labels_of(FT, "2", TT, "101") == {UNLABELED}
    changed = {("1", "101"), ("1", "102"), ("2", "101")}
    assert {k: v for k, v in sim.state.edges(FT, TT).items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }
    done = list(iter_report_pairs(str(tmp_path / "l.jsonl")))
    assert {(p.from_id, p.to_id) for p in done} == changed
    assert all(p.types for p in done)


def test_label_types_from_csv(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    path = tmp_path / "labels.csv"
    path.write_text("from_id,to_id,label\n5,105,Decision maker\n5,106,Decision maker\n")
    assert label_op(str(path)).execute({})["totals"]["confirmed"] == 2
    assert sim.state.labels_of(FT, "5", TT, "105") == {UNLABELED, BILLING}


@pytest.mark.parametrize(
    ("label", "needle"),
    [("Nobody", "label 'nobody' is not defined"), ("Billing contact", "matches 2 labels")],
)
def test_unknown_or_ambiguous_label_fails_before_archive(make_sim: MakeSim, label: str, needle: str) -> None:
    sim = make_sim()
    before = sim.state.edges(FT, TT)
    with pytest.raises(AirflowFailException, match=needle) as info:
        label_op([(1, 101, ("USER_DEFINED", 36)), {"from_id": 1, "to_id": 102, "label": label}]).execute({})
    assert "inputs[1]" in str(info.value)
    assert "USER_DEFINED:37" in str(info.value)
    counters = sim.counters()["by_endpoint"]
    assert counters["labels"] == 1
    assert counters["labels_archive"] == counters["batch_archive"] == counters["batch_read"] == 0
    assert sim.state.edges(FT, TT) == before


def test_unlabeled_type_warns(make_sim: MakeSim, caplog: pytest.LogCaptureFixture) -> None:
    sim = make_sim()
    label_op([(1, 101, ("HUBSPOT_DEFINED", 279))]).execute({})
    assert "removes every label" in caplog.text
    assert not sim.state.has_association(FT, "1", TT, "101")


# -- fatal errors, checkpoints, dry run ------------------------------------------------------------


def test_fatal_error_stops_at_once_and_accounts_for_everything(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(faults=FaultPlan(schedule={3: "429-daily"}))
    report = tmp_path / "r.jsonl"
    inputs = [(f, t) for f in range(1, 11) for t in range(101, 111)]  # 100 pairs, 10 chunks
    with pytest.raises(AirflowFailException, match="HubSpotDailyLimitError") as info:
        batch_op(inputs, batch_size=10, max_concurrency=1, report_path=str(report)).execute({})
    assert isinstance(info.value.__cause__, HubSpotDailyLimitError)
    assert sim.counters()["by_endpoint"]["batch_archive"] == 3  # nothing sent after the fatal reply
    summary = report_lines(report)[-1]
    assert summary["kind"] == "summary"
    assert summary["totals"] == {
        "requested": 100,
        "confirmed": 20,
        "accepted": 0,
        "failed": 10,
        "skipped": 70,
        "doneEarlier": 0,
        "duplicates": 0,
        "wouldRemove": 0,
        "absent": 0,
        "wouldCreate": 0,
        "present": 0,
    }
    assert sim.state.association_count(FT, TT) == 80


def test_rerun_after_crash_skips_checkpointed_chunks(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(faults=FaultPlan(schedule={4: "429-daily"}))
    report = tmp_path / "r.jsonl"
    inputs = [(f, t) for f in range(1, 11) for t in range(101, 111)]
    with pytest.raises(AirflowFailException):
        batch_op(inputs, batch_size=10, max_concurrency=1, report_path=str(report)).execute(task_context())
    assert sim.state.association_count(FT, TT) == 70
    sim.configure(faults=FaultPlan())
    sim.reset_counters()

    value = batch_op(inputs, batch_size=10, max_concurrency=2, report_path=str(report)).execute(
        task_context()
    )
    assert value["totals"] == {
        "requested": 100,
        "confirmed": 70,
        "accepted": 0,
        "failed": 0,
        "skipped": 30,
        "doneEarlier": 30,
        "duplicates": 0,
        "wouldRemove": 0,
        "absent": 0,
        "wouldCreate": 0,
        "present": 0,
    }
    assert sim.counters()["by_endpoint"]["batch_archive"] == 7
    assert sim.state.association_count(FT, TT) == 0
    lines = report_lines(report)
    pairs = [line for line in lines if line["kind"] == "pair"]
    assert len(pairs) == 100  # a complete account, each pair once
    assert sum(1 for p in pairs if p["category"] == "checkpoint") == 30
    assert len(list(iter_report_pairs(str(report), (*SENT_STATUSES, DONE_EARLIER)))) == 100
    assert not Path(str(report) + ".prev").exists()

    sim.reset_counters()  # a third run has nothing left to send
    value = batch_op(inputs, batch_size=10, report_path=str(report)).execute(task_context())
    assert (value["totals"]["skipped"], value["totals"]["doneEarlier"]) == (100, 100)
    assert sim.counters()["requests"] == 0


def test_dry_run_reads_back_and_sends_no_archive(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    before = sim.state.edges(FT, TT)
    report = tmp_path / "dry.jsonl"
    value = batch_op(
        [(1, 101), (1, 102), (1, 999), (777, 101)], dry_run=True, report_path=str(report)
    ).execute({})
    assert value["dryRun"] is True
    assert value["totals"]["wouldRemove"] == 2
    assert value["totals"]["absent"] == 2
    counters = sim.counters()["by_endpoint"]
    assert counters["batch_archive"] == counters["labels_archive"] == 0
    assert counters["batch_read"] >= 1
    assert sim.state.edges(FT, TT) == before
    statuses = sorted(line["status"] for line in report_lines(report) if line["kind"] == "pair")
    assert statuses == ["absent", "absent", "would_remove", "would_remove"]

    sim.state.archive_labels(FT, "2", TT, "101", {BOSS})
    value = label_op([(2, 101, "Decision maker"), (2, 102, "Decision maker")], dry_run=True).execute({})
    assert value["totals"]["wouldRemove"] == 1
    assert value["totals"]["absent"] == 1
    assert sim.counters()["by_endpoint"]["labels_archive"] == 0
    # A dry-run report is never a checkpoint: the real run still sends everything.
    batch_op([(1, 101), (1, 102)], report_path=str(report)).execute({})
    assert not sim.state.has_association(FT, "1", TT, "101")


def test_summary_stays_under_16kb_for_a_huge_failing_input(make_sim: MakeSim, tmp_path: Path) -> None:
    state = SimulatorState()
    state.add_records(FT, [1])
    sim = make_sim(state=state)
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("from_id,to_id\n")
        for i in range(1, 5001):
            handle.write(f"{i + 9_000_000_000_000_000},{i + 9_100_000_000_000_000}\n")
    value = batch_op(str(path), on_error="ignore", max_concurrency=8).execute({})
    assert value["totals"]["failed"] == 5000
    assert len(json.dumps(value).encode()) < SUMMARY_MAX_BYTES
    assert len(value["failedSample"]) > 0
    assert sim.counters()["by_endpoint"]["batch_archive"] == 50


def test_operator_fields_and_cheap_import() -> None:
    op = batch_op([(1, 2)], dry_run=True)
    assert op.template_fields == (
        "hubspot_conn_id",
        "api_version",
        "report_path",
        "from_object_type",
        "to_object_type",
        "inputs",
    )
    assert op.template_ext == ()
    # Our flag is `is_dry_run`: it does not shadow BaseOperator.dry_run() (2.11, 3.1+; 3.0 has none).
    assert not isinstance(getattr(op, "dry_run", None), bool)
    assert op.is_dry_run is True


def test_rate_limit_share_scales_the_hooks_governor(
    make_sim: MakeSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

    sim = make_sim(extra={"rate_limit": 100})
    created: list[HubSpotHook] = []
    original_init = HubSpotHook.__init__

    def recording_init(self: HubSpotHook, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(HubSpotHook, "__init__", recording_init)
    summary = batch_op([(1, 101)], rate_limit_share=0.25).execute({})
    assert summary["totals"]["confirmed"] == 1
    assert created[0].get_conn().governor.limit == 25
    for share in (0, 1.5):  # range-checked once, by the hook: refused before any request
        with pytest.raises(AirflowFailException, match="rate_limit_share"):
            batch_op([(1, 102)], rate_limit_share=share).execute({})
    assert sim.counters()["by_endpoint"]["batch_archive"] == 1


def test_dry_run_refuses_to_overwrite_a_real_runs_checkpoint(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(faults=FaultPlan(schedule={3: "429-daily"}))
    inputs = [(f, t) for f in range(1, 11) for t in range(101, 111)]
    report = tmp_path / "run.jsonl"
    with pytest.raises(AirflowFailException):
        batch_op(inputs, batch_size=10, report_path=str(report)).execute(task_context())
    checkpoint_before = report.read_text()
    sim.reset_counters()

    with pytest.raises(AirflowFailException, match="holds the report of a real run"):
        batch_op(inputs, batch_size=10, report_path=str(report), dry_run=True).execute({})

    assert sim.counters()["requests"] == 0
    assert report.read_text() == checkpoint_before
    done_before = sum(
        1 for line in report_lines(report) if line["kind"] == "chunk" and line["status"] == "done"
    )
    assert done_before > 0
    sim.configure(faults=FaultPlan())  # the next day: the budget is back, the task is retried
    value = batch_op(inputs, batch_size=10, report_path=str(report)).execute(task_context())
    assert value["totals"]["doneEarlier"] == 10 * done_before  # the checkpoint survived the dry run
    assert sim.state.association_count(FT, TT) == 0


def test_an_unknown_object_type_stops_the_run_instead_of_repeating_the_404(make_sim: MakeSim) -> None:
    sim = make_sim()
    inputs = [(f, t) for f in range(1, 11) for t in range(101, 111)]
    with pytest.raises(AirflowFailException) as excinfo:
        batch_op(inputs, batch_size=10, max_concurrency=2, to_object_type="compnies").execute({})
    assert isinstance(excinfo.value.__cause__, HubSpotNotFoundError)
    assert sim.counters()["by_endpoint"]["batch_archive"] <= 2  # the requests already in flight
    assert sim.state.association_count(FT, TT) == 100


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_file_that_is_not_utf8_is_refused_naming_it(make_sim: MakeSim, tmp_path: Path, suffix: str) -> None:
    sim = make_sim()
    path = tmp_path / f"pairs{suffix}"
    first = "from_id,to_id\n1,101\n" if suffix == ".csv" else '{"from_id": 1, "to_id": 101}\n'
    path.write_bytes(first.encode() + b"2,10\xe9\n")
    with pytest.raises(AirflowFailException, match=r"not UTF-8") as excinfo:
        batch_op(str(path)).execute({})
    assert str(path) in str(excinfo.value)
    assert sim.counters()["requests"] == 0


def test_an_error_on_the_recording_thread_sends_none_of_the_queued_chunks() -> None:
    import threading

    from airflow_provider_hubassoc.batch.outcomes import ChunkOutcome, Verdict
    from airflow_provider_hubassoc.batch.sender import ChunkRunner, StopSignal
    from airflow_provider_hubassoc.batch.store import Chunk
    from airflow_provider_hubassoc.models.associations import Pair

    sent: list[int] = []
    recorded = threading.Event()

    def send(chunk: Chunk) -> ChunkOutcome:
        if chunk.index > 0:
            recorded.wait(1)  # still queued or in flight when the recording fails
        sent.append(chunk.index)
        return ChunkOutcome(chunk, [Verdict("confirmed")])

    def record(outcome: ChunkOutcome) -> None:
        recorded.set()
        raise OSError("disk full while writing the report")

    chunks = iter([Chunk(index, [Pair(str(index + 1), "2")]) for index in range(8)])
    stop = StopSignal()
    with pytest.raises(OSError, match="disk full"):
        ChunkRunner(send, record, stop=stop, max_concurrency=1, queue_ahead=4).run(chunks)
    # Chunk 0 was recorded; chunk 1 was already running; chunks 2.. were queued and must not go out.
    assert sorted(sent) in ([0], [0, 1])
    assert stop.reason == "OSError on the task's thread"
