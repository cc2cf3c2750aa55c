"""The tenacity configuration every HubSpot request is retried with.

What is retried is decided by the typed error (`HubSpotError.retryable`); how long to wait by
HubSpot when it says (Retry-After, else its rate-limit window), else by jittered exponential
backoff. Attempts stop by count and by total time. `sleep` and `clock` are injectable, so tests
never wait for a real backoff.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from airflow_provider_hubassoc.client.errors import HubSpotError, HubSpotRateLimitError, HubSpotTryLaterError

log = logging.getLogger("airflow_provider_hubassoc.client")


def is_retryable(error: BaseException) -> bool:
    """Retry exactly what the typed error says is worth another attempt."""
    return isinstance(error, HubSpotError) and error.retryable


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` requests and `total_timeout_s` seconds per call."""

    max_attempts: int = 6
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    total_timeout_s: float = 300.0
    jitter: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    retry_on: Callable[[BaseException], bool] = field(default=is_retryable, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.total_timeout_s <= 0:
            raise ValueError("backoff times must be non-negative and total_timeout_s positive")

    def backoff(self, failures: int) -> float:
        """Exponential backoff after `failures` failed attempts, capped; jitter keeps 50-100% of it."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** min(max(0, failures - 1), 60))
        if not self.jitter:
            return ceiling
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def wait_for(self, error: BaseException | None, failures: int) -> float:
        """A 429 waits what HubSpot asked (Retry-After or its window); a 423 or 477 backs off, but
        never less than HubSpot asked; the rest back off. The deadline stops a wait too long."""
        if isinstance(error, HubSpotRateLimitError) and error.retry_after is not None:
            return max(0.0, error.retry_after)
        if isinstance(error, HubSpotTryLaterError) and error.retry_after is not None:
            return max(error.retry_after, self.backoff(failures))
        return self.backoff(failures)

    def retrying(
        self, deadline: float, before_sleep: Callable[[float, BaseException | None], None]
    ) -> Retrying:
        """A tenacity `Retrying` for one call that must end by `deadline` (on `clock`).

        `before_sleep(seconds, error)` runs before each wait: the client pauses its governor
        there, so every thread holds back, not only the one that was refused.
        """
        return Retrying(
            retry=retry_if_exception(self.retry_on),
            wait=_HubSpotWait(self),
            stop=stop_after_attempt(self.max_attempts) | _StopBefore(deadline, self.clock),
            sleep=self.sleep,
            before_sleep=lambda state: _before_sleep(state, before_sleep),
            reraise=True,
        )


class _HubSpotWait(wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return self._policy.wait_for(error, retry_state.attempt_number)


class _StopBefore(stop_base):
    """Stop when the coming wait would end past the deadline (read on the injected clock)."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self._deadline = deadline
        self._clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._clock() + retry_state.upcoming_sleep > self._deadline


def _before_sleep(state: RetryCallState, pause: Callable[[float, BaseException | None], None]) -> None:
    seconds = state.upcoming_sleep
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    log.warning(
        "HubSpot request attempt %d failed (%s); retrying in %.2f s",
        state.attempt_number,
        error if error is not None else "?",
        seconds,
    )
    pause(seconds, error)
