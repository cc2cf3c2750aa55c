"""Every reply HubSpot may give to an archive call, and what the client makes of it."""

from __future__ import annotations

import pytest
import requests
import requests_mock as rm

from airflow_provider_hubassoc.client.auth import OAuthTokenProvider
from airflow_provider_hubassoc.client.errors import (
    HubSpotAuthError,
    HubSpotConfigError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotTransportError,
    HubSpotValidationError,
)
from airflow_provider_hubassoc.models.responses import BatchStatus
from tests.support.client_doubles import (
    ARCHIVE_URL,
    LABELS_ARCHIVE_URL,
    READ_URL,
    ClientFactory,
    FakeClock,
    batch_body,
    error_body,
    label_pair,
    pairs,
)
from tests.support.client_doubles import CLIENT_BASE as BASE
from tests.support.client_doubles import CLIENT_TOKEN as TOKEN

TOKEN_URL = f"{BASE}/oauth/v1/token"


def test_200_with_body(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.post(ARCHIVE_URL, json=batch_body(numErrors=0))
    result = make_client().archive_associations("contacts", "companies", pairs())
    assert result.http_status == 200
    assert result.batch is not None
    assert result.batch.status is BatchStatus.COMPLETE
    assert result.batch.num_errors == 0
    sent = requests_mock.last_request
    assert sent.json() == {"inputs": [{"from": {"id": "1"}, "to": [{"id": "2"}, {"id": "3"}]}]}
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Accept"] == "application/json"


@pytest.mark.parametrize(("status", "text"), [(204, ""), (200, ""), (202, "  \n")])
def test_bodiless_2xx_has_no_batch(
    make_client: ClientFactory, requests_mock: rm.Mocker, status: int, text: str
) -> None:
    requests_mock.post(ARCHIVE_URL, status_code=status, text=text)
    result = make_client().archive_associations("contacts", "companies", pairs())
    assert result.http_status == status
    assert result.batch is None  # the reply says nothing about any pair: at most "accepted"


def test_207_keeps_per_input_errors(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    failure = {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": "Contact 1 not found",
        "context": {"fromId": ["1"]},
        "errors": [{"message": "no such record", "code": "NOT_FOUND", "in": "from"}],
    }
    requests_mock.post(
        ARCHIVE_URL, status_code=207, json=batch_body(status="COMPLETE", numErrors=1, errors=[failure])
    )
    client = make_client()
    result = client.archive_associations("contacts", "companies", pairs())
    assert result.http_status == 207
    assert result.batch is not None
    assert result.batch.num_errors == 1
    errors = result.batch.errors
    assert [(e.category, e.context) for e in errors] == [("OBJECT_NOT_FOUND", {"fromId": ["1"]})]
    assert errors[0].errors[0].in_ == "from"
    assert requests_mock.call_count == 1


def test_pending_batch_status_is_reported(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.post(ARCHIVE_URL, json=batch_body(status="PROCESSING"))
    result = make_client().archive_associations("contacts", "companies", pairs())
    assert result.batch is not None
    assert result.batch.status is BatchStatus.PROCESSING


def test_400_is_a_validation_error_never_retried(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(
        ARCHIVE_URL, status_code=400, json=error_body("VALIDATION_ERROR", "Invalid input JSON")
    )
    client = make_client()
    with pytest.raises(HubSpotValidationError) as caught:
        client.archive_associations("contacts", "companies", pairs())
    error = caught.value
    assert (error.status, error.category) == (400, "VALIDATION_ERROR")
    assert error.correlation_id == "3f1c9a2e-0000-4000-8000-000000000001"
    assert error.hubspot_message == "Invalid input JSON"
    assert "Invalid input JSON" in str(error)
    assert "correlationId=3f1c9a2e" in str(error)
    assert not error.fatal
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, HubSpotValidationError),
        (404, HubSpotNotFoundError),
        (405, HubSpotError),
        (409, HubSpotValidationError),
        (413, HubSpotError),
        (422, HubSpotValidationError),
        (501, HubSpotServerError),
    ],
)
def test_other_client_errors_are_never_retried(
    make_client: ClientFactory, requests_mock: rm.Mocker, status: int, error_type: type[HubSpotError]
) -> None:
    requests_mock.post(ARCHIVE_URL, status_code=status, json=error_body("X"))
    with pytest.raises(error_type) as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    assert type(caught.value) is error_type
    assert caught.value.status == status
    assert requests_mock.call_count == 1


def test_401_with_a_fixed_token_is_fatal_at_once(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(
        ARCHIVE_URL,
        status_code=401,
        json=error_body("INVALID_AUTHENTICATION", "Authentication credentials not found."),
    )
    with pytest.raises(HubSpotAuthError) as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    assert caught.value.category == "INVALID_AUTHENTICATION"
    assert caught.value.fatal
    assert requests_mock.call_count == 1


def _oauth(clock: FakeClock) -> OAuthTokenProvider:
    return OAuthTokenProvider("cid", "csecret-xyz", "refresh-xyz", TOKEN_URL, clock=clock.now)


def test_401_expired_refreshes_once_then_succeeds(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(
        TOKEN_URL,
        [
            {"json": {"access_token": "access-old", "expires_in": 1800}},
            {"json": {"access_token": "access-new", "expires_in": 1800}},
        ],
    )
    requests_mock.post(
        ARCHIVE_URL,
        [
            {
                "status_code": 401,
                "json": error_body("EXPIRED_AUTHENTICATION", "The OAuth token used has expired"),
            },
            {"status_code": 204},
        ],
    )
    client = make_client(token_provider=_oauth(clock))
    result = client.archive_associations("contacts", "companies", pairs())
    assert result.http_status == 204
    api_calls = [r for r in requests_mock.request_history if r.url == ARCHIVE_URL]
    assert [r.headers["Authorization"] for r in api_calls] == ["Bearer access-old", "Bearer access-new"]
    assert len([r for r in requests_mock.request_history if r.url == TOKEN_URL]) == 2  # one refresh
    assert clock.sleeps == []  # the refresh is part of the attempt, not a retry


def test_401_twice_is_an_auth_error(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(TOKEN_URL, json={"access_token": "access-x", "expires_in": 1800})
    requests_mock.post(ARCHIVE_URL, status_code=401, json=error_body("EXPIRED_AUTHENTICATION", "expired"))
    with pytest.raises(HubSpotAuthError) as caught:
        make_client(token_provider=_oauth(clock)).archive_associations("contacts", "companies", pairs())
    assert caught.value.status == 401
    assert len([r for r in requests_mock.request_history if r.url == ARCHIVE_URL]) == 2
    assert len([r for r in requests_mock.request_history if r.url == TOKEN_URL]) == 2


def test_403_lists_missing_scopes(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    body = error_body(
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {
                    "requiredScopes": ["crm.objects.contacts.write", "crm.objects.companies.write"],
                    "requiredGranularScopes": ["crm.objects.contacts.write.v2"],
                },
            }
        ],
    )
    requests_mock.post(ARCHIVE_URL, status_code=403, json=body)
    with pytest.raises(HubSpotMissingScopesError) as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    error = caught.value
    assert error.required_scopes == [
        "crm.objects.contacts.write",
        "crm.objects.companies.write",
        "crm.objects.contacts.write.v2",
    ]
    for scope in error.required_scopes:
        assert scope in str(error)
    assert error.fatal
    assert error.status == 403
    assert error.category == "MISSING_SCOPES"
    assert requests_mock.call_count == 1


def test_403_without_scopes_is_an_auth_error(make_client: ClientFactory, requests_mock: rm.Mocker) -> None:
    requests_mock.post(ARCHIVE_URL, status_code=403, json=error_body("FORBIDDEN", "portal locked"))
    with pytest.raises(HubSpotAuthError, match="portal locked"):
        make_client().archive_associations("contacts", "companies", pairs())


def _rate_limited(policy: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "status_code": 429,
        "headers": headers or {},
        "json": {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "c0ffee00-0000-4000-8000-000000000002",
            "policyName": policy,
        },
    }


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "2", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 2.0),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 10.0),
        ({}, 0.5),  # no hint at all: the first backoff step
    ],
)
def test_429_ten_secondly_waits_then_succeeds(
    make_client: ClientFactory,
    requests_mock: rm.Mocker,
    clock: FakeClock,
    headers: dict[str, str],
    expected_wait: float,
) -> None:
    requests_mock.post(ARCHIVE_URL, [_rate_limited("TEN_SECONDLY_ROLLING", headers), {"status_code": 204}])
    client = make_client()
    result = client.archive_associations("contacts", "companies", pairs())
    assert result.http_status == 204
    assert clock.sleeps == [expected_wait]
    assert requests_mock.call_count == 2
    assert client.governor._delay(clock.now()) == 0  # the pause lasted exactly the wait


