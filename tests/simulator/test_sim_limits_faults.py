"""Rate limits (rolling window and daily) and every injected fault kind."""

from __future__ import annotations

import json
import time

import pytest
import requests

from hubassoc_simulator import FaultPlan, Simulator, SimulatorConfig, SimulatorState
from tests.support.sim_client import SimClient

RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)


def state() -> SimulatorState:
    return SimulatorState.generate(records=20, associations=40, seed=3)


def test_rate_headers_count_down(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(rate_limit=5, rate_interval_ms=500, daily_limit=50), state())
    client = SimClient(sim)
    first, second = client.labels(), client.read(["1"])
    for header in RATE_HEADERS:
        assert header in first.headers
    assert first.headers["X-HubSpot-RateLimit-Max"] == "5"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "500"
    assert (
        first.headers["X-HubSpot-RateLimit-Remaining"],
        second.headers["X-HubSpot-RateLimit-Remaining"],
    ) == (
        "4",
        "3",
    )
    assert second.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "48"


@pytest.mark.parametrize("retry_after", [True, False])
def test_ten_secondly_429(simulator_factory, retry_after: bool) -> None:
    config = SimulatorConfig(rate_limit=3, rate_interval_ms=500, retry_after=retry_after)
    sim = simulator_factory(config, state())
    client = SimClient(sim)
    codes = [client.labels().status_code for _ in range(3)]
    limited = client.archive([("1", ["1000001"])])
    assert codes == [200, 200, 200]
    assert limited.status_code == 429
    body = limited.json()
    assert body["errorType"] == "RATE_LIMIT"
    assert body["category"] == "RATE_LIMITS", "the published Error shape requires a category"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["status"] == "error"
    assert body["correlationId"]
    assert ("Retry-After" in limited.headers) is retry_after
    if retry_after:
        assert limited.headers["Retry-After"] == "1"
    assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert sim.counters()["rate_limited"] == 1
    time.sleep(0.55)
    assert client.labels().status_code == 200, "the rolling window frees up"


def test_daily_429(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(rate_limit=100, daily_limit=2), state())
    client = SimClient(sim)
    assert [client.labels().status_code for _ in range(2)] == [200, 200]
    limited = client.labels()
    assert limited.status_code == 429
    assert limited.json()["policyName"] == "DAILY"
    assert 0 < int(limited.headers["Retry-After"]) <= 86_400
    assert limited.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_limits_are_per_token(simulator_factory) -> None:
    from hubassoc_simulator import TokenSpec

    sim = simulator_factory(SimulatorConfig(rate_limit=1, rate_interval_ms=500), state())
    sim.add_token("pat-other", TokenSpec())
    assert SimClient(sim).labels().status_code == 200
    assert SimClient(sim).labels().status_code == 429
    assert SimClient(sim, token="pat-other").labels().status_code == 200


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_scheduled_5xx_leaves_state_alone(simulator_factory, status: str) -> None:
    sim = simulator_factory(SimulatorConfig(faults=FaultPlan(schedule={2: status})), state())
    client = SimClient(sim)
    before = sim.state.association_count()
    pair = next(iter(sim.state.edges("contacts", "companies")))
    assert client.labels().status_code == 200
    failed = client.archive([(pair[0], [pair[1]])])
    assert failed.status_code == int(status)
    assert failed.json()["status"] == "error"
    assert sim.state.association_count() == before
    assert client.archive([(pair[0], [pair[1]])]).status_code == 200
    assert sim.state.association_count() == before - 1
    assert sim.counters()["by_status"][status] == 1


def test_commit_on_error_applies_then_fails(simulator_factory) -> None:
    plan = FaultPlan(schedule={1: "503"}, commit_on_error=True)
    sim = simulator_factory(SimulatorConfig(faults=plan), state())
    pair = next(iter(sim.state.edges("contacts", "companies")))
    assert SimClient(sim).archive([(pair[0], [pair[1]])]).status_code == 503
    assert not sim.state.has_association("contacts", pair[0], "companies", pair[1])


