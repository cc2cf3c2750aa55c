"""HubSpotHook: connection mapping from AIRFLOW_CONN_* variables, precedence, secrets, the client."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_hubassoc import UI_FIELD_BEHAVIOUR
from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.auth import OAuthTokenProvider, StaticTokenProvider
from airflow_provider_hubassoc.client.errors import HubSpotConfigError
from airflow_provider_hubassoc.client.versions import ApiVersion
from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook
from tests.support.client_doubles import label_pair, pairs

TOKEN = "pat-na1-hook-SECRET-TOKEN-777"
CLIENT_SECRET = "hook-client-secret-888"
REFRESH = "hook-refresh-token-999"
LABELS_URL = "https://api.hubapi.com/crm/associations/2026-03/contacts/companies/labels"


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "hubspot_default", **fields: Any) -> None:
    conn = {"conn_type": "hubspot", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def record_masking(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record what reaches Airflow's masker: through common-compat (the hook) and where each
    Airflow version's Connection calls it (3.x: airflow.sdk.log; 2.11: airflow.models.connection)."""
    masked: list[object] = []

    def record(value: object, name: str | None = None) -> None:
        masked.append(value)

    monkeypatch.setattr("airflow.providers.common.compat.sdk.mask_secret", record, raising=False)
    for target in ("airflow.sdk.log.mask_secret", "airflow.models.connection.mask_secret"):
        try:
            monkeypatch.setattr(target, record)
        except (ImportError, AttributeError):
            continue
    return masked


def _provider(client: HubSpotClient) -> Any:
    return client._tokens


def test_hook_metadata() -> None:
    assert HubSpotHook.conn_name_attr == "hubspot_conn_id"
    assert HubSpotHook.default_conn_name == "hubspot_default"
    assert HubSpotHook.conn_type == "hubspot"
    assert HubSpotHook.hook_name == "HubSpot"
    assert HubSpotHook.get_ui_field_behaviour() == UI_FIELD_BEHAVIOUR
    HubSpotHook.get_ui_field_behaviour()["hidden_fields"].append("x")  # a copy: the original stays
    assert "x" not in UI_FIELD_BEHAVIOUR["hidden_fields"]


def test_token_connection_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN)
    hook = HubSpotHook()
    client = hook.get_conn()
    assert client.base_url == "https://api.hubapi.com"
    assert client.api_version is ApiVersion.V2026_03
    assert hook.settings.api_version is ApiVersion.V2026_03
    assert client.max_batch_size == hook.settings.max_batch_size == 100
    assert client.governor.limit == 100  # free tier
    assert client.governor.interval_s == 10.0
    provider = _provider(client)
    assert isinstance(provider, StaticTokenProvider)
    assert provider.get_token() == TOKEN
    assert hook.get_conn() is client  # cached


def test_timeout_and_retry_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN)
    hook = HubSpotHook()
    client = hook.get_conn()
    assert (hook.settings.connect_timeout, hook.settings.read_timeout) == (10.0, 60.0)
    assert client._attempt_timeout == 70.0  # a whole attempt, reply included
    assert client._retry.max_attempts == 6
    assert client._retry.total_timeout_s == 300.0


def test_every_extra_is_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch,
        "hs_custom",
        host="eu1.api.hubapi.com",
        password=TOKEN,
        extra={
            "api_version": "2026-09",
            "rate_limit_tier": "professional",
            "rate_limit_interval_ms": "5000",
            "max_batch_size": "50",
            "connect_timeout": 3,
            "read_timeout": "20.5",
            "max_retries": 2,
            "retry_total_timeout": 60,
        },
    )
    hook = HubSpotHook("hs_custom")
    client = hook.get_conn()
    assert client.base_url == "https://eu1.api.hubapi.com"
    assert client.api_version is ApiVersion.V2026_09
    assert client.governor.limit == 190
    assert client.governor.interval_s == 5.0
    assert client.max_batch_size == 50
    assert (hook.settings.connect_timeout, hook.settings.read_timeout) == (3.0, 20.5)
    assert client._retry.max_attempts == 3
    assert client._retry.total_timeout_s == 60.0


