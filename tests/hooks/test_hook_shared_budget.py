"""The hook builds the account's shared rate budget from the connection's extras: a Redis
connection by id, a PING before any request, and errors that name the connection and never its
password."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from airflow_provider_hubassoc.client.budget import RateBudget
from airflow_provider_hubassoc.client.errors import HubSpotConfigError, HubSpotRateStoreError
from airflow_provider_hubassoc.client.local_budget import LocalRateBudget
from airflow_provider_hubassoc.client.shared_budget import SharedRateBudget
from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook
from tests.support.servers import RedisServer, free_port

TOKEN = "pat-na1-budget-SECRET-TOKEN-515"


def set_hubspot(monkeypatch: pytest.MonkeyPatch, conn_id: str = "hubspot_default", **extra: Any) -> None:
    conn = {"conn_type": "hubspot", "host": "http://127.0.0.1:1", "password": TOKEN, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def set_redis(monkeypatch: pytest.MonkeyPatch, uri: str, conn_id: str = "rate_store") -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", uri)


def shared_of(hook: HubSpotHook) -> Any:
    """The client's account budget (a SharedRateBudget when Redis is named)."""
    shared: RateBudget | None = hook.get_conn().governor.shared
    assert shared is None or isinstance(shared, (SharedRateBudget, LocalRateBudget))
    return shared


def test_no_redis_named_means_the_machine_local_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    set_hubspot(monkeypatch)
    assert isinstance(shared_of(HubSpotHook()), LocalRateBudget)


def test_a_named_store_gives_every_client_the_accounts_budget(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    set_redis(monkeypatch, redis_server.conn_uri(3))
    set_hubspot(monkeypatch, rate_limit_redis_conn_id="rate_store")
    set_hubspot(monkeypatch, "hubspot_other_dag", rate_limit_redis_conn_id="rate_store")
    first, other = shared_of(HubSpotHook()), shared_of(HubSpotHook("hubspot_other_dag"))
    assert first is not None
    assert other is not None
    assert first._window_key == other._window_key  # same token: one budget, whatever the conn id
    assert TOKEN not in first._window_key
    assert "rate_store" in repr(first)
    assert redis_server.password not in repr(HubSpotHook().get_conn())


def test_another_token_or_an_explicit_key_is_another_budget(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    set_redis(monkeypatch, redis_server.conn_uri())
    set_hubspot(monkeypatch, rate_limit_redis_conn_id="rate_store")
    conn = {"conn_type": "hubspot", "host": "http://127.0.0.1:1", "password": TOKEN + "-other"}
    conn["extra"] = {"rate_limit_redis_conn_id": "rate_store"}  # type: ignore[assignment]
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_OTHER", json.dumps(conn))
    set_hubspot(
        monkeypatch, "hubspot_keyed", rate_limit_redis_conn_id="rate_store", rate_limit_account="portal-42"
    )
    keys = {
        shared._window_key
        for shared in (
            shared_of(HubSpotHook(c)) for c in ("hubspot_default", "hubspot_other", "hubspot_keyed")
        )
        if shared is not None
    }
    assert len(keys) == 3
    assert any("portal-42" in key for key in keys)


def test_an_unreachable_store_fails_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    set_redis(monkeypatch, f"redis://:store-PASSWORD-77@127.0.0.1:{free_port()}/0")
    set_hubspot(monkeypatch, rate_limit_redis_conn_id="rate_store")
    with caplog.at_level(logging.DEBUG), pytest.raises(HubSpotRateStoreError) as caught:
        HubSpotHook().get_conn()
    message = str(caught.value)
    assert "Redis connection 'rate_store'" in message
    assert "unreachable" in message
    assert not caught.value.fatal  # Redis may be back for the task's next try
    for secret in ("store-PASSWORD-77", TOKEN):
        assert secret not in message + caplog.text


def test_an_unknown_store_connection_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    set_hubspot(monkeypatch, rate_limit_redis_conn_id="no_such_redis")
    with pytest.raises(HubSpotConfigError, match="no_such_redis") as caught:
        HubSpotHook().get_conn()
    assert caught.value.fatal  # a setup error: no retry will define it


def test_local_fallback_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    set_redis(monkeypatch, f"redis://127.0.0.1:{free_port()}/0")
    set_hubspot(monkeypatch, rate_limit_redis_conn_id="rate_store", rate_limit_on_store_error="local")
    with caplog.at_level(logging.WARNING):
        assert shared_of(HubSpotHook()) is None
    assert "going on with this task's own rate window only" in caplog.text
    assert "rate_store" in caplog.text


def test_a_bad_on_store_error_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_hubspot(monkeypatch, rate_limit_redis_conn_id="rate_store", rate_limit_on_store_error="ignore")
    with pytest.raises(HubSpotConfigError, match="rate_limit_on_store_error"):
        HubSpotHook().get_conn()


def test_without_the_redis_provider_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.redis.hooks.redis", None)  # import fails
    set_hubspot(monkeypatch, rate_limit_redis_conn_id="rate_store")
    with pytest.raises(HubSpotConfigError, match=r"airflow-provider-hubassoc\[redis\]"):
        HubSpotHook().get_conn()


def test_the_redis_client_gets_bounded_waits(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    set_redis(monkeypatch, redis_server.conn_uri())
    set_hubspot(monkeypatch, rate_limit_redis_conn_id="rate_store")
    shared = shared_of(HubSpotHook())
    assert shared is not None
    store_kwargs = shared._take_script.registered_client.connection_pool.connection_kwargs  # type: ignore[attr-defined]
    assert store_kwargs["socket_timeout"] == 5.0
    assert store_kwargs["socket_connect_timeout"] == 5.0
