"""HubSpot's "try again later" replies (issue 23, item 10), against the simulator: 423 Locked, 477
Migration in Progress, 502, 504 and the CDN's 521, 522 and 524 are retried like a 5xx within the
call's `retry_total_timeout`, instead of failing the chunk at once.

Waits go through the policy's injected sleep and clock, so no test waits for real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.auth import StaticTokenProvider
from airflow_provider_hubassoc.client.errors import (
    LOCKED_MIN_WAIT_S,
    HubSpotServerError,
    HubSpotTryLaterError,
)
from airflow_provider_hubassoc.client.governor import RateGovernor
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.models.associations import Pair
from hubassoc_simulator import DEFAULT_TOKEN, FaultPlan, Simulator, SimulatorConfig, SimulatorState

Factory = Callable[..., Simulator]
TRANSIENT = ["423", "477", "502", "504", "521", "522", "524"]
PAIRS = [Pair("1", "101"), Pair("1", "102")]


class Clock:
    """A monotonic clock that only moves when the retry policy sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _state() -> SimulatorState:
    state = SimulatorState()
    for company in (101, 102):
        state.add_association("contacts", 1, "companies", company)
    return state


def _sim(factory: Factory, schedule: dict[int, str], **faults: Any) -> Simulator:
    return factory(SimulatorConfig(faults=FaultPlan(schedule=schedule, **faults)), _state())  # type: ignore[arg-type]


def _client(sim: Simulator, clock: Clock, **policy: Any) -> HubSpotClient:
    policy = {"initial_backoff_s": 0.1, "max_backoff_s": 0.4, "total_timeout_s": 60.0, **policy}
    retry = RetryPolicy(sleep=clock.sleep, clock=clock, **policy)
    governor = RateGovernor(100, 10.0, clock=clock)  # its pause before a retry ends on the same clock
    token = StaticTokenProvider(DEFAULT_TOKEN)
    return HubSpotClient(sim.url, token_provider=token, retry=retry, governor=governor)


def _removed(sim: Simulator) -> bool:
    return not any(sim.state.has_association("contacts", "1", "companies", c) for c in ("101", "102"))


@pytest.mark.parametrize("status", TRANSIENT)
def test_each_transient_status_is_retried_then_succeeds(simulator_factory: Factory, status: str) -> None:
    """Today each of these fails the chunk at its first reply."""
    sim = _sim(simulator_factory, {1: status, 2: status})
    clock = Clock()
    with _client(sim, clock) as client:
        result = client.archive_associations("contacts", "companies", PAIRS)
    assert result.http_status in (200, 204)
    assert sim.counters()["by_status"][status] == 2
    assert sim.counters()["requests"] == 3
    assert len(clock.slept) == 2
    assert _removed(sim)


def test_423_waits_at_least_two_seconds_before_each_retry(simulator_factory: Factory) -> None:
    """HubSpot's error page: after a 423 Locked, wait at least 2 s; the backoff alone is 0.1 s."""
    sim = _sim(simulator_factory, {1: "423", 2: "423", 3: "423"})
    clock = Clock()
    with _client(sim, clock) as client:
        client.archive_associations("contacts", "companies", PAIRS)
    assert len(clock.slept) == 3
    assert all(wait >= LOCKED_MIN_WAIT_S for wait in clock.slept), clock.slept
    assert _removed(sim)


@pytest.mark.parametrize("retry_after", [3.0, 25.0])
def test_477_honours_retry_after(simulator_factory: Factory, retry_after: float) -> None:
    sim = _sim(simulator_factory, {1: "477"}, migration_retry_after_s=retry_after)
    clock = Clock()
    with _client(sim, clock) as client:
        client.archive_associations("contacts", "companies", PAIRS)
    assert clock.slept == [retry_after]
    assert _removed(sim)


def test_a_477_longer_than_the_deadline_gives_up_without_waiting(simulator_factory: Factory) -> None:
    """A migration can last a day: the call's own deadline bounds the wait, and the error says
    what HubSpot answered."""
    sim = _sim(simulator_factory, {1: "477"}, migration_retry_after_s=3_600)
    clock = Clock()
    with _client(sim, clock, total_timeout_s=300.0) as client, pytest.raises(HubSpotTryLaterError) as info:
        client.archive_associations("contacts", "companies", PAIRS)
    assert clock.slept == []
    assert sim.counters()["requests"] == 1
    assert info.value.status == 477
    assert info.value.retry_after == 3_600
    assert "477 Migration in Progress" in str(info.value)
    assert not _removed(sim)


def test_repeated_423s_stop_at_the_deadline(simulator_factory: Factory) -> None:
    """Every reply a 423: the attempts stop once the next wait would pass retry_total_timeout."""
    sim = _sim(simulator_factory, dict.fromkeys(range(1, 50), "423"))
    clock = Clock()
    start = clock.now
    client = _client(sim, clock, total_timeout_s=7.0, max_attempts=20)
    with client, pytest.raises(HubSpotTryLaterError) as info:
        client.archive_associations("contacts", "companies", PAIRS)
    assert info.value.status == 423
    assert clock.now - start <= 7.0
    assert sim.counters()["requests"] == len(clock.slept) + 1 == 4  # waits of 2 s: three fit in 7 s


@pytest.mark.parametrize("status", ["521", "522", "524"])
def test_a_cdn_page_is_named_not_quoted(simulator_factory: Factory, status: str) -> None:
    """The CDN answers with an HTML page: the error names what the status means instead."""
    sim = _sim(simulator_factory, dict.fromkeys(range(1, 10), status))
    clock = Clock()
    with _client(sim, clock, max_attempts=2) as client, pytest.raises(HubSpotServerError) as info:
        client.archive_associations("contacts", "companies", PAIRS)
    message = str(info.value)
    assert "HubSpot's CDN" in message
    assert f"({status})" in message
    assert "<html" not in message.lower()
    assert info.value.retryable
    assert info.value.may_have_applied
