"""HubSpotBatchStatusSensor: status policy, summary parsing, poke/reschedule checks, deferral."""

from __future__ import annotations

import json
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    TaskDeferred,
)

from airflow_provider_hubassoc.client.errors import HubSpotMissingScopesError, HubSpotRateLimitError
from airflow_provider_hubassoc.models.summary import ArchiveSummary
from airflow_provider_hubassoc.sensors.batch_status import (
    TRIGGER_INLINE_PAIRS,
    HubSpotBatchStatusSensor,
    evaluate_summary,
    parse_summary,
)
from airflow_provider_hubassoc.triggers.batch_status import HubSpotBatchStatusTrigger
from tests.support.reports import write_report

UNLABELED = ("HUBSPOT_DEFINED", 279)


def summary_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "operation": "batch_archive",
        "fromObjectType": "contacts",
        "toObjectType": "companies",
        "apiVersion": "2026-03",
        "totals": {"requested": 2, "confirmed": 2, "failed": 0, "skipped": 0, "duplicates": 0},
        "batches": 1,
        "batchStatuses": {"COMPLETE": 1},
        "verifySample": [{"fromId": "1", "toId": "10"}, {"fromId": "2", "toId": "20"}],
        "startedAt": "2026-04-01T00:00:00Z",
        "hubspotConnId": "hubspot_from_summary",
    }
    base.update(overrides)
    return base


def summary(**overrides: Any) -> ArchiveSummary:
    return ArchiveSummary.from_xcom(summary_dict(**overrides))


def make_sensor(reader: Any, **kwargs: Any) -> HubSpotBatchStatusSensor:
    kwargs.setdefault("summary", summary_dict())
    kwargs.setdefault("deferrable", False)
    sensor = HubSpotBatchStatusSensor(task_id="wait", **kwargs)
    sensor._reader = reader
    return sensor


# -- the status policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "verify", "action", "reason"),
    [
        ({}, True, "verify", "every batch is COMPLETE"),
        ({}, False, "done", "verify=False"),
        ({"dryRun": True, "batchStatuses": {}}, True, "done", "dry run"),
        ({"batchStatuses": {"COMPLETE": 3, "CANCELED": 1}}, True, "fail", "1 batch(es) were CANCELED"),
        ({"batchStatuses": {"PENDING": 1, "COMPLETE": 1}}, True, "verify", "PENDING/PROCESSING"),
        # A PENDING batch can never change on its own: the read-back decides even with verify=False.
        ({"batchStatuses": {"PROCESSING": 2}}, False, "verify", "2 batch(es) were PENDING/PROCESSING"),
        (
            {"totals": {"requested": 10, "failed": 1}},
            True,
            "fail",
            "1 of 10 pairs failed and on_error is 'fail'",
        ),
        (
            {"onError": "threshold", "maxErrorRatio": 0.05, "totals": {"requested": 10, "failed": 1}},
            True,
            "fail",
            "above max_error_ratio 5.00%",
        ),
        (
            {"onError": "threshold", "maxErrorRatio": 0.2, "totals": {"requested": 10, "failed": 1}},
            True,
            "verify",
            "COMPLETE",
        ),
        ({"onError": "ignore", "totals": {"requested": 10, "failed": 9}}, True, "verify", "COMPLETE"),
        ({"batchStatuses": {"COMPLETE": 1, "SOMETHING_NEW": 1}}, False, "done", "COMPLETE"),
        # a run that created associations is not "done" when they are gone: refused, not waited on
        ({"operation": "batch_create"}, True, "fail", "reads back removals"),
        ({"operation": "sync", "dryRun": True}, True, "fail", "a sync run created associations"),
        ({"operation": "label_archive"}, True, "verify", "COMPLETE"),
    ],
)
def test_evaluate_summary(overrides: dict[str, Any], verify: bool, action: str, reason: str) -> None:
    verdict = evaluate_summary(summary(**overrides), verify=verify)
    assert verdict.action == action
    assert reason in verdict.reason


def test_canceled_wins_over_pending() -> None:
    verdict = evaluate_summary(summary(batchStatuses={"PENDING": 1, "CANCELED": 1}))
    assert verdict.action == "fail"


