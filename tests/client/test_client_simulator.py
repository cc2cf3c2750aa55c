"""End to end against the local simulator: real HTTP, real state, real rate limits and OAuth."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_hubassoc.client import (
    HubSpotClient,
    HubSpotDailyLimitError,
    HubSpotMissingScopesError,
    OAuthTokenProvider,
    RateGovernor,
    RetryPolicy,
    StaticTokenProvider,
)
from airflow_provider_hubassoc.models import (
    AssociationCategory,
    AssociationType,
    BatchArchiveInput,
    LabelArchiveInput,
)
from airflow_provider_hubassoc.simulator import (
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


@pytest.mark.parametrize("reply_mode", ["204", "200"])
@pytest.mark.parametrize("version", ["2026-03", "v4"])
def test_archive_removes_the_pairs(simulator_factory: Factory, reply_mode: str, version: str) -> None:
    sim = simulator_factory(SimulatorConfig(reply_mode=reply_mode), _state())  # type: ignore[arg-type]
    with _client(sim, api_version=version) as client:
        result = client.archive_associations(
            "contacts", "companies", [BatchArchiveInput(from_id="1", to_ids=("101", "102"))]
        )
        assert result.http_status == int(reply_mode)
        assert result.errors == []
        assert not sim.state.has_association("contacts", "1", "companies", "101")
        assert not sim.state.has_association("contacts", "1", "companies", "102")
        assert sim.state.has_association("contacts", "1", "companies", "103")
        # Replaying the same batch is safe (the operations are idempotent).
        client.archive_associations(
            "contacts", "companies", [BatchArchiveInput(from_id="1", to_ids=("101",))]
        )


def test_labels_list_and_archive(simulator_factory: Factory) -> None:
    sim = simulator_factory(None, _state())
    with _client(sim) as client:
        labels = {
            (lab.category, lab.type_id): lab.label for lab in client.list_labels("contacts", "companies")
        }
        assert labels[(AssociationCategory.USER_DEFINED, 36)] == "Decision maker"
        assert (AssociationCategory.HUBSPOT_DEFINED, 279) in labels
        label = AssociationType(associationCategory=AssociationCategory.USER_DEFINED, associationTypeId=36)
        client.archive_labels(
            "contacts", "companies", [LabelArchiveInput(from_id="2", to_id="201", types=(label,))]
        )
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
        assert client.stats.auth_refreshes == 1
    assert first in seen
    assert provider.refreshes == 2


def test_missing_scopes_are_named(simulator_factory: Factory) -> None:
    sim = simulator_factory(None, _state())
    sim.add_token("pat-read-only-1234", TokenSpec(scopes=frozenset({"crm.objects.contacts.read"})))
    with (
        _client(sim, token_provider=StaticTokenProvider("pat-read-only-1234")) as client,
        pytest.raises(HubSpotMissingScopesError) as caught,
    ):
        client.archive_associations(
            "contacts", "companies", [BatchArchiveInput(from_id="1", to_ids=("101",))]
        )
    assert caught.value.required_scopes
    assert sim.counters()["requests"] == 1


def _burst(client: HubSpotClient, threads: int = 12) -> list[BaseException]:
    inputs = [BatchArchiveInput(from_id="1", to_ids=("101",))]
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
    with _client(sim, governor=RateGovernor(100, 10.0)) as client:
        assert _burst(client, threads=4) == []
        stats = client.stats
    assert stats.rate_limited == 2
    assert stats.retries == 2
    assert stats.by_status == {429: 2, 204: 4}
    assert stats.governor is not None
    assert stats.governor.pauses >= 1
    assert not sim.state.has_association("contacts", "1", "companies", "101")


def test_governor_keeps_a_burst_under_the_limit(simulator_factory: Factory) -> None:
    sim = simulator_factory(SimulatorConfig(rate_limit=5, rate_interval_ms=400), _state())
    with _client(sim, governor=RateGovernor(5, 0.4)) as governed:
        assert _burst(governed) == []
        stats = governed.stats
    assert stats.rate_limited == 0
    assert stats.governor is not None
    assert stats.governor.waits >= 7
    assert sim.counters()["rate_limited"] == 0


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
