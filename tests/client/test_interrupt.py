"""Issue 23 item 9: every wait honours the stop signal and the call's deadline.

`HubSpotClient.interrupt(reason)` ends a wait in the client's own window, in the account budget
(machine-local or Redis) or in tenacity's back-off within about 0.1 s, with HubSpotInterruptedError;
no wait runs past `retry_total_timeout`; a window learnt from headers is bounded. Against the real
simulator over HTTP, on the real clock (these are waits, so they are timed).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.auth import StaticTokenProvider
from airflow_provider_hubassoc.client.errors import HubSpotInterruptedError, HubSpotRateLimitError
from airflow_provider_hubassoc.client.governor import RateGovernor
from airflow_provider_hubassoc.client.local_budget import LocalRateBudget
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.client.shared_budget import SharedRateBudget
from hubassoc_simulator import DEFAULT_TOKEN, FaultPlan, Simulator, SimulatorConfig, SimulatorState
from tests.support.client_doubles import pairs
from tests.support.servers import RedisServer

Factory = Callable[..., Simulator]
STOP_AFTER_S = 0.3
PROMPT_S = 0.15  # "within about 0.1 s" of the interrupt, on a busy machine


def _sim(factory: Factory, **faults: Any) -> Simulator:
    state = SimulatorState()
    state.add_association("contacts", 1, "companies", 2)
    state.add_association("contacts", 1, "companies", 3)
    return factory(SimulatorConfig(faults=FaultPlan(**faults)), state)


def _client(sim: Simulator, governor: RateGovernor, **retry: Any) -> HubSpotClient:
    policy = RetryPolicy(**({"total_timeout_s": 120.0} | retry))
    return HubSpotClient(
        sim.url, token_provider=StaticTokenProvider(DEFAULT_TOKEN), governor=governor, retry=policy
    )


def _archive_interrupted(client: HubSpotClient) -> tuple[BaseException | None, float]:
    """Archive on a thread, interrupt the client after STOP_AFTER_S; return what the call raised and
    how long after the interrupt it returned."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            client.archive_associations("contacts", "companies", pairs())
        except BaseException as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(STOP_AFTER_S)
    interrupted = time.monotonic()
    client.interrupt("on_kill: the task was killed")
    thread.join(timeout=30)
    assert not thread.is_alive(), "the call did not return after interrupt()"
    return outcome.get("error"), outcome["ended"] - interrupted


def _assert_stopped_promptly(error: BaseException | None, after_s: float) -> None:
    assert isinstance(error, HubSpotInterruptedError), error
    assert "stopped" in str(error)
    assert "on_kill" in str(error)
    assert not error.retryable
    assert not error.fatal
    assert after_s < PROMPT_S, f"returned {after_s:.2f} s after interrupt()"


def test_interrupt_ends_a_wait_in_the_clients_own_window(simulator_factory: Factory) -> None:
    sim = _sim(simulator_factory)
    governor = RateGovernor(100, 10.0)
    governor.pause(60)  # a server error's back-off, this client's own
    with _client(sim, governor) as client:
        _assert_stopped_promptly(*_archive_interrupted(client))
    assert sim.counters()["requests"] == 0


def test_interrupt_ends_a_wait_on_a_paused_machine_budget(simulator_factory: Factory, tmp_path: Path) -> None:
    sim = _sim(simulator_factory)
    LocalRateBudget(tmp_path, "acct").open().pause(60)  # another task's 429
    governor = RateGovernor(100, 10.0, shared=LocalRateBudget(tmp_path, "acct").open())
    with _client(sim, governor) as client:
        _assert_stopped_promptly(*_archive_interrupted(client))
    assert sim.counters()["requests"] == 0


def test_interrupt_ends_a_wait_on_a_paused_redis_budget(
    simulator_factory: Factory, redis_server: RedisServer
) -> None:
    """As seen: a task waiting on a paused shared budget returned 42 s after on_kill."""
    sim = _sim(simulator_factory)
    account = f"stop-{uuid.uuid4().hex[:8]}"
    SharedRateBudget(redis_server.client(), account, store_name="r").pause(60)
    shared = SharedRateBudget(redis_server.client(), account, store_name="r")
    with _client(sim, RateGovernor(100, 10.0, shared=shared)) as client:
        _assert_stopped_promptly(*_archive_interrupted(client))


def test_interrupt_ends_tenacitys_back_off(simulator_factory: Factory) -> None:
    sim = _sim(simulator_factory, error_rate=1.0, error_statuses=(503,))
    governor = RateGovernor(100, 10.0)
    with _client(sim, governor, initial_backoff_s=30.0, max_backoff_s=30.0, jitter=False) as client:
        _assert_stopped_promptly(*_archive_interrupted(client))
    assert sim.counters()["requests"] == 1  # the first attempt; its retry never went


def test_an_interrupted_client_sends_nothing_more(simulator_factory: Factory) -> None:
    sim = _sim(simulator_factory)
    with _client(sim, RateGovernor(100, 10.0)) as client:
        client.interrupt("the run was stopped by its StopSignal")
        with pytest.raises(HubSpotInterruptedError):
            client.archive_associations("contacts", "companies", pairs())
    assert sim.counters()["requests"] == 0
    assert sim.state.association_count() == 2


def test_no_wait_runs_past_the_calls_deadline(simulator_factory: Factory, tmp_path: Path) -> None:
    """A budget paused for 30 s and a 2 s retry_total_timeout: the typed rate-limit error at once."""
    sim = _sim(simulator_factory)
    LocalRateBudget(tmp_path, "acct").open().pause(30)
    governor = RateGovernor(100, 10.0, shared=LocalRateBudget(tmp_path, "acct").open())
    started = time.monotonic()
    with (
        _client(sim, governor, total_timeout_s=2.0) as client,
        pytest.raises(HubSpotRateLimitError) as caught,
    ):
        client.archive_associations("contacts", "companies", pairs())
    assert time.monotonic() - started < 1.0
    assert "deadline" in str(caught.value)
    assert sim.counters()["requests"] == 0


def test_the_clients_own_window_is_bounded_by_the_deadline_too(simulator_factory: Factory) -> None:
    sim = _sim(simulator_factory)
    governor = RateGovernor(1, 10.0)
    with _client(sim, governor, total_timeout_s=3.0) as client:
        client.archive_associations("contacts", "companies", pairs())  # the window's one request
        started = time.monotonic()
        with pytest.raises(HubSpotRateLimitError, match="deadline"):
            client.archive_associations("contacts", "companies", pairs())
    assert time.monotonic() - started < 1.0


def test_a_window_learnt_from_headers_is_bounded() -> None:
    """As seen: Max 1 and Interval-Milliseconds 600000 made the governor wait 10 minutes."""
    governor = RateGovernor(100, 10.0)
    governor.observe({"X-HubSpot-RateLimit-Max": "1", "X-HubSpot-RateLimit-Interval-Milliseconds": "600000"})
    assert governor.interval_s == 10.0  # not believed: no HubSpot window is that long
    with governor.slot():
        pass
    assert governor._delay(time.monotonic()) <= 10.0
    governor.observe({"X-HubSpot-RateLimit-Interval-Milliseconds": "1000"})  # a plausible one is
    assert governor.interval_s == 1.0