# -- parsing the summary -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        summary_dict(),
        json.dumps(summary_dict()),
        str(summary_dict()),  # what "{{ ti.xcom_pull(...) }}" renders to without native rendering
        [summary_dict()],
    ],
)
def test_parse_summary_forms(value: Any) -> None:
    assert parse_summary(value).hubspot_conn_id == "hubspot_from_summary"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not a summary {", "neither JSON nor a Python literal"),
        ([summary_dict(), summary_dict()], "map the sensor too"),
        (42, "expected an archive summary dict"),
        ({"operation": "batch_archive"}, "not an archive summary"),
    ],
)
def test_parse_summary_refuses(value: Any, message: str) -> None:
    with pytest.raises(AirflowFailException, match=message):
        parse_summary(value)


def test_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="exactly one of summary and archive_task_id"):
        HubSpotBatchStatusSensor(task_id="s")
    with pytest.raises(ValueError, match="exactly one of summary and archive_task_id"):
        HubSpotBatchStatusSensor(task_id="s", summary={}, archive_task_id="archive")
    with pytest.raises(ValueError, match="max_pairs_to_verify"):
        HubSpotBatchStatusSensor(task_id="s", archive_task_id="a", max_pairs_to_verify=0)
    assert {"summary", "hubspot_conn_id"} <= set(HubSpotBatchStatusSensor.template_fields)


# -- poke ----------------------------------------------------------------------------------------


def test_poke_waits_while_pairs_are_visible_then_succeeds(fake_reader: Any) -> None:
    fake_reader.edges = {("1", "10"): {UNLABELED}}
    sensor = make_sensor(fake_reader)

    assert sensor.poke({}) is False
    fake_reader.edges.clear()
    done = sensor.poke({})

    assert done
    assert done.xcom_value["verified"] == 2
    assert done.xcom_value["scope"] == "sample"
    assert fake_reader.calls == [["1", "2"], ["1"]]  # the second poke re-reads only what was left


def test_pending_batch_passes_once_the_read_back_shows_everything_gone(fake_reader: Any) -> None:
    sensor = make_sensor(fake_reader, summary=summary_dict(batchStatuses={"PENDING": 1}), verify=False)
    done = sensor.poke({})
    assert done
    assert "PENDING/PROCESSING" in done.xcom_value["reason"]
    assert fake_reader.calls == [["1", "2"]]


def test_canceled_fails_at_once_without_reading(fake_reader: Any) -> None:
    sensor = make_sensor(fake_reader, summary=summary_dict(batchStatuses={"CANCELED": 1}))
    with pytest.raises(AirflowFailException, match="CANCELED"):
        sensor.execute({})
    assert fake_reader.calls == []


def test_verify_false_and_complete_does_not_read(fake_reader: Any) -> None:
    sensor = make_sensor(fake_reader, verify=False)
    assert sensor.execute({})["scope"] == "none"
    assert fake_reader.calls == []


def test_summary_from_archive_task_id(fake_reader: Any) -> None:
    class TI:
        def xcom_pull(self, task_ids: str) -> Any:
            assert task_ids == "archive"
            return summary_dict(verifySample=[{"fromId": "5", "toId": "50"}])

    sensor = make_sensor(fake_reader, summary=None, archive_task_id="archive")
    assert sensor.poke({"ti": TI()})  # type: ignore[typeddict-item]
    assert fake_reader.calls == [["5"]]


def test_sample_is_bounded_by_max_pairs_to_verify(fake_reader: Any) -> None:
    sample = [{"fromId": str(i), "toId": "1"} for i in range(1, 51)]
    sensor = make_sensor(fake_reader, summary=summary_dict(verifySample=sample), max_pairs_to_verify=5)
    assert sensor.poke({})
    assert fake_reader.calls == [["1", "2", "3", "4", "5"]]


def test_report_scope_reads_every_sent_pair(fake_reader: Any, tmp_path: Path) -> None:
    report = tmp_path / "r.jsonl"
    statuses = ("confirmed", "accepted", "failed")
    write_report(report, [(str(i), "9", statuses[i % 3]) for i in range(1, 2251)])
    sensor = make_sensor(fake_reader, summary=summary_dict(reportPath=str(report)))
    done = sensor.poke({})
    assert done
    assert done.xcom_value == {
        "verified": 1500,
        "scope": "report",
        "acceptedConfirmed": 750,
        "reason": done.xcom_value["reason"],
    }
    assert [len(c) for c in fake_reader.calls] == [1000, 500]


def test_sample_of_an_all_accepted_run_is_confirmed(fake_reader: Any) -> None:
    """A v4 run (every pair `accepted`, no report): the sensor says how many it confirmed."""
    totals = {"requested": 2, "confirmed": 0, "accepted": 2}
    done = make_sensor(fake_reader, summary=summary_dict(totals=totals)).poke({})
    assert done
    assert done.xcom_value["acceptedConfirmed"] == 2
    assert done.xcom_value["verified"] == 2