def test_429_pauses_the_shared_governor(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(
        ARCHIVE_URL, [_rate_limited("TEN_SECONDLY_ROLLING", {"Retry-After": "4"}), {"status_code": 204}]
    )
    client = make_client()
    paused: list[tuple[float, bool]] = []
    original = client.governor.pause

    def pause(seconds: float, *, account_wide: bool = False) -> None:
        paused.append((seconds, account_wide))
        original(seconds, account_wide=account_wide)

    client.governor.pause = pause  # type: ignore[method-assign]
    client.archive_associations("contacts", "companies", pairs())
    assert paused == [(4.0, True)]  # a 429 holds back every caller of the account


@pytest.mark.parametrize(("status", "account_wide"), [(477, True), (423, False)])
def test_a_migration_pauses_the_whole_account_a_lock_only_this_client(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock, status: int, account_wide: bool
) -> None:
    """477: the account is moving between data centres, every caller must wait; 423: only the
    records this request wrote are locked."""
    refused = {
        "status_code": status,
        "headers": {"Retry-After": "3"},
        "json": {"category": "LOCKED", "message": "later"},
    }
    requests_mock.post(ARCHIVE_URL, [refused, {"status_code": 204}])
    client = make_client()
    paused: list[bool] = []
    original = client.governor.pause

    def pause(seconds: float, *, account_wide: bool = False) -> None:
        paused.append(account_wide)
        original(seconds, account_wide=account_wide)

    client.governor.pause = pause  # type: ignore[method-assign]
    client.archive_associations("contacts", "companies", pairs())
    assert paused == [account_wide]


def test_429_daily_is_raised_after_one_request(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(ARCHIVE_URL, **_rate_limited("DAILY", {"Retry-After": "3600"}))  # type: ignore[arg-type]
    client = make_client()
    with pytest.raises(HubSpotDailyLimitError) as caught:
        client.archive_associations("contacts", "companies", pairs())
    assert caught.value.policy_name == "DAILY"
    assert caught.value.fatal
    assert caught.value.correlation_id == "c0ffee00-0000-4000-8000-000000000002"
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


def test_429_for_ever_gives_up_after_max_attempts(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(ARCHIVE_URL, **_rate_limited("TEN_SECONDLY_ROLLING", {"Retry-After": "1"}))  # type: ignore[arg-type]
    client = make_client(max_attempts=4)
    with pytest.raises(HubSpotRateLimitError) as caught:
        client.archive_associations("contacts", "companies", pairs())
    assert type(caught.value) is HubSpotRateLimitError
    assert caught.value.retry_after == 1.0
    assert caught.value.policy_name == "TEN_SECONDLY_ROLLING"
    assert requests_mock.call_count == 4
    assert clock.sleeps == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock, status: int
) -> None:
    requests_mock.post(
        ARCHIVE_URL,
        [{"status_code": status, "json": error_body("INTERNAL_ERROR")}] * 2 + [{"json": batch_body()}],
    )
    client = make_client()
    assert client.archive_associations("contacts", "companies", pairs()).http_status == 200
    assert clock.sleeps == [0.5, 1.0]
    assert requests_mock.call_count == 3


def test_5xx_for_ever_raises_the_server_error(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(ARCHIVE_URL, status_code=503, text="<html>Service Unavailable</html>")
    with pytest.raises(HubSpotServerError) as caught:
        make_client(max_attempts=3).archive_associations("contacts", "companies", pairs())
    assert caught.value.status == 503
    assert "Service Unavailable" in str(caught.value)
    assert requests_mock.call_count == 3


def test_total_timeout_caps_the_retries(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(ARCHIVE_URL, status_code=500, json=error_body("INTERNAL_ERROR"))
    with pytest.raises(HubSpotServerError):
        make_client(max_attempts=50, total_timeout_s=2.0).archive_associations(
            "contacts", "companies", pairs()
        )
    # Waits 0.5 + 1.0 fit in 2 s; the next 2.0 would not.
    assert clock.sleeps == [0.5, 1.0]
    assert requests_mock.call_count == 3


def test_connection_reset_then_success(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(
        ARCHIVE_URL, [{"exc": requests.ConnectionError("Connection reset by peer")}, {"status_code": 204}]
    )
    client = make_client()
    assert client.archive_associations("contacts", "companies", pairs()).http_status == 204
    assert requests_mock.call_count == 2
    assert len(clock.sleeps) == 1


def test_timeouts_for_ever_raise_a_transport_error(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(ARCHIVE_URL, exc=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(HubSpotTransportError, match="timed out"):
        make_client(max_attempts=3).archive_associations("contacts", "companies", pairs())
    assert requests_mock.call_count == 3
    assert clock.sleeps == [0.5, 1.0]


def test_malformed_json_is_retried(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(ARCHIVE_URL, [{"text": '{"status": "COMPL'}, {"json": batch_body()}])
    result = make_client().archive_associations("contacts", "companies", pairs())
    assert result.batch is not None
    assert requests_mock.call_count == 2


def test_malformed_json_for_ever_is_a_transport_error(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(ARCHIVE_URL, text="<html>proxy</html>")
    with pytest.raises(HubSpotTransportError, match="not JSON") as caught:
        make_client(max_attempts=2).archive_associations("contacts", "companies", pairs())
    assert caught.value.status == 200
    assert requests_mock.call_count == 2


def test_a_2xx_body_of_the_wrong_shape_is_a_transport_error(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    requests_mock.post(ARCHIVE_URL, json={"status": "EXPLODED"})
    with pytest.raises(HubSpotTransportError, match="unexpected shape"):
        make_client(max_attempts=2).archive_associations("contacts", "companies", pairs())


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_never_followed(
    make_client: ClientFactory, requests_mock: rm.Mocker, status: int
) -> None:
    elsewhere = "https://evil.example/collect?x=1"
    requests_mock.post(ARCHIVE_URL, status_code=status, headers={"Location": elsewhere})
    requests_mock.post(elsewhere, status_code=204)
    requests_mock.get(elsewhere, status_code=204)
    with pytest.raises(HubSpotConfigError, match="redirects are never followed") as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    assert caught.value.status == status
    assert "evil.example" in str(caught.value)
    assert "x=1" not in str(caught.value)
    assert [r.url for r in requests_mock.request_history] == [ARCHIVE_URL]


def test_error_body_of_an_unknown_shape_still_maps(
    make_client: ClientFactory, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(
        ARCHIVE_URL,
        status_code=400,
        json={
            "message": "odd",
            "category": "VALIDATION_ERROR",
            "errors": "not-a-list",
            "correlationId": "abc",
        },
    )
    with pytest.raises(HubSpotValidationError) as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    assert (caught.value.hubspot_message, caught.value.correlation_id) == ("odd", "abc")


# -- every documented reply variant (HubSpot's description has flipped between revisions) ----------


@pytest.mark.parametrize("endpoint", ["archive", "labels"])
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, batch_body()),
        (204, None),
        (207, batch_body(numErrors=1, errors=[{"category": "X", "message": "m"}])),
    ],
)
def test_archive_and_labels_archive_accept_200_204_and_207(
    make_client: ClientFactory, requests_mock: rm.Mocker, endpoint: str, status: int, body: object
) -> None:
    url = ARCHIVE_URL if endpoint == "archive" else LABELS_ARCHIVE_URL
    requests_mock.post(url, status_code=status, **({"json": body} if body is not None else {}))
    client = make_client()
    if endpoint == "archive":
        result = client.archive_associations("contacts", "companies", pairs())
    else:
        result = client.archive_labels("contacts", "companies", [label_pair()])
    assert result.http_status == status
    assert (result.batch is None) == (body is None)
    if status == 207:
        assert result.batch is not None
        assert [e.category for e in result.batch.errors] == ["X"]


@pytest.mark.parametrize("status", [200, 207])
@pytest.mark.parametrize("to_object_id", ["101", 101])
def test_batch_read_accepts_200_or_207_string_or_int_ids_and_opaque_cursors(
    make_client: ClientFactory, requests_mock: rm.Mocker, status: int, to_object_id: object
) -> None:
    cursor = "MC0yLTE1OTc0MDA2NTg%3D"
    first = {
        "from": {"id": "1"},
        "to": [
            {"toObjectId": to_object_id, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279}]}
        ],
        "paging": {"next": {"after": cursor, "link": "https://api.hubapi.com/...?after=" + cursor}},
    }
    second = {"from": {"id": "1"}, "to": [{"toObjectId": "102", "associationTypes": []}]}
    requests_mock.post(
        READ_URL,
        [
            {"status_code": status, "json": batch_body(results=[first])},
            {"status_code": status, "json": batch_body(results=[second])},
        ],
    )
    result = make_client().read_associations("contacts", "companies", ["1"])
    assert [r.to_object_id for r in result.associations["1"]] == ["101", "102"]
    assert result.associations["1"][0].association_types[0].label is None  # absent, not required
    assert requests_mock.request_history[1].json() == {"inputs": [{"id": "1", "after": cursor}]}


@pytest.mark.parametrize(
    "body",
    [
        {"message": "bad input", "correlationId": "3f1c9a2e-0000-4000-8000-000000000001"},  # no category
        {"category": "VALIDATION_ERROR", "message": "bad input", "correlationId": "c-1"},  # no status
        {"status": "error", "category": "VALIDATION_ERROR", "message": "bad input", "subCategory": "x.y"},
    ],
)
def test_error_bodies_with_or_without_category_and_status(
    make_client: ClientFactory, requests_mock: rm.Mocker, body: dict[str, object]
) -> None:
    requests_mock.post(ARCHIVE_URL, status_code=400, json=body)
    with pytest.raises(HubSpotValidationError, match="bad input") as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    assert caught.value.category == body.get("category")


def test_429_body_without_category_is_still_a_rate_limit(
    make_client: ClientFactory, requests_mock: rm.Mocker, clock: FakeClock
) -> None:
    body = {
        "status": "error",
        "message": "slow",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    requests_mock.post(ARCHIVE_URL, [{"status_code": 429, "json": body}, {"status_code": 204}])
    assert make_client().archive_associations("contacts", "companies", pairs()).http_status == 204
    assert clock.sleeps == [0.5]


@pytest.mark.parametrize(
    ("body", "scopes"),
    [
        ({"context": {"missingScopes": ["crm.objects.custom.write"]}}, ["crm.objects.custom.write"]),
        (
            {
                "errors": [
                    {"message": "m", "context": {"requiredGranularScopes": ["crm.objects.deals.write"]}}
                ]
            },
            ["crm.objects.deals.write"],
        ),
        (
            {
                "context": {"missingScopes": ["a.write"]},
                "errors": [{"message": "m", "context": {"requiredScopes": ["b.write", "a.write"]}}],
            },
            ["a.write", "b.write"],
        ),
    ],
)
def test_missing_scopes_are_read_from_all_three_places(
    make_client: ClientFactory, requests_mock: rm.Mocker, body: dict[str, object], scopes: list[str]
) -> None:
    requests_mock.post(ARCHIVE_URL, status_code=403, json=error_body("MISSING_SCOPES", "scopes", **body))
    with pytest.raises(HubSpotMissingScopesError) as caught:
        make_client().archive_associations("contacts", "companies", pairs())
    assert caught.value.required_scopes == scopes
    assert "not named by HubSpot" not in str(caught.value)