def test_prefixed_extras_and_base_url_override(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch,
        host="https://ignored.example",
        password=TOKEN,
        extra={
            "extra__hubspot__base_url": "http://127.0.0.1:8099/",
            "extra__hubspot__api_version": "v4",
            "extra__hubspot__rate_limit": "42",
            "extra__hubspot__rate_limit_tier": "enterprise",
        },
    )
    client = HubSpotHook().get_conn()
    assert client.base_url == "http://127.0.0.1:8099"
    assert client.api_version is ApiVersion.V4
    assert client.governor.limit == 42  # rate_limit overrides the tier


@pytest.mark.parametrize(("tier", "limit"), [("starter", 100), ("limit_increase", 250), ("oauth", 110)])
@pytest.mark.parametrize(("share", "factor"), [(None, 1.0), (0.5, 0.5), (0.1, 0.1)])
def test_tiers_and_share(
    monkeypatch: pytest.MonkeyPatch, tier: str, limit: int, share: float | None, factor: float
) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"rate_limit_tier": tier})
    client = HubSpotHook(rate_limit_share=share).get_conn()
    assert client.governor.limit == int(limit * factor)


@pytest.mark.parametrize("share", [0, -0.5, 1.01])
def test_bad_share_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, share: float
) -> None:
    set_conn(monkeypatch, password=TOKEN)
    with pytest.raises(HubSpotConfigError, match="rate_limit_share"):
        HubSpotHook(rate_limit_share=share).get_conn()
    assert requests_mock.call_count == 0


def test_api_version_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"api_version": "2025-09"})
    assert HubSpotHook().get_conn().api_version is ApiVersion.V2025_09
    assert HubSpotHook(api_version="v4").settings.api_version is ApiVersion.V4
    assert HubSpotHook(api_version="v4").get_conn().api_version is ApiVersion.V4
    set_conn(monkeypatch, password=TOKEN)
    assert HubSpotHook().get_conn().api_version is ApiVersion.V2026_03


def test_bad_version_argument_refused_at_once() -> None:
    with pytest.raises(HubSpotConfigError, match="2025-09, 2026-03, 2026-09, v4"):
        HubSpotHook(api_version="2023-01")


def test_bad_version_extra_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"api_version": "v3"})
    hook = HubSpotHook()
    with pytest.raises(HubSpotConfigError, match="2025-09, 2026-03, 2026-09, v4"):
        _ = hook.settings
    with pytest.raises(HubSpotConfigError):
        hook.get_conn()
    ok, message = hook.test_connection()
    assert not ok
    assert "v3" in message
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"max_batch_size": "many"}, "max_batch_size"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"rate_limit": 2.5}, "rate_limit"),
        ({"read_timeout": "nan"}, "read_timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"read_timeout": 1e308}, "read_timeout"),
        ({"read_timeout": "1e309"}, "read_timeout"),
        ({"connect_timeout": 10**400}, "connect_timeout"),
        ({"retry_total_timeout": 10**9}, "retry_total_timeout"),
        ({"max_retries": 10**6}, "max_retries"),
        ({"rate_limit_interval_ms": True}, "rate_limit_interval_ms"),
    ],
)
def test_bad_numeric_extras_name_the_key(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], key: str
) -> None:
    set_conn(monkeypatch, password=TOKEN, extra=extra)
    with pytest.raises(HubSpotConfigError, match=key) as caught:
        HubSpotHook().get_conn()
    assert len(str(caught.value)) < 300


def test_unknown_tier_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"rate_limit_tier": "gold"})
    with pytest.raises(HubSpotConfigError, match="gold"):
        HubSpotHook().get_conn()


def test_plain_http_to_a_remote_host_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://api.hubapi.com", password=TOKEN)
    with pytest.raises(HubSpotConfigError, match="plain HTTP"):
        HubSpotHook().get_conn()
    ok, message = HubSpotHook().test_connection()
    assert not ok
    assert "plain HTTP" in message
    assert TOKEN not in message


def test_oauth_connection(monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker) -> None:
    masked = record_masking(monkeypatch)
    set_conn(
        monkeypatch,
        host="https://api.hubapi.com",
        extra={"client_id": "cid-1", "client_secret": CLIENT_SECRET, "refresh_token": REFRESH},
    )
    requests_mock.post(
        "https://api.hubapi.com/oauth/v1/token",
        json={"access_token": "oauth-access-123456", "expires_in": 1800},
    )
    requests_mock.get(LABELS_URL, json={"results": []})
    hook = HubSpotHook()
    client = hook.get_conn()
    assert isinstance(_provider(client), OAuthTokenProvider)
    assert client.governor.limit == 110  # OAuth apps default to the oauth tier
    assert client.list_labels("contacts", "companies") == []
    assert requests_mock.last_request.headers["Authorization"] == "Bearer oauth-access-123456"
    assert "oauth-access-123456" in masked
    assert CLIENT_SECRET in masked
    assert REFRESH in masked


