"""HubSpotBatchStatusTrigger: serialization, one event per run, deadline math on a fake clock."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.module_loading import import_string
from airflow.triggers.base import TriggerEvent

from airflow_provider_hubassoc.client.errors import HubSpotAuthError, HubSpotServerError
from airflow_provider_hubassoc.triggers.batch_status import HubSpotBatchStatusTrigger
from tests.support.readback import AsyncFakeClock
from tests.support.reports import write_report

START = AsyncFakeClock.START
UNLABELED = ("HUBSPOT_DEFINED", 279)


def make_trigger(reader: Any, clock: AsyncFakeClock, **overrides: Any) -> HubSpotBatchStatusTrigger:
    kwargs: dict[str, Any] = {
        "hubspot_conn_id": "hubspot_default",
        "from_object_type": "contacts",
        "to_object_type": "companies",
        "api_version": "2026-03",
        "deadline": START + 25,
        "poll_interval": 10.0,
        "pairs": [{"fromId": "1", "toId": "10", "types": None}, {"fromId": "2", "toId": "20", "types": None}],
    }
    kwargs.update(overrides)
    trigger = HubSpotBatchStatusTrigger(**kwargs)
    trigger._now = clock.now
    trigger._sleep = clock.sleep
    trigger._reader = reader
    return trigger


def run_all(trigger: HubSpotBatchStatusTrigger) -> list[TriggerEvent]:
    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def remove_after(reads: int, *pairs: tuple[str, str]) -> Any:
    def on_read(reader: Any) -> None:
        if len(reader.calls) >= reads:
            for p in pairs:
                reader.edges.pop(p, None)

    return on_read


@pytest.mark.parametrize(
    "variant",
    [
        {
            "pairs": [
                {
                    "fromId": "1",
                    "toId": "2",
                    "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 36}],
                }
            ]
        },
        {
            "pairs": None,
            "report_path": "/data/report.jsonl",
            "fallback_pairs": [{"fromId": "1", "toId": "2", "types": None, "status": "accepted"}],
            "scope": "report",
            "total_pairs": 150_000,
            "accepted_pairs": 1_000,
        },
    ],
)
def test_serialize_round_trip(variant: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {
        "hubspot_conn_id": "hubspot_eu",
        "from_object_type": "contacts",
        "to_object_type": "companies",
        "deadline": 1767225600.5,
        "api_version": "v4",
        "pairs": None,
        "report_path": None,
        "fallback_pairs": None,
        "poll_interval": 15.0,
        "scope": "sample",
        "total_pairs": None,
        "accepted_pairs": None,
        **variant,
    }
    classpath, serialized = HubSpotBatchStatusTrigger(**kwargs).serialize()

    assert serialized == kwargs
    json.dumps(serialized)  # stored in the metadata database
    rebuilt = import_string(classpath)(**serialized)
    assert rebuilt.serialize() == (classpath, serialized)
    assert not any("token" in key or "password" in key for key in serialized)


def test_needs_exactly_one_pair_source() -> None:
    base = {
        "hubspot_conn_id": "c",
        "from_object_type": "contacts",
        "to_object_type": "companies",
        "deadline": START,
    }
    with pytest.raises(ValueError, match="exactly one"):
        HubSpotBatchStatusTrigger(**base)
    with pytest.raises(ValueError, match="exactly one"):
        HubSpotBatchStatusTrigger(**base, pairs=[], report_path="/r.jsonl")


def test_success_at_once_yields_one_event_and_reads_off_the_loop(fake_reader: Any) -> None:
    clock = AsyncFakeClock()
    events = run_all(make_trigger(fake_reader, clock))

    assert len(events) == 1
    assert events[0].payload["status"] == "success"
    assert events[0].payload["checked"] == 2
    assert events[0].payload["still_present_count"] == 0
    assert clock.sleeps == []
    assert fake_reader.threads[0] != threading.get_ident()  # asyncio.to_thread, not the loop thread


def test_waits_then_succeeds_and_rereads_only_what_was_left(fake_reader: Any) -> None:
    fake_reader.edges = {("1", "10"): {UNLABELED}, ("2", "20"): {UNLABELED}}
    fake_reader.on_read = remove_after(3, ("1", "10"), ("2", "20"))
    clock = AsyncFakeClock()
    trigger = make_trigger(fake_reader, clock, deadline=START + 100)

    events = run_all(trigger)

    assert [e.payload["status"] for e in events] == ["success"]
    assert clock.sleeps == [10.0, 10.0]
    assert fake_reader.calls == [["1", "2"], ["1", "2"], ["1", "2"]]
    assert events[0].payload["checked"] == 2


def test_only_still_present_pairs_are_reread(fake_reader: Any) -> None:
    fake_reader.edges = {("2", "20"): {UNLABELED}}
    fake_reader.on_read = remove_after(2, ("2", "20"))
    events = run_all(make_trigger(fake_reader, AsyncFakeClock(), deadline=START + 100))

    assert events[0].payload["status"] == "success"
    assert fake_reader.calls == [["1", "2"], ["2"]]
    assert "all 2 archived pairs are gone" in events[0].payload["message"]


def test_timeout_after_a_final_check_at_the_deadline(fake_reader: Any) -> None:
    fake_reader.edges = {("2", "20"): {UNLABELED}}
    clock = AsyncFakeClock()

    events = run_all(make_trigger(fake_reader, clock))  # deadline START + 25, poll 10

    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "timeout"
    assert clock.sleeps == [10.0, 10.0, 5.0]  # the last sleep lands exactly on the deadline
    assert len(fake_reader.calls) == 4  # ... and is followed by a final check
    assert clock.t == START + 25
    assert payload["still_present_count"] == 1
    assert payload["still_present"] == [{"fromId": "2", "toId": "20", "types": None}]
    assert "1 of 2 pairs still present: 2->20" in payload["message"]


def test_final_check_at_the_deadline_can_still_succeed(fake_reader: Any) -> None:
    fake_reader.edges = {("2", "20"): {UNLABELED}}
    fake_reader.on_read = remove_after(4, ("2", "20"))  # gone exactly at the final check
    events = run_all(make_trigger(fake_reader, AsyncFakeClock()))
    assert [e.payload["status"] for e in events] == ["success"]


def test_deadline_already_past_still_checks_once(fake_reader: Any) -> None:
    fake_reader.edges = {("1", "10"): {UNLABELED}}
    clock = AsyncFakeClock()
    events = run_all(make_trigger(fake_reader, clock, deadline=START - 5))
    assert [e.payload["status"] for e in events] == ["timeout"]
    assert len(fake_reader.calls) == 1
    assert clock.sleeps == []


def test_fatal_error_ends_with_one_error_event(fake_reader: Any) -> None:
    def fail(_: Any) -> None:
        raise HubSpotAuthError("token rejected", status=401)

    fake_reader.on_read = fail
    events = run_all(make_trigger(fake_reader, AsyncFakeClock()))
    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert events[0].payload["fatal"] is True
    assert "token rejected" in events[0].payload["message"]


def test_transient_error_is_retried_at_the_next_poll(fake_reader: Any) -> None:
    def flaky(reader: Any) -> None:
        if len(reader.calls) == 1:
            raise HubSpotServerError("bad gateway", status=502)

    fake_reader.on_read = flaky
    clock = AsyncFakeClock()
    events = run_all(make_trigger(fake_reader, clock))
    assert [e.payload["status"] for e in events] == ["success"]
    assert clock.sleeps == [10.0]


def test_transient_error_on_the_final_check_is_named_in_the_timeout(fake_reader: Any) -> None:
    def always(_: Any) -> None:
        raise HubSpotServerError("bad gateway", status=502)

    fake_reader.on_read = always
    events = run_all(make_trigger(fake_reader, AsyncFakeClock()))
    assert [e.payload["status"] for e in events] == ["timeout"]
    assert "the last read-back failed: bad gateway" in events[0].payload["message"]
    assert events[0].payload["still_present_count"] is None


def test_report_path_reads_every_done_pair(fake_reader: Any, tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    write_report(report, [("1", "10", "confirmed"), ("2", "20", "failed"), ("3", "30", "accepted")])
    fake_reader.edges = {("3", "30"): {UNLABELED}}
    fake_reader.on_read = remove_after(2, ("3", "30"))
    trigger = make_trigger(fake_reader, AsyncFakeClock(), pairs=None, report_path=str(report), scope="report")

    events = run_all(trigger)

    assert events[0].payload["status"] == "success"
    assert fake_reader.calls == [["1", "3"], ["3"]]  # failed pairs are not read back
    assert events[0].payload["accepted"] == 1  # 3->30 was accepted, and is now confirmed


def test_unreadable_report_without_a_sample_is_an_error_event(fake_reader: Any, tmp_path: Path) -> None:
    trigger = make_trigger(
        fake_reader, AsyncFakeClock(), pairs=None, report_path=str(tmp_path / "nope.jsonl")
    )
    events = run_all(trigger)
    assert [e.payload["status"] for e in events] == ["error"]
    assert "must be readable from the triggerer" in events[0].payload["message"]
    assert fake_reader.calls == []


def test_unreadable_report_falls_back_to_the_sample_as_the_sensor_does(
    fake_reader: Any, tmp_path: Path
) -> None:
    sample = [{"fromId": "1", "toId": "10", "types": None, "status": "accepted"}]
    trigger = make_trigger(
        fake_reader,
        AsyncFakeClock(),
        pairs=None,
        report_path=str(tmp_path / "nope.jsonl"),
        fallback_pairs=sample,
        scope="report",
        total_pairs=10_000,  # the sensor's count of the report: not what the sample covers
        accepted_pairs=4_000,
    )
    events = run_all(trigger)
    assert [e.payload["status"] for e in events] == ["success"]
    assert events[0].payload["scope"] == "sample"
    assert (events[0].payload["checked"], events[0].payload["accepted"]) == (1, 1)
    assert fake_reader.calls == [["1"]]


def test_counts_include_pairs_the_sensor_already_read(fake_reader: Any) -> None:
    trigger = make_trigger(fake_reader, AsyncFakeClock(), total_pairs=40, accepted_pairs=12, scope="report")
    events = run_all(trigger)
    assert events[0].payload["scope"] == "report"  # the pairs left of the sensor's report pass
    assert events[0].payload["checked"] == 40
    assert events[0].payload["accepted"] == 12
    assert "all 40 archived pairs are gone" in events[0].payload["message"]


def test_a_slow_read_back_is_started_early_enough_to_end_by_the_deadline(fake_reader: Any) -> None:
    """Airflow's deferral timeout must not beat the trigger's own final check and message."""
    fake_reader.edges = {("2", "20"): {UNLABELED}}
    clock = AsyncFakeClock()

    def slow_pass(reader: Any) -> None:
        clock.t += 8.0  # each read-back takes 8 s (many batch reads, rate-limit waits)

    fake_reader.on_read = slow_pass
    events = run_all(make_trigger(fake_reader, clock))  # deadline START + 25, poll 10

    assert [e.payload["status"] for e in events] == ["timeout"]
    assert clock.sleeps == [9.0]  # woke 8 s early so that the final pass ends by the deadline
    assert len(fake_reader.calls) == 2
    assert clock.t == START + 25


def test_a_pass_never_touches_the_garbage_collector(fake_reader: Any) -> None:
    """The triggerer runs every provider's triggers: the collector stays as it was during a pass."""
    seen: list[bool] = []
    fake_reader.on_read = lambda _: seen.append(gc.isenabled())
    assert gc.isenabled()
    run_all(make_trigger(fake_reader, AsyncFakeClock()))
    assert seen == [True]
    assert gc.isenabled()


