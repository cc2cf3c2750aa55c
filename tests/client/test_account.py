"""Which account a token belongs to (`HubSpotClient.account`), against the simulator's
account-details endpoints: the dated page, the legacy `/integrations/v1/me`, and a refusal."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.auth import StaticTokenProvider
from airflow_provider_hubassoc.client.errors import HubSpotAuthError
from airflow_provider_hubassoc.models.account import Account
from hubassoc_simulator import DEFAULT_TOKEN, Simulator, SimulatorConfig

MakeSim = Callable[..., Simulator]


def client_for(sim: Simulator, version: str = "2026-03", token: str = DEFAULT_TOKEN) -> HubSpotClient:
    return HubSpotClient(sim.url, token_provider=StaticTokenProvider(token), api_version=version)


@pytest.mark.parametrize("version", ["2025-09", "2026-03", "2026-09", "v4"])
def test_the_account_is_read_from_the_account_details_page(simulator_factory: MakeSim, version: str) -> None:
    sim = simulator_factory(SimulatorConfig(portal_id=4242))
    assert client_for(sim, version).account() == Account(4242)
    dated = "v3" if version == "v4" else version
    assert [r.path for r in sim.request_log] == [f"/account-info/{dated}/details"]


def test_a_refused_account_page_is_an_unknown_account_not_a_failed_run(simulator_factory: MakeSim) -> None:
    sim = simulator_factory(SimulatorConfig(account_info_forbidden=True))
    account = client_for(sim).account()
    assert not account.known
    assert "HubSpotMissingScopesError" in (account.unknown_because or "")
    assert "/integrations/v1/me" in (account.unknown_because or "")  # the legacy page was tried too
    assert DEFAULT_TOKEN not in repr(account)


def test_a_refused_token_fails_at_once(simulator_factory: MakeSim) -> None:
    sim = simulator_factory(SimulatorConfig())
    with pytest.raises(HubSpotAuthError):
        client_for(sim, token="pat-not-a-token").account()


def test_an_account_round_trips_through_a_report_header() -> None:
    assert Account.from_json(Account(7).to_json()) == Account(7)
    assert not Account.from_json(None).known  # a report written before accounts were recorded
    assert not Account.from_json({"portalId": True}).known
    unknown = Account.from_json(Account(None, "403").to_json())
    assert (unknown.portal_id, unknown.unknown_because) == (None, "403")