def test_partial_oauth_names_what_is_missing_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"client_id": "cid", "client_secret": CLIENT_SECRET})
    with pytest.raises(HubSpotConfigError, match="refresh_token") as caught:
        HubSpotHook().get_conn()
    assert CLIENT_SECRET not in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_no_credentials_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="https://api.hubapi.com")
    with pytest.raises(HubSpotConfigError, match="no access token"):
        HubSpotHook().get_conn()


def test_test_connection_ok(monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker) -> None:
    set_conn(monkeypatch, password=TOKEN)
    requests_mock.get(
        LABELS_URL, json={"results": [{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}]}
    )
    ok, message = HubSpotHook().test_connection()
    assert ok
    assert message.startswith("OK")
    assert "2026-03" in message
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"category": "INVALID_AUTHENTICATION", "message": f"bad token {TOKEN}"}, "refused the token"),
        (
            403,
            {
                "category": "MISSING_SCOPES",
                "message": "scopes",
                "errors": [{"message": "m", "context": {"requiredScopes": ["crm.objects.contacts.read"]}}],
            },
            "crm.objects.contacts.read",
        ),
        (404, {"category": "OBJECT_NOT_FOUND", "message": "no such version"}, "no such version"),
    ],
)
def test_test_connection_failing(
    monkeypatch: pytest.MonkeyPatch,
    requests_mock: rm.Mocker,
    status: int,
    body: dict[str, Any],
    expected: str,
) -> None:
    set_conn(monkeypatch, password=TOKEN)
    requests_mock.get(LABELS_URL, status_code=status, json=body)
    ok, message = HubSpotHook().test_connection()
    assert not ok
    assert expected in message
    assert TOKEN not in message
    assert requests_mock.call_count == 1


def test_test_connection_unreachable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://127.0.0.1:1", password=TOKEN, extra={"connect_timeout": 2})
    ok, message = HubSpotHook().test_connection()
    assert not ok
    assert "ConnectionError" in message
    assert TOKEN not in message


