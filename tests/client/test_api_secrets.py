"""No token, refresh token or client secret in errors, reprs or log records; one client across threads."""

from __future__ import annotations

import logging
import threading

import pytest
import requests
import requests_mock as rm

from airflow_provider_hubassoc.client.auth import OAuthTokenProvider
from airflow_provider_hubassoc.client.errors import HubSpotAuthError, HubSpotError
from tests.support.client_doubles import ARCHIVE_URL, ClientFactory, FakeClock, error_body, pairs
from tests.support.client_doubles import CLIENT_BASE as BASE
from tests.support.client_doubles import CLIENT_TOKEN as TOKEN

TOKEN_URL = f"{BASE}/oauth/v1/token"
SECRETS = [TOKEN, "oauth-client-secret-42", "oauth-refresh-token-42", "access-token-fresh-42"]


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_echoed_token_is_redacted_from_errors(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        ARCHIVE_URL, status_code=401, json=error_body("INVALID_AUTHENTICATION", f"token {TOKEN} is not valid")
    )
    with pytest.raises(HubSpotAuthError) as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    error = caught.value
    _assert_clean(str(error))
    _assert_clean(repr(error))
    _assert_clean(error.hubspot_message or "")
    _assert_clean(repr(error.args))
    assert "is not valid" in str(error)


def test_client_repr_hides_the_token(make_client: ClientFactory) -> None:
    client = make_client()
    _assert_clean(repr(client))
    _assert_clean(str(client))


def test_logs_never_carry_secrets(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.post(
        TOKEN_URL,
        [
            {"json": {"access_token": "access-token-old-41", "expires_in": 1800}},
            {"json": {"access_token": SECRETS[3], "expires_in": 1800}},
        ],
    )
    requests_mock.post(
        ARCHIVE_URL,
        [
            {"status_code": 401, "json": error_body("EXPIRED_AUTHENTICATION", "expired access-token-old-41")},
            {"status_code": 503, "json": error_body("INTERNAL_ERROR", f"oops {SECRETS[3]}")},
            {"exc": requests.ConnectionError(f"reset while sending Bearer {SECRETS[3]}")},
            {"status_code": 429, "json": {"policyName": "TEN_SECONDLY_ROLLING", "message": "slow down"}},
            {"status_code": 204},
        ],
    )
    provider = OAuthTokenProvider(
        "client-id", SECRETS[1], SECRETS[2], TOKEN_URL, on_new_token=lambda _: None, clock=clock.now
    )
    client = make_client(token_provider=provider)
    client.archive_associations("contacts", "companies", pairs())
    assert len(clock.sleeps) == 3
    assert caplog.records, "retries and the refresh are logged"
    assert any(
        r.name == "airflow_provider_hubassoc.client" and r.levelno == logging.WARNING for r in caplog.records
    )
    for record in caplog.records:
        _assert_clean(record.getMessage())
        assert "access-token-old-41" not in record.getMessage()
        assert "Bearer" not in record.getMessage()
    _assert_clean(caplog.text)


def test_concurrent_calls_share_one_client(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.post(ARCHIVE_URL, status_code=204)
    client = make_client()
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                client.archive_associations("contacts", "companies", pairs())
        except HubSpotError as exc:  # pragma: no cover - reported below
            failures.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=10)
    assert failures == []
    assert requests_mock.call_count == 40


def test_context_manager_closes(make_client: ClientFactory) -> None:
    with make_client() as client:
        assert client.max_batch_size == 100
