"""Client-side rolling-window rate limiter, shared by every thread of one client.

HubSpot counts requests per app in a rolling 10 s window and answers 429 once it is spent;
error responses should stay under 5% of calls. Staying under the limit on our side is cheaper
than being told off, and one governor per client lets concurrent chunks share one budget.

With an account budget (`budget.RateBudget`: in Redis, or in a SQLite file every process of the
machine opens) every process of the account shares one window as well; this one then only caps
the client at its `share`. The window's rules are `window.WindowLog`'s; every wait is bounded by
the call's `WaitBounds` (its deadline and the client's stop signal).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from airflow_provider_hubassoc.client.budget import RateBudget
from airflow_provider_hubassoc.client.errors import HubSpotConfigError
from airflow_provider_hubassoc.client.waits import STOP_POLL_S, WaitBounds
from airflow_provider_hubassoc.client.window import WindowLog

log = logging.getLogger("airflow_provider_hubassoc.client")

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
# A window learnt from headers is believed only within these bounds (ms). HubSpot's windows are
# 10 s (and 1 s for some APIs): a longer one in a header is a proxy's or a bug's, and would hold
# every request for as long (Max 1 per 600,000 ms: one request per ten minutes).
LEARNT_INTERVAL_MS = (1.0, 20_000.0)


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
    given, is the account's budget across processes (Redis, or this machine's SQLite file): each
    request also takes a grant there, 429 pauses and HubSpot's Remaining count go to it, and
    `share` is then only a cap. `clock` is injectable so tests need not wait.
    """

    def __init__(
        self,
        max_requests: int = 100,
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        share: float = 1.0,
        shared: RateBudget | None = None,
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
        self._window = WindowLog()
        self._names = itertools.count()
        self._warned_header = False

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

    @property
    def shared(self) -> RateBudget | None:
        """The account's budget this client also takes from (None: its own window only)."""
        return self._shared

    def _delay(self, now: float) -> float:
        """Seconds until a slot is free (0 when one is free now). Caller holds the lock."""
        self._window.expire(now, self._interval_s)
        return self._window.wait_s(now, self._limit, self._interval_s)

    @contextmanager
    def slot(self, bounds: WaitBounds | None = None) -> Iterator[None]:
        """Hold a slot for one request; its start is re-stamped when the request ends.

        HubSpot counts a request when it arrives, somewhere between our send and its reply. Counting
        it from the reply keeps our window a little behind HubSpot's, never ahead of it (a first
        request that also opened the connection arrives late and would otherwise cost a 429).
        Every wait stays within `bounds`: a stopped run or a wait past the call's deadline raises.
        """
        bounds = bounds if bounds is not None else WaitBounds()
        name = self._take(bounds)
        try:
            grant = self._shared.take(self._account_limit, self._interval_s, bounds) if self._shared else None
        except BaseException:
            self._restamp(name)
            raise
        try:
            yield
        finally:
            self._restamp(name)
            if self._shared is not None:
                self._shared.restamp(grant, self._interval_s)

    def _restamp(self, name: str) -> None:
        with self._cond:
            self._window.restamp(name, self._clock())
            self._cond.notify_all()

    def _take(self, bounds: WaitBounds) -> str:
        """Wait for a free slot and record a start in flight; return its name."""
        name = str(next(self._names))
        with self._cond:
            while True:
                delay = self._window.take(name, self._clock(), self._limit, self._interval_s)
                if delay <= 0:
                    return name
                bounds.allow(delay, "this client's rate window")
                self._cond.wait(timeout=min(delay, STOP_POLL_S))

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
            self._window.pause(self._clock() + seconds)
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
                prefix = f"seen{next(self._names)}:"  # each fill's grants are its own
                self._window.fill(self._clock(), self._limit, self._interval_s, int(remaining), prefix)
            self._cond.notify_all()
            account_limit, interval_s = self._account_limit, self._interval_s
        if remaining is not None and self._shared is not None:
            # Remaining counts the whole account: it corrects the shared window. This client's
            # own window holds only its share, which other processes' requests do not use up.
            self._shared.observe(account_limit, interval_s, int(remaining))

    def _adopt_window(self, max_header: float | None, interval_ms: float | None) -> None:
        """A different window length (within LEARNT_INTERVAL_MS), or a smaller Max (never a larger
        one). Caller holds the lock."""
        if interval_ms is not None and interval_ms > 0:
            low, high = LEARNT_INTERVAL_MS
            if low <= interval_ms <= high:
                self._interval_s = interval_ms / 1000.0
            elif not self._warned_header:
                self._warned_header = True
                log.warning(
                    "HubSpot's reply names a rate window of %.0f ms, outside %.0f-%.0f ms: not believed; "
                    "keeping %.0f ms",
                    interval_ms,
                    low,
                    high,
                    self._interval_s * 1000,
                )
        if max_header is not None and max_header >= 1:
            self._account_limit = min(self._account_limit, int(max_header))
            self._limit = min(self._limit, self._scaled(max_header))

    def __repr__(self) -> str:
        shared = f", shared={self._shared!r}" if self._shared is not None else ""
        window = f"limit={self._limit}, interval_s={self._interval_s}, share={self._share}"
        return f"RateGovernor({window}{shared})"
