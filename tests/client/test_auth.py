"""Token providers: fixed tokens, and OAuth tokens cached, refreshed, rotated and masked."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs

import pytest
import requests
import requests_mock as rm

from airflow_provider_hubassoc.client.auth import OAuthTokenProvider, StaticTokenProvider, TokenProvider
from airflow_provider_hubassoc.client.errors import (
    HubSpotAuthError,
    HubSpotConfigError,
    HubSpotServerError,
    HubSpotTransportError,
)
from tests.support.client_doubles import FakeClock

TOKEN_URL = "https://api.hubapi.test/oauth/v1/token"
SECRET = "client-secret-ABCDEF123456"
REFRESH = "refresh-token-0123456789abcdef"


def oauth(clock: FakeClock, seen: list[str] | None = None, **kwargs: object) -> OAuthTokenProvider:
    return OAuthTokenProvider(
        "client-id-1",
        SECRET,
        REFRESH,
        TOKEN_URL,
        on_new_token=seen.append if seen is not None else None,
        clock=clock.now,
        **kwargs,  # type: ignore[arg-type]
    )


def token_reply(token: str, expires_in: int = 1800, **extra: object) -> dict[str, object]:
    return {"access_token": token, "expires_in": expires_in, "token_type": "bearer", **extra}


def test_static_provider_hides_its_token() -> None:
    provider = StaticTokenProvider("  pat-na1-secret-value  ")
    assert provider.get_token() == "pat-na1-secret-value"
    assert "secret" not in repr(provider)
    assert "secret" not in str(provider)
    assert provider.is_oauth is False
    provider.invalidate("pat-na1-secret-value")  # nothing to refresh: the token stays
    assert provider.get_token() == "pat-na1-secret-value"
    assert isinstance(provider, TokenProvider)


@pytest.mark.parametrize("token", ["", "   "])
def test_static_provider_refuses_an_empty_token(token: str) -> None:
    with pytest.raises(HubSpotConfigError, match="no HubSpot access token"):
        StaticTokenProvider(token)


def test_oauth_posts_the_refresh_form(requests_mock: rm.Mocker) -> None:
    requests_mock.post(TOKEN_URL, json=token_reply("access-1"))
    provider = oauth(FakeClock())
    assert provider.get_token() == "access-1"
    assert provider.is_oauth is True
    sent = requests_mock.last_request
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(sent.text)
    assert form == {
        "grant_type": ["refresh_token"],
        "client_id": ["client-id-1"],
        "client_secret": [SECRET],
        "refresh_token": [REFRESH],
    }


def test_oauth_caches_until_expiry_minus_margin(requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        TOKEN_URL, [{"json": token_reply("access-1", 1800)}, {"json": token_reply("access-2", 1800)}]
    )
    clock = FakeClock()
    provider = oauth(clock, refresh_margin_s=60)
    assert provider.get_token() == "access-1"
    clock.sleep(1739)
    assert provider.get_token() == "access-1"
    assert requests_mock.call_count == 1
    clock.sleep(1)  # 1740 s = expires_in - margin
    assert provider.get_token() == "access-2"
    assert requests_mock.call_count == 2  # two refreshes in all


def test_short_lifetimes_do_not_refresh_on_every_call(requests_mock: rm.Mocker) -> None:
    requests_mock.post(TOKEN_URL, json=token_reply("access-1", 60))
    clock = FakeClock()
    provider = oauth(clock, refresh_margin_s=60)
    provider.get_token()
    clock.sleep(29)
    provider.get_token()
    assert requests_mock.call_count == 1
    clock.sleep(1)
    provider.get_token()
    assert requests_mock.call_count == 2


def test_every_secret_goes_to_on_new_token_and_rotation_is_adopted(requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        TOKEN_URL,
        [
            {"json": token_reply("access-1", refresh_token="refresh-rotated-999")},
            {"json": token_reply("access-2")},
        ],
    )
    seen: list[str] = []
    provider = oauth(FakeClock(), seen)
    provider.get_token()
    provider.invalidate("access-1")
    provider.get_token()
    assert seen == [SECRET, REFRESH, "access-1", "refresh-rotated-999", "access-2"]
    assert parse_qs(requests_mock.request_history[1].text)["refresh_token"] == ["refresh-rotated-999"]


def test_invalidate_keeps_a_newer_token(requests_mock: rm.Mocker) -> None:
    requests_mock.post(TOKEN_URL, [{"json": token_reply("access-1")}, {"json": token_reply("access-2")}])
    provider = oauth(FakeClock())
    assert provider.get_token() == "access-1"
    provider.invalidate("access-0")  # a stale token another thread already replaced
    assert provider.get_token() == "access-1"
    provider.invalidate("access-1")
    assert provider.get_token() == "access-2"


def test_concurrent_callers_share_one_refresh(requests_mock: rm.Mocker) -> None:
    requests_mock.post(TOKEN_URL, json=token_reply("access-1"))
    provider = oauth(FakeClock())
    tokens: list[str] = []
    barrier = threading.Barrier(10)

    def worker() -> None:
        barrier.wait()
        tokens.append(provider.get_token())

    pool = [threading.Thread(target=worker) for _ in range(10)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=5)
    assert tokens == ["access-1"] * 10
    assert requests_mock.call_count == 1


def test_refused_refresh_is_an_auth_error_without_secrets(requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        TOKEN_URL,
        status_code=400,
        json={"status": "BAD_REFRESH_TOKEN", "message": f"refresh token {REFRESH} is invalid"},
    )
    provider = oauth(FakeClock())
    with pytest.raises(HubSpotAuthError) as caught:
        provider.get_token()
    error = caught.value
    assert error.status == 400
    assert error.category == "BAD_REFRESH_TOKEN"
    assert error.fatal
    for text in (str(error), repr(error), error.hubspot_message or ""):
        assert REFRESH not in text
        assert SECRET not in text
    assert "is invalid" in str(error)


def test_token_endpoint_outage_is_retryable(requests_mock: rm.Mocker) -> None:
    requests_mock.post(TOKEN_URL, status_code=503, json={"status": "error", "message": "down"})
    with pytest.raises(HubSpotServerError):
        oauth(FakeClock()).get_token()
    requests_mock.post(TOKEN_URL, exc=requests.ConnectionError("reset"))
    with pytest.raises(HubSpotTransportError):
        oauth(FakeClock()).get_token()


def test_reply_without_token_refused(requests_mock: rm.Mocker) -> None:
    requests_mock.post(TOKEN_URL, json={"expires_in": 1800})
    with pytest.raises(HubSpotAuthError, match="no access_token"):
        oauth(FakeClock()).get_token()


def test_oauth_requires_all_three_secrets() -> None:
    with pytest.raises(HubSpotConfigError, match="client_secret, refresh_token") as caught:
        OAuthTokenProvider("id", "", "", TOKEN_URL)
    assert "client_id" not in str(caught.value)


def test_oauth_repr_hides_secrets(requests_mock: rm.Mocker) -> None:
    requests_mock.post(TOKEN_URL, json=token_reply("access-abcdef-123"))
    provider = oauth(FakeClock())
    provider.get_token()
    text = repr(provider) + str(provider)
    for secret in (SECRET, REFRESH, "access-abcdef-123"):
        assert secret not in text


def test_token_endpoint_rate_limits_map_like_the_api(requests_mock: rm.Mocker) -> None:
    """One error mapping: Retry-After is kept, and a DAILY 429 is the fatal daily-limit error."""
    from airflow_provider_hubassoc.client.errors import HubSpotDailyLimitError, HubSpotRateLimitError

    body = {
        "status": "error",
        "message": "slow down",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    requests_mock.post(TOKEN_URL, status_code=429, json=body, headers={"Retry-After": "7"})
    with pytest.raises(HubSpotRateLimitError) as caught:
        oauth(FakeClock()).get_token()
    assert caught.value.retry_after == 7.0
    assert not caught.value.fatal

    requests_mock.post(TOKEN_URL, status_code=429, json={**body, "policyName": "DAILY"})
    with pytest.raises(HubSpotDailyLimitError) as daily:
        oauth(FakeClock()).get_token()
    assert daily.value.fatal


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_from_the_token_endpoint_says_redirect_refused(
    requests_mock: rm.Mocker, status: int
) -> None:
    requests_mock.post(
        TOKEN_URL, status_code=status, reason="Found", headers={"Location": "https://sso.evil/x"}
    )
    with pytest.raises(HubSpotAuthError) as caught:
        oauth(FakeClock()).get_token()
    message = str(caught.value)
    assert "redirect refused" in message
    assert "api.hubapi.test" in message  # the host that redirected
    assert "renew" not in message.lower()
    assert requests_mock.call_count == 1
