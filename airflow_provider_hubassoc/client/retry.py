"""Which failures are worth another attempt, and how long to wait before it.

A small policy object rather than tenacity: the client must pause its shared governor on a 429,
refresh OAuth tokens outside the attempt budget, and re-raise typed errors unchanged, which reads
more plainly as one loop (`HubSpotClient._send`) asking this policy.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_hubassoc.client.errors import (
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotTransportError,
)

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most `max_attempts` requests and `total_timeout_s` per call.

    `sleep` and `clock` are injectable so tests run without waiting.
    """

    max_attempts: int = 6
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    total_timeout_s: float = 300.0
    jitter: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.total_timeout_s <= 0:
            raise ValueError("backoff times must be non-negative and total_timeout_s positive")

    def is_retryable(self, error: HubSpotError) -> bool:
        """Transient faults only: transport, unreadable 2xx, 500/502/503/504, 429 ten-secondly."""
        if isinstance(error, HubSpotDailyLimitError):
            return False
        if isinstance(error, HubSpotRateLimitError):
            return True
        if isinstance(error, HubSpotTransportError):
            return True
        return isinstance(error, HubSpotServerError) and error.status in RETRYABLE_STATUSES

    def backoff(self, failures: int) -> float:
        """Exponential backoff after `failures` failed attempts, capped; jitter keeps 50-100% of it."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** min(max(0, failures - 1), 60))
        if not self.jitter:
            return ceiling
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def wait_for(self, error: HubSpotError, failures: int) -> float:
        """A 429 waits what HubSpot asked (Retry-After or its window); the rest back off."""
        if isinstance(error, HubSpotRateLimitError) and error.retry_after is not None:
            return max(0.0, error.retry_after)
        return self.backoff(failures)
