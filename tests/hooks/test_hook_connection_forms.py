"""The connection forms the README documents resolve to the settings they promise."""

from __future__ import annotations

import urllib.parse

import pytest

from airflow_provider_hubassoc.client.versions import ApiVersion
from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

TOKEN = "pat-na1-0000-uri-form-token"


def test_uri_form_with_extras_in_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = (
        f"hubspot://:{urllib.parse.quote(TOKEN, safe='')}@api.hubapi.com"
        "?api_version=2026-09&rate_limit_tier=professional"
    )
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", uri)
    hook = HubSpotHook()
    client = hook.get_conn()
    assert client.api_version is ApiVersion.V2026_09
    assert client.governor.limit == 190
    assert client.base_url == "https://api.hubapi.com"
    assert TOKEN not in repr(hook)
    assert TOKEN not in repr(client)


def test_uri_form_pointing_at_a_loopback_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    base = urllib.parse.quote("http://127.0.0.1:8080", safe="")
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", f"hubspot://:{TOKEN}@?base_url={base}")
    assert HubSpotHook().get_conn().base_url == "http://127.0.0.1:8080"