def test_unreadable_report_falls_back_to_the_sample(fake_reader: Any, tmp_path: Path) -> None:
    sensor = make_sensor(fake_reader, summary=summary_dict(reportPath=str(tmp_path / "gone.jsonl")))
    done = sensor.poke({})
    assert done
    assert done.xcom_value["scope"] == "sample"
    assert fake_reader.calls == [["1", "2"]]


def test_fatal_read_error_fails_transient_waits(fake_reader: Any) -> None:
    def scopes(_: Any) -> None:
        raise HubSpotMissingScopesError(
            "missing scopes", status=403, required_scopes=["crm.objects.contacts.read"]
        )

    fake_reader.on_read = scopes
    with pytest.raises(AirflowFailException, match="missing scopes"):
        make_sensor(fake_reader).poke({})

    def throttled(_: Any) -> None:
        raise HubSpotRateLimitError("rate limited", status=429)

    fake_reader.on_read = throttled
    assert make_sensor(fake_reader).poke({}) is False


def test_poke_mode_waits_then_passes(fake_reader: Any) -> None:
    fake_reader.edges = {("2", "20"): {UNLABELED}}

    def vanish(reader: Any) -> None:
        if len(reader.calls) == 3:
            reader.edges.clear()

    fake_reader.on_read = vanish
    sensor = make_sensor(fake_reader, poke_interval=0.01, timeout=5)
    result = sensor.execute({})
    assert result["verified"] == 2
    assert len(fake_reader.calls) == 3


def test_timeout_message_says_what_is_still_present(fake_reader: Any) -> None:
    fake_reader.edges = {("2", "20"): {UNLABELED}}
    sensor = make_sensor(fake_reader, poke_interval=0.01, timeout=0.05)
    with pytest.raises(AirflowSensorTimeout, match=r"sample read-back: 1 of 2 pairs still present: 2->20"):
        sensor.execute({})
    assert len(fake_reader.calls) >= 2


# -- deferrable ----------------------------------------------------------------------------------


def test_deferrable_finishes_on_the_worker_when_already_gone(fake_reader: Any) -> None:
    assert make_sensor(fake_reader, deferrable=True).execute({})["verified"] == 2


def test_deferrable_defers_with_still_present_pairs_and_an_absolute_deadline(fake_reader: Any) -> None:
    fake_reader.edges = {("2", "20"): {UNLABELED}}
    sensor = make_sensor(fake_reader, deferrable=True, timeout=600, poke_interval=20)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, HubSpotBatchStatusTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert before + 600 - 1 <= trigger.deadline <= time.time() + 600
    # Airflow's own deferral timeout leaves room for the trigger's final check and message.
    assert deferred.value.timeout is not None
    assert deferred.value.timeout > timedelta(seconds=600)
    _, kwargs = trigger.serialize()
    assert kwargs["hubspot_conn_id"] == "hubspot_from_summary"
    assert kwargs["pairs"] == [{"fromId": "2", "toId": "20", "types": None}]
    assert kwargs["report_path"] is None
    assert kwargs["poll_interval"] == 20
    assert kwargs["total_pairs"] == 2  # counts in the trigger's messages cover the whole read-back
    assert kwargs["accepted_pairs"] == 0
    assert (kwargs["from_object_type"], kwargs["to_object_type"], kwargs["api_version"]) == (
        "contacts",
        "companies",
        "2026-03",
    )


