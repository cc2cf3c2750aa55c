"""Client-side rolling-window rate limiter, shared by every thread of one client.

HubSpot counts requests per app in a rolling 10 s window and answers 429 once it is spent;
error responses should stay under 5% of calls. Staying under the limit on our side is cheaper
than being told off, and one governor per client lets concurrent chunks share one budget.

With a `SharedRateBudget` (client/shared_budget.py) every process of the account shares one
window as well; this one then only caps the client at its `share`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress

from airflow_provider_hubassoc.client.errors import HubSpotConfigError
from airflow_provider_hubassoc.client.shared_budget import SharedRateBudget

# Requests per rolling 10 s for each HubSpot plan (private apps / service keys) and for OAuth apps.
TIER_LIMITS: dict[str, int] = {
    "free": 100,
    "starter": 100,
    "professional": 190,
    "enterprise": 190,
    "limit_increase": 250,
    "oauth": 110,
}
DEFAULT_INTERVAL_S = 10.0

HEADER_MAX = "X-HubSpot-RateLimit-Max"
HEADER_REMAINING = "X-HubSpot-RateLimit-Remaining"
HEADER_INTERVAL_MS = "X-HubSpot-RateLimit-Interval-Milliseconds"


def tier_limit(tier: str) -> int:
    """Requests per rolling 10 s for a plan name; refuse unknown names with the known ones."""
    key = tier.strip().lower()
    if key not in TIER_LIMITS:
        raise HubSpotConfigError(
            f"rate_limit_tier {tier!r} is not known: expected one of {', '.join(TIER_LIMITS)}"
        )
    return TIER_LIMITS[key]


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


class RateGovernor:
    """At most `max_requests * share` request starts in any `interval_s` window, across threads.

    `share` (0 < share <= 1) caps this client at a part of the account budget. `shared`, when
    given, is the account's budget across processes: each request also takes a grant there, 429
    pauses and HubSpot's Remaining count go to it, and `share` is then only a cap, no longer
    needed to stay under the limit. `clock` is injectable so tests need not wait.
    """

    def __init__(
        self,
        max_requests: int = 100,
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        share: float = 1.0,
        shared: SharedRateBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests < 1:
            raise HubSpotConfigError(f"rate limit must be at least 1 request, got {max_requests}")
        if not interval_s > 0:
            raise HubSpotConfigError(f"rate limit interval must be positive, got {interval_s}")
        if not 0 < share <= 1:
            raise HubSpotConfigError(f"rate_limit_share must be in (0, 1], got {share}")
        self._share = share
        self._shared = shared
        self._account_limit = max_requests
        self._limit = self._scaled(max_requests)
        self._interval_s = float(interval_s)
        self._clock = clock
        self._cond = threading.Condition()
        self._starts: deque[float] = deque()
        self._paused_until = 0.0

    def _scaled(self, account_limit: float) -> int:
        return max(1, math.floor(account_limit * self._share))

    @property
    def limit(self) -> int:
        """Request starts allowed per window for this client (after `share`)."""
        with self._cond:
            return self._limit

    @property
    def interval_s(self) -> float:
        with self._cond:
            return self._interval_s

    def _expire(self, now: float) -> None:
        while self._starts and self._starts[0] <= now - self._interval_s:
            self._starts.popleft()

    def _delay(self, now: float) -> float:
        """Seconds until a slot is free (0 when one is free now). Caller holds the lock."""
        self._expire(now)
        delay = self._paused_until - now
        if len(self._starts) >= self._limit:
            # The slot of the oldest start in the (full) window frees when it rolls out.
            excess = len(self._starts) - self._limit
            delay = max(delay, self._starts[excess] + self._interval_s - now)
        return max(0.0, delay)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for one request; its start is re-stamped when the request ends.

        HubSpot counts a request when it arrives, somewhere between our send and its reply. Counting
        it from the reply keeps our window a little behind HubSpot's, never ahead of it (a first
        request that also opened the connection arrives late and would otherwise cost a 429).
        """
        stamp = self._take()
        try:
            grant = self._shared.take(self._account_limit, self._interval_s) if self._shared else None
        except BaseException:
            self._restamp(stamp)
            raise
        try:
            yield
        finally:
            self._restamp(stamp)
            if self._shared is not None:
                self._shared.restamp(grant, self._interval_s)

    def _restamp(self, stamp: float) -> None:
        with self._cond:
            now = self._clock()
            with suppress(ValueError):  # already rolled out of the window: count it from now
                self._starts.remove(stamp)
            self._starts.append(now)
            self._cond.notify_all()

    def _take(self) -> float:
        """Wait for a free slot and record a start; return the start's stamp."""
        with self._cond:
            while True:
                now = self._clock()
                delay = self._delay(now)
                if delay <= 0:
                    self._starts.append(now)
                    return now
                self._cond.wait(timeout=delay)

    def pause(self, seconds: float, *, account_wide: bool = False) -> None:
        """Hold every caller for `seconds` from now, without shortening a longer pause.

        `account_wide` (HubSpot answered 429) holds every process of the shared budget too; a
        back-off after a server error stays this client's own.
        """
        if seconds <= 0:
            return
        if account_wide and self._shared is not None:
            self._shared.pause(seconds)
        with self._cond:
            until = self._clock() + seconds
            self._paused_until = max(self._paused_until, until)
            self._cond.notify_all()

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adapt to HubSpot's rate-limit headers: a smaller Max or other interval, and Remaining."""
        max_header = _header_number(headers, HEADER_MAX)
        remaining = _header_number(headers, HEADER_REMAINING)
        interval_ms = _header_number(headers, HEADER_INTERVAL_MS)
        if max_header is None and remaining is None and interval_ms is None:
            return
        with self._cond:
            self._adopt_window(max_header, interval_ms)
            if remaining is not None and self._shared is None:
                self._adopt_remaining(int(remaining))
            self._cond.notify_all()
            account_limit, interval_s = self._account_limit, self._interval_s
        if remaining is not None and self._shared is not None:
            # Remaining counts the whole account: it corrects the shared window. This client's
            # own window holds only its share, which other processes' requests do not use up.
            self._shared.observe(account_limit, interval_s, int(remaining))

    def _adopt_window(self, max_header: float | None, interval_ms: float | None) -> None:
        """A different window length, or a smaller Max (never a larger one). Caller holds the lock."""
        if interval_ms is not None and interval_ms > 0:
            self._interval_s = interval_ms / 1000.0
        if max_header is not None and max_header >= 1:
            self._account_limit = min(self._account_limit, int(max_header))
            self._limit = min(self._limit, self._scaled(max_header))

    def _adopt_remaining(self, remaining: int) -> None:
        """HubSpot counts the whole account; when it has fewer slots left than we think we have,
        fill ours with starts stamped now, so they roll out one window from now. Caller holds the lock."""
        now = self._clock()
        self._expire(now)
        free = self._limit - len(self._starts)
        self._starts.extend([now] * max(0, free - remaining))

    def __repr__(self) -> str:
        shared = f", shared={self._shared!r}" if self._shared is not None else ""
        window = f"limit={self._limit}, interval_s={self._interval_s}, share={self._share}"
        return f"RateGovernor({window}{shared})"