def test_test_connection_on_a_busy_account_says_busy(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    """A ten-secondly 429 longer than the test's few seconds is "busy, try again", not a failure."""
    set_conn(monkeypatch, password=TOKEN)
    body = {"status": "error", "message": "slow down", "policyName": "TEN_SECONDLY_ROLLING"}
    requests_mock.get(LABELS_URL, status_code=429, json=body, headers={"Retry-After": "30"})
    ok, message = HubSpotHook().test_connection()
    assert not ok
    assert message.startswith("HubSpot is busy, try again")
    assert "TEN_SECONDLY_ROLLING" in message
    assert "failed" not in message
    assert requests_mock.call_count == 1  # 30 s is past the bound: no wait at all


def test_test_connection_waits_out_a_short_429(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    set_conn(monkeypatch, password=TOKEN)
    body = {"status": "error", "message": "slow down", "policyName": "TEN_SECONDLY_ROLLING"}
    requests_mock.get(
        LABELS_URL,
        [{"status_code": 429, "json": body, "headers": {"Retry-After": "0"}}, {"json": {"results": []}}],
    )
    ok, message = HubSpotHook().test_connection()
    assert ok, message
    assert requests_mock.call_count == 2


def test_test_connection_unknown_connection() -> None:
    ok, message = HubSpotHook("no_such_conn_here").test_connection()
    assert not ok
    assert "no_such_conn_here" in message


def test_repr_and_logs_hide_secrets(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    set_conn(monkeypatch, password=TOKEN)
    requests_mock.get(LABELS_URL, json={"results": []})
    hook = HubSpotHook(api_version="2026-09", rate_limit_share=0.5)
    hook.test_connection()
    text = repr(hook) + str(hook) + repr(hook.settings) + repr(hook.get_conn()) + caplog.text
    assert TOKEN not in text
    assert "hubspot_default" in repr(hook)
    assert "2026-09" in repr(hook)


def test_the_client_carries_every_api_method(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    """No forwarding layer: the hook builds the client, callers use `hook.get_conn().<method>`."""
    set_conn(monkeypatch, password=TOKEN)
    base = "https://api.hubapi.com/crm/associations/2026-03/contacts/companies"
    requests_mock.post(f"{base}/batch/archive", status_code=204)
    requests_mock.post(f"{base}/batch/labels/archive", status_code=204)
    requests_mock.post(f"{base}/batch/read", json={"status": "COMPLETE", "results": []})
    requests_mock.get(f"{base}/labels", json={"results": []})
    hook = HubSpotHook()
    for name in (
        "archive_associations",
        "archive_labels",
        "list_labels",
        "read_associations",
        "client_stats",
    ):
        assert not hasattr(hook, name)
    client = hook.get_conn()
    assert client.archive_associations("contacts", "companies", pairs(("1", "2"))).http_status == 204
    assert client.archive_labels("contacts", "companies", [label_pair(type_id=3)]).http_status == 204
    assert client.read_associations("contacts", "companies", ["1"]).associations == {"1": []}
    assert client.list_labels("contacts", "companies") == []
    assert requests_mock.call_count == 4


def test_get_conn_builds_one_client_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN)
    hook = HubSpotHook()
    clients: list[HubSpotClient] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        clients.append(hook.get_conn())

    pool = [threading.Thread(target=worker) for _ in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=10)
    assert len(clients) == 8
    assert all(c is clients[0] for c in clients)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("http://127.0.0.1", 8099, "http://127.0.0.1:8099"),
        ("https://api.hubapi.com", 443, "https://api.hubapi.com:443"),
        ("api.hubapi.com", 443, "https://api.hubapi.com:443"),
        ("http://127.0.0.1:8099", 8099, "http://127.0.0.1:8099"),
    ],
)
def test_the_port_field_is_used(monkeypatch: pytest.MonkeyPatch, host: str, port: int, expected: str) -> None:
    set_conn(monkeypatch, host=host, port=port, password=TOKEN)
    assert HubSpotHook().get_conn().base_url == expected


def test_a_port_that_differs_from_the_urls_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://127.0.0.1:8099", port=9000, password=TOKEN)
    with pytest.raises(HubSpotConfigError, match="port 9000 differs from the port in the host URL"):
        HubSpotHook().get_conn()


def test_a_token_in_the_host_path_is_refused_and_never_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    set_conn(monkeypatch, host=f"http://127.0.0.1:8099/{TOKEN}", password="pat-other-1234567")
    ok, message = HubSpotHook().test_connection()
    assert not ok
    assert "path, query or fragment is refused" in message
    assert TOKEN not in message
    assert TOKEN not in caplog.text


def test_oauth_fields_without_a_tier_get_the_oauth_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    """The form leaves the tier empty (null) unless the user picks one: OAuth then means 110."""
    oauth = {"client_id": "cid-1", "client_secret": CLIENT_SECRET, "refresh_token": REFRESH}
    set_conn(monkeypatch, extra={**oauth, "rate_limit_tier": None})
    assert HubSpotHook().settings.rate_limit == 110
    set_conn(monkeypatch, extra={**oauth, "rate_limit_tier": ""})
    assert HubSpotHook().settings.rate_limit == 110
    set_conn(monkeypatch, extra={**oauth, "rate_limit_tier": "professional"})
    assert HubSpotHook().settings.rate_limit == 190  # a chosen tier wins


def test_only_real_secrets_go_to_the_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short extras ("v4", "free") handed to the masker make every task log warn "too short".

    In a task the connection arrives from the API server with its password and raw extra already
    masked; what the hook does with it afterwards is what this test watches.
    """
    from airflow.providers.common.compat.sdk import Connection

    extra = {"api_version": "v4", "rate_limit_tier": "free", "max_retries": 2}
    conn = Connection(conn_id="hubspot_default", conn_type="hubspot", password=TOKEN, extra=json.dumps(extra))
    monkeypatch.setattr(HubSpotHook, "get_connection", classmethod(lambda cls, conn_id: conn))
    masked = record_masking(monkeypatch)
    HubSpotHook().get_conn()
    assert masked == []


def test_connection_extra_that_is_not_an_object_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import Connection

    conn = Connection(conn_id="hubspot_default", conn_type="hubspot", password=TOKEN, extra="[1]")
    monkeypatch.setattr(HubSpotHook, "get_connection", classmethod(lambda cls, conn_id: conn))
    with pytest.raises(HubSpotConfigError, match="extra must be a JSON object"):
        HubSpotHook().get_conn()