def test_deferrable_hands_a_large_remainder_over_as_the_report_path(fake_reader: Any, tmp_path: Path) -> None:
    report = tmp_path / "r.jsonl"
    write_report(report, [(str(i), "9", "accepted") for i in range(1, TRIGGER_INLINE_PAIRS + 2)])
    fake_reader.edges = {(str(i), "9"): {UNLABELED} for i in range(1, TRIGGER_INLINE_PAIRS + 2)}
    sensor = make_sensor(
        fake_reader, deferrable=True, hubspot_conn_id="override", summary=summary_dict(reportPath=str(report))
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["pairs"] is None
    assert kwargs["report_path"] == str(report)
    assert kwargs["scope"] == "report"
    assert kwargs["hubspot_conn_id"] == "override"
    # the sample stands in should the triggerer be unable to read the report
    assert kwargs["fallback_pairs"] == [
        {"fromId": "1", "toId": "10", "types": None, "status": "confirmed"},
        {"fromId": "2", "toId": "20", "types": None, "status": "confirmed"},
    ]


def test_execute_complete(fake_reader: Any) -> None:
    sensor = make_sensor(fake_reader, deferrable=True)
    ok = sensor.execute_complete(
        {}, {"status": "success", "message": "gone", "checked": 7, "scope": "report", "accepted": 3}
    )
    assert ok == {"verified": 7, "scope": "report", "acceptedConfirmed": 3, "reason": "gone"}
    with pytest.raises(AirflowSensorTimeout, match="still present: 2->20"):
        sensor.execute_complete({}, {"status": "timeout", "message": "1 of 2 pairs still present: 2->20"})
    with pytest.raises(AirflowFailException, match="auth"):
        sensor.execute_complete({}, {"status": "error", "message": "auth", "fatal": True})
    with pytest.raises(AirflowException, match="report"):
        sensor.execute_complete({}, {"status": "error", "message": "report", "fatal": False})


def test_archive_task_id_is_wired_upstream() -> None:
    from airflow.providers.common.compat.sdk import DAG, BaseOperator

    with DAG("wiring", schedule=None):
        archive = BaseOperator(task_id="archive")
        sensor = HubSpotBatchStatusSensor(task_id="confirm", archive_task_id="archive")
    assert sensor.upstream_task_ids == {archive.task_id}


def test_summary_is_pulled_once_per_process(fake_reader: Any) -> None:
    pulls: list[str] = []

    class TI:
        def xcom_pull(self, task_ids: str) -> Any:
            pulls.append(task_ids)
            return summary_dict()

    fake_reader.edges = {("1", "10"): {UNLABELED}}
    sensor = make_sensor(fake_reader, summary=None, archive_task_id="archive")
    assert not sensor.poke({"ti": TI()})  # type: ignore[typeddict-item]
    assert not sensor.poke({"ti": TI()})  # type: ignore[typeddict-item]
    assert pulls == ["archive"]


def test_missing_summary_fails_with_the_task_id(fake_reader: Any) -> None:
    class TI:
        def xcom_pull(self, task_ids: str) -> Any:
            return None

    sensor = make_sensor(fake_reader, summary=None, archive_task_id="archive")
    with pytest.raises(AirflowFailException, match="task 'archive' pushed no summary"):
        sensor.poke({"ti": TI()})  # type: ignore[typeddict-item]


# -- poke interval ---------------------------------------------------------------------------------


def test_poke_interval_defaults_to_a_minute() -> None:
    assert HubSpotBatchStatusSensor(task_id="s", archive_task_id="a").poke_interval == 60


def test_reschedule_mode_raises_a_short_poke_interval_to_the_minimum() -> None:
    """Airflow 3.3 fails a reschedule-mode sensor that pokes again within about 5 s."""
    with pytest.warns(UserWarning, match=r"poke_interval 2 s is raised to 10 s"):
        sensor = HubSpotBatchStatusSensor(
            task_id="s", archive_task_id="a", mode="reschedule", poke_interval=2
        )
    assert sensor.poke_interval == 10


@pytest.mark.parametrize(("mode", "interval"), [("reschedule", 10), ("reschedule", 45), ("poke", 0.01)])
def test_poke_intervals_that_are_safe_are_kept(mode: str, interval: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sensor = HubSpotBatchStatusSensor(task_id="s", archive_task_id="a", mode=mode, poke_interval=interval)
    assert sensor.poke_interval == interval


# -- a batch read that failed for a record: its pairs are never done -----------------------------


def test_a_pair_whose_read_failed_is_not_done(erroring_reader: Any) -> None:
    """HubSpot answered the read of record 2 with an error that is not a not-found: its pair may
    still be there, so the sensor keeps waiting, and its timeout names the pair and the error."""
    from tests.triggers.read_errors import LOCKED

    erroring_reader.failing = {"2": LOCKED}
    sensor = make_sensor(erroring_reader, poke_interval=0.01, timeout=0.05)
    assert sensor.poke({}) is False
    with pytest.raises(
        AirflowSensorTimeout, match=r"1 of 2 pairs unknown \(their read failed\): 2->20 .*LOCKED"
    ):
        sensor.execute({})


def test_a_pair_whose_read_failed_is_handed_to_the_trigger(erroring_reader: Any) -> None:
    from tests.triggers.read_errors import LOCKED

    erroring_reader.failing = {"2": LOCKED}
    sensor = make_sensor(erroring_reader, deferrable=True, timeout=600, poke_interval=20)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["pairs"] == [{"fromId": "2", "toId": "20", "types": None}]