def test_each_batch_read_is_its_own_thread_hop(fake_reader: Any) -> None:
    """One batch read per hop: the loop gets control back between the reads of one pass."""
    from airflow_provider_hubassoc.batch.readback import READ_BATCH_LIMIT

    pairs = [{"fromId": str(i), "toId": "1", "types": None} for i in range(1, 2 * READ_BATCH_LIMIT + 2)]
    trigger = make_trigger(fake_reader, AsyncFakeClock(), pairs=pairs)
    hops: list[int] = []
    original = trigger._off_loop

    async def counted(func: Any) -> Any:
        hops.append(len(fake_reader.calls))
        return await original(func)

    trigger._off_loop = counted  # type: ignore[method-assign]
    events = run_all(trigger)

    assert events[0].payload["status"] == "success"
    assert [len(c) for c in fake_reader.calls] == [1000, 1000, 1]
    assert hops == [0, 0, 1, 2, 3]  # start, then one hop per read, then the hop that finds the end


def test_a_pair_whose_read_failed_never_makes_a_success(erroring_reader: Any) -> None:
    """Record 2's read keeps failing (not a not-found): its pair is unknown, the trigger times out
    saying so, with the error; it never reports the pair gone."""
    from tests.triggers.read_errors import LOCKED

    erroring_reader.failing = {"2": LOCKED}
    events = run_all(make_trigger(erroring_reader, AsyncFakeClock()))

    payload = events[0].payload
    assert payload["status"] == "timeout"
    assert (payload["still_present_count"], payload["unknown_count"]) == (0, 1)
    assert payload["unknown"] == [
        {
            "fromId": "2",
            "toId": "20",
            "types": None,
            "reason": f"the batch read of record 2 failed: {LOCKED.describe()}",
        }
    ]
    assert "1 of 2 pairs unknown (their read failed): 2->20" in payload["message"]
    assert erroring_reader.calls[1:] == [["2"]] * (len(erroring_reader.calls) - 1)  # read again each pass


def test_a_pair_whose_read_recovers_then_succeeds(erroring_reader: Any) -> None:
    from tests.triggers.read_errors import LOCKED

    erroring_reader.failing = {"2": LOCKED}

    def recover(reader: Any) -> None:
        if len(reader.calls) == 2:
            reader.failing = {}

    erroring_reader.on_read = recover
    events = run_all(make_trigger(erroring_reader, AsyncFakeClock(), deadline=START + 100))

    assert events[0].payload["status"] == "success"
    assert events[0].payload["unknown_count"] == 0
    assert erroring_reader.calls == [["1", "2"], ["2"]]
