"""Without a Redis connection the hook gives every client the machine-local budget: where it lives,
what one account is (one token, however its host is spelled), what an unusable store does, and
the one line of the task log that says which budget the task uses."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubassoc.client.errors import HubSpotConfigError
from airflow_provider_hubassoc.client.local_budget import DB_NAME, LocalRateBudget
from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook, default_local_dir, settings_from_connection

TOKEN = "pat-na1-local-budget-SECRET-TOKEN-77"


def set_hubspot(
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str = "hubspot_default",
    host: str = "http://127.0.0.1:1",
    token: str = TOKEN,
    **extra: Any,
) -> None:
    conn = {"conn_type": "hubspot", "host": host, "password": token, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def local_of(hook: HubSpotHook) -> LocalRateBudget:
    shared = hook.get_conn().governor.shared
    assert isinstance(shared, LocalRateBudget), shared
    return shared


@pytest.mark.parametrize(
    "spelling",
    [
        "https://api.hubapi.com:443",
        "https://API.HubAPI.com",
        "https://api.hubapi.com.",
        "api.hubapi.com",
        "HTTPS://Api.Hubapi.Com.:443",
    ],
)
def test_one_token_gets_one_budget_however_the_host_is_spelled(spelling: str) -> None:
    """Issue 23 item 8: the README's `:443`, upper case and a trailing dot were four budgets."""
    plain = settings_from_connection("https://api.hubapi.com", None, TOKEN, {})
    spelled = settings_from_connection(spelling, None, TOKEN, {})
    assert spelled.account_key == plain.account_key


def test_the_port_field_and_the_host_name_one_budget() -> None:
    by_field = settings_from_connection("https://api.hubapi.com", 443, TOKEN, {})
    assert by_field.account_key == settings_from_connection("api.hubapi.com", None, TOKEN, {}).account_key


def test_another_port_scheme_or_token_is_another_budget() -> None:
    key = settings_from_connection("http://127.0.0.1:8080", None, TOKEN, {}).account_key
    assert settings_from_connection("http://127.0.0.1:8081", None, TOKEN, {}).account_key != key
    assert settings_from_connection("http://127.0.0.1:8080", None, TOKEN + "x", {}).account_key != key
    assert TOKEN not in key


def test_the_default_store_is_under_airflow_home_and_shared_by_connections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    set_hubspot(monkeypatch)
    set_hubspot(monkeypatch, "hubspot_other_dag", host="HTTP://127.0.0.1:1")
    first, other = local_of(HubSpotHook()), local_of(HubSpotHook("hubspot_other_dag"))
    assert first.path == tmp_path / "hubassoc" / DB_NAME
    assert first.path.exists()
    assert first._account == other._account  # same host and token: one budget
    assert TOKEN not in first._account
    assert TOKEN not in repr(HubSpotHook().get_conn())


def test_without_airflow_home_the_store_is_the_users_own_in_the_temp_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AIRFLOW_HOME")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    directory = default_local_dir()
    assert directory.parent == tmp_path
    set_hubspot(monkeypatch)
    assert local_of(HubSpotHook()).path == directory / DB_NAME
    assert directory.stat().st_mode & 0o077 == 0  # no other user may write budgets there


def test_a_temp_dir_store_made_by_another_user_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AIRFLOW_HOME")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    default_local_dir().mkdir()
    real_getuid = os.getuid
    monkeypatch.setattr(os, "getuid", lambda: real_getuid() + 1)
    set_hubspot(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert HubSpotHook().get_conn().governor.shared is None
    assert "belongs to another user" in caplog.text


def test_the_directory_extra_moves_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_hubspot(monkeypatch, rate_limit_local_dir=str(tmp_path / "budgets"))
    assert local_of(HubSpotHook()).path == tmp_path / "budgets" / DB_NAME


def test_an_unusable_named_directory_fails_naming_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    set_hubspot(monkeypatch, rate_limit_local_dir=str(blocker / "budgets"))
    with pytest.raises(HubSpotConfigError, match="rate_limit_local_dir") as caught:
        HubSpotHook().get_conn()
    assert str(blocker) in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_an_unusable_named_directory_goes_on_alone_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    set_hubspot(monkeypatch, rate_limit_local_dir=str(blocker / "x"), rate_limit_on_store_error="local")
    with caplog.at_level(logging.WARNING):
        assert HubSpotHook().get_conn().governor.shared is None
    assert "going on with this task's own rate window only" in caplog.text


def test_an_unusable_default_directory_only_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A task that asked for nothing keeps working as it did before the default store existed."""
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    set_hubspot(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert HubSpotHook().get_conn().governor.shared is None
    assert "rate_limit_local_dir" in caplog.text


def test_the_task_log_says_once_which_budget(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_hubspot(monkeypatch, rate_limit_local_dir=str(tmp_path / uuid.uuid4().hex))
    HubSpotHook().get_conn()
    HubSpotHook().get_conn()  # a second hook of the same task
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if "HubSpot rate budget:" in line]
    assert len(lines) == 1, lines
    assert "every task on this machine" in lines[0]
    assert "rate_limit_redis_conn_id" in lines[0]  # how to share across machines


def test_a_blank_account_extra_means_the_derived_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_hubspot(monkeypatch, rate_limit_local_dir=str(tmp_path), rate_limit_account="  ")
    set_hubspot(monkeypatch, "hubspot_keyed", rate_limit_local_dir=str(tmp_path), rate_limit_account=" p-42 ")
    assert local_of(HubSpotHook())._account == HubSpotHook().settings.account_key
    assert local_of(HubSpotHook("hubspot_keyed"))._account == "p-42"
