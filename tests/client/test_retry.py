"""RetryPolicy: what is retried and how long each wait is."""

from __future__ import annotations

import pytest

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
from airflow_provider_hubassoc.client.retry import RetryPolicy, is_retryable


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (HubSpotTransportError("reset"), True),
        (HubSpotRateLimitError("429", policy_name="TEN_SECONDLY_ROLLING", status=429), True),
        (HubSpotDailyLimitError("429", policy_name="DAILY", status=429), False),
        (HubSpotServerError("500", status=500), True),
        (HubSpotServerError("502", status=502), True),
        (HubSpotServerError("503", status=503), True),
        (HubSpotServerError("504", status=504), True),
        (HubSpotServerError("501", status=501), False),
        (HubSpotValidationError("400", status=400), False),
        (HubSpotAuthError("401", status=401), False),
        (HubSpotMissingScopesError("403", status=403), False),
        (HubSpotNotFoundError("404", status=404), False),
        (HubSpotConfigError("redirect", status=301), False),
        (HubSpotError("418", status=418), False),
    ],
)
def test_only_transient_faults_are_retried(error: HubSpotError, retryable: bool) -> None:
    assert error.retryable is retryable  # the typed error decides
    assert is_retryable(error) is retryable
    assert is_retryable(ValueError("not ours")) is False


def test_tenacity_drives_the_retries() -> None:
    """A policy builds a tenacity Retrying; its stop honours the deadline on the injected clock."""
    from tenacity import Retrying

    clock = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    policy = RetryPolicy(max_attempts=10, jitter=False, sleep=sleep, clock=lambda: clock[0])
    paused: list[float] = []
    causes: list[BaseException | None] = []

    def before_sleep(seconds: float, error: BaseException | None) -> None:
        paused.append(seconds)
        causes.append(error)

    retrying = policy.retrying(deadline=103.0, before_sleep=before_sleep)
    assert isinstance(retrying, Retrying)
    calls = []

    def always_503() -> None:
        calls.append(1)
        raise HubSpotServerError("503", status=503)

    with pytest.raises(HubSpotServerError):
        retrying(always_503)
    assert sleeps == [0.5, 1.0]  # a further 2.0 s would end past the deadline
    assert paused == sleeps  # the governor is paused before every sleep
    assert all(isinstance(cause, HubSpotServerError) for cause in causes)  # told why, for the pause's reach
    assert len(calls) == 3


def test_backoff_doubles_and_caps() -> None:
    policy = RetryPolicy(initial_backoff_s=0.5, max_backoff_s=4.0, jitter=False)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.backoff(10_000) == 4.0  # no overflow on silly counts


def test_jitter_stays_between_half_and_all_of_the_backoff() -> None:
    policy = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=30.0, jitter=True)
    waits = [policy.backoff(3) for _ in range(200)]
    assert all(2.0 <= w <= 4.0 for w in waits)
    assert len(set(waits)) > 1


def test_rate_limit_waits_what_hubspot_asked() -> None:
    policy = RetryPolicy(jitter=False)
    asked = HubSpotRateLimitError("429", retry_after=7.5)
    assert policy.wait_for(asked, 1) == 7.5
    silent = HubSpotRateLimitError("429", retry_after=None)
    assert policy.wait_for(silent, 2) == 1.0
    assert policy.wait_for(HubSpotServerError("503", status=503), 3) == 2.0


def test_bad_policy_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="total_timeout_s"):
        RetryPolicy(total_timeout_s=0)
