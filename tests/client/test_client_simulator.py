"""End to end against the local simulator: real HTTP, real state, real rate limits and OAuth."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.auth import OAuthTokenProvider, StaticTokenProvider
from airflow_provider_hubassoc.client.errors import HubSpotDailyLimitError, HubSpotMissingScopesError
from airflow_provider_hubassoc.client.governor import RateGovernor
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.models.associations import AssociationCategory
from hubassoc_simulator import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TOKEN,
    FaultPlan,
    Simulator,
    SimulatorConfig,
    SimulatorState,
    TokenSpec,
)
from tests.support.client_doubles import label_pair, pairs

Factory = Callable[..., Simulator]


def _state() -> SimulatorState:
    state = SimulatorState()
    for company in range(101, 106):
        state.add_association("contacts", 1, "companies", company)
    state.define_label("contacts", "companies", "USER_DEFINED", 36, "Decision maker")
    state.add_association("contacts", 2, "companies", 201, [("HUBSPOT_DEFINED", 279), ("USER_DEFINED", 36)])
    return state


def _client(sim: Simulator, **kwargs: Any) -> HubSpotClient:
    kwargs.setdefault("token_provider", StaticTokenProvider(DEFAULT_TOKEN))
    kwargs.setdefault("retry", RetryPolicy(initial_backoff_s=0.05, max_backoff_s=0.2, total_timeout_s=20))
    return HubSpotClient(sim.url, **kwargs)


@pytest.mark.parametrize("reply_mode", ["204", "200", None])
@pytest.mark.parametrize("version", ["2025-09", "2026-03", "2026-09", "v4"])
def test_archive_removes_the_pairs(simulator_factory: Factory, reply_mode: str | None, version: str) -> None:
    """Every version, with its default reply (None) and each flipped variant HubSpot has sent."""
    sim = simulator_factory(SimulatorConfig(reply_mode=reply_mode), _state())  # type: ignore[arg-type]
    with _client(sim, api_version=version) as client:
        result = client.archive_associations("contacts", "companies", pairs(("1", "101"), ("1", "102")))
        expected = reply_mode or ("204" if version == "v4" else "200")
        assert result.http_status == int(expected)
        assert (result.batch is None) == (expected == "204")
        if result.batch is not None:
            assert result.batch.errors == []
        assert not sim.state.has_association("contacts", "1", "companies", "101")
        assert not sim.state.has_association("contacts", "1", "companies", "102")
        assert sim.state.has_association("contacts", "1", "companies", "103")
        # Replaying the same batch is safe (the operations are idempotent).
        client.archive_associations("contacts", "companies", pairs(("1", "101")))


def test_labels_list_and_archive(simulator_factory: Factory) -> None:
    sim = simulator_factory(None, _state())
    with _client(sim) as client:
        labels = {
            (lab.category, lab.type_id): lab.label for lab in client.list_labels("contacts", "companies")
        }
        assert labels[(AssociationCategory.USER_DEFINED, 36)] == "Decision maker"
        assert (AssociationCategory.HUBSPOT_DEFINED, 279) in labels
        client.archive_labels("contacts", "companies", [label_pair("2", "201")])
    assert sim.state.labels_of("contacts", "2", "companies", "201") == {("HUBSPOT_DEFINED", 279)}


def test_read_follows_the_simulator_paging(simulator_factory: Factory) -> None:
    sim = simulator_factory(SimulatorConfig(read_page_size=2), _state())
    with _client(sim) as client:
        result = client.read_associations("contacts", "companies", ["1", "2"])
    assert sorted(r.to_object_id for r in result.associations["1"]) == ["101", "102", "103", "104", "105"]
    assert [r.to_object_id for r in result.associations["2"]] == ["201"]
    assert sim.counters()["by_endpoint"]["batch_read"] >= 3


def test_oauth_refresh_after_expiry(simulator_factory: Factory) -> None:
    sim = simulator_factory(None, _state())
    seen: list[str] = []
    provider = OAuthTokenProvider(
        DEFAULT_OAUTH_CLIENT_ID,
        DEFAULT_OAUTH_CLIENT_SECRET,
        DEFAULT_REFRESH_TOKEN,
        f"{sim.url}/oauth/v1/token",
        on_new_token=seen.append,
    )
    with _client(sim, token_provider=provider) as client:
        client.list_labels("contacts", "companies")
        first = provider.get_token()
        sim.expire_token(first)
        client.list_labels("contacts", "companies")
        assert provider.get_token() != first
    assert first in seen
    assert sim.counters()["by_endpoint"]["oauth_token"] == 2  # the first token, then one refresh


def test_missing_scopes_are_named(simulator_factory: Factory) -> None:
    sim = simulator_factory(None, _state())
    sim.add_token("pat-read-only-1234", TokenSpec(scopes=frozenset({"crm.objects.contacts.read"})))
    with (
        _client(sim, token_provider=StaticTokenProvider("pat-read-only-1234")) as client,
        pytest.raises(HubSpotMissingScopesError) as caught,
    ):
        client.archive_associations("contacts", "companies", pairs(("1", "101")))
    assert caught.value.required_scopes
    assert sim.counters()["requests"] == 1


def _burst(client: HubSpotClient, threads: int = 12) -> list[BaseException]:
    inputs = pairs(("1", "101"))
    failures: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        try:
            client.archive_associations("contacts", "companies", inputs)
        except Exception as exc:  # pragma: no cover - asserted empty below
            failures.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=30)
    return failures


@pytest.mark.parametrize("retry_after", [True, False])
def test_429_is_retried_until_done(simulator_factory: Factory, retry_after: bool) -> None:
    # Without Retry-After the client falls back to the interval header and pauses every thread.
    config = SimulatorConfig(
        rate_interval_ms=300, retry_after=retry_after, faults=FaultPlan(schedule={1: "429", 3: "429"})
    )
    sim = simulator_factory(config, _state())
    governor = RateGovernor(100, 10.0)
    paused: list[float] = []
    original = governor.pause
    governor.pause = lambda s, **kw: (paused.append(s), original(s, **kw))[1]  # type: ignore[method-assign]
    with _client(sim, governor=governor) as client:
        assert _burst(client, threads=4) == []
    counters = sim.counters()
    assert counters["rate_limited"] == 2
    assert counters["requests"] == 6  # four calls, two retries
    assert counters["by_status"] == {"429": 2, "200": 4}
    assert len(paused) >= 2  # each retry paused every thread first
    assert not sim.state.has_association("contacts", "1", "companies", "101")


def test_governor_keeps_a_burst_under_the_limit(simulator_factory: Factory) -> None:
    sim = simulator_factory(SimulatorConfig(rate_limit=5, rate_interval_ms=400), _state())
    started = time.monotonic()
    with _client(sim, governor=RateGovernor(5, 0.4)) as governed:
        assert _burst(governed) == []
    # 12 requests at 5 per 0.4 s: the last five wait for two windows to roll.
    assert time.monotonic() - started >= 0.8 * 0.95
    assert sim.counters()["rate_limited"] == 0
    assert sim.counters()["requests"] == 12


def test_daily_limit_is_one_request(simulator_factory: Factory) -> None:
    sim = simulator_factory(SimulatorConfig(daily_limit=0), _state())
    with _client(sim) as client, pytest.raises(HubSpotDailyLimitError):
        client.list_labels("contacts", "companies")
    assert sim.counters()["requests"] == 1


def test_test_connection_against_the_simulator(simulator_factory: Factory) -> None:
    sim = simulator_factory(None, _state())
    with _client(sim) as client:
        ok, message = client.test_connection()
    assert ok, message
    assert "2026-03" in message
    with _client(sim, token_provider=StaticTokenProvider("pat-wrong-token-1")) as client:
        ok, message = client.test_connection()
    assert not ok
    assert "pat-wrong-token-1" not in message