def _codes(sim: Simulator, n: int) -> list[int]:
    client = SimClient(sim)
    return [client.labels().status_code for _ in range(n)]


def test_error_rate_is_seeded(simulator_factory) -> None:
    config = SimulatorConfig(rate_limit=1000, seed=42, faults=FaultPlan(error_rate=0.3))
    first = _codes(simulator_factory(config, state()), 60)
    second = _codes(simulator_factory(config, state()), 60)
    assert first == second
    errors = [c for c in first if c != 200]
    assert 5 <= len(errors) <= 35
    assert set(errors) <= {500, 502, 503, 504}
    other = _codes(
        simulator_factory(
            SimulatorConfig(rate_limit=1000, seed=7, faults=FaultPlan(error_rate=0.3)), state()
        ),
        60,
    )
    assert other != first


def test_reset_closes_without_reply(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(faults=FaultPlan(schedule={1: "reset"})), state())
    client = SimClient(sim)
    with pytest.raises(requests.ConnectionError):
        client.labels()
    assert client.labels().status_code == 200
    assert sim.counters()["by_status"]["reset"] == 1
    assert sim.request_log[0].status == 0


def test_reset_by_probability(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(faults=FaultPlan(reset_rate=1.0)), state())
    with pytest.raises(requests.ConnectionError):
        SimClient(sim).read(["1"])


def test_slow_reply_outlasts_client_timeout(simulator_factory) -> None:
    plan = FaultPlan(schedule={1: "slow"}, slow_seconds=1.0)
    sim = simulator_factory(SimulatorConfig(faults=plan), state())
    client = SimClient(sim)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        client.labels(timeout=0.3)
    assert time.monotonic() - started < 0.95, "the client gave up before the reply came"
    assert SimClient(sim).labels(timeout=2).status_code == 200


def test_slow_by_probability_still_answers(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(faults=FaultPlan(slow_rate=1.0, slow_seconds=0.3)), state())
    started = time.monotonic()
    assert SimClient(sim).labels(timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("how", ["schedule", "rate"])
def test_malformed_json(simulator_factory, how: str) -> None:
    plan = FaultPlan(schedule={1: "malformed"}) if how == "schedule" else FaultPlan(malformed_rate=1.0)
    sim = simulator_factory(SimulatorConfig(faults=plan), state())
    response = SimClient(sim).read(["1"])
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_scheduled_429s(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(faults=FaultPlan(schedule={1: "429", 2: "429-daily"})), state())
    client = SimClient(sim)
    first, second = client.labels(), client.labels()
    assert (first.status_code, first.json()["policyName"]) == (429, "TEN_SECONDLY_ROLLING")
    assert (second.status_code, second.json()["policyName"]) == (429, "DAILY")
    assert "Retry-After" in first.headers


def test_latency_and_endpoint_filter(simulator_factory) -> None:
    plan = FaultPlan(latency_ms=150, jitter_ms=20, endpoints=frozenset({"batch_read"}))
    sim = simulator_factory(SimulatorConfig(faults=plan), state())
    client = SimClient(sim)
    started = time.monotonic()
    client.labels()
    fast = time.monotonic() - started
    started = time.monotonic()
    client.read(["1"])
    slow = time.monotonic() - started
    assert slow >= 0.15
    assert fast < slow - 0.05, "latency applies only to the endpoints in the plan"


def test_faults_change_mid_run_and_numbering_restarts(simulator_factory) -> None:
    sim = simulator_factory(None, state())
    client = SimClient(sim)
    assert client.labels().status_code == 200
    sim.configure(faults=FaultPlan(schedule={1: "502"}))
    assert client.labels().status_code == 200, "request 2 since start"
    sim.reset_counters()
    assert client.labels().status_code == 502
    sim.configure(faults=FaultPlan())
    assert client.labels().status_code == 200
