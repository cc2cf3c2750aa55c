"""HubSpot's per-app request budgets: a rolling window (TEN_SECONDLY_ROLLING) and a daily count (DAILY)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
# Daily headers are sent even without a daily limit; this is the nominal budget they report.
NOMINAL_DAILY = 1_000_000


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may go on, and what the X-HubSpot-RateLimit-* headers say."""

    allowed: bool
    policy: str | None  # the policy that refused it
    limit: int
    remaining: int
    interval_ms: int
    daily: int | None  # None for OAuth tokens: no daily headers
    daily_remaining: int | None
    retry_after_s: int

    def headers(self) -> list[tuple[str, str]]:
        out = [
            ("X-HubSpot-RateLimit-Max", str(self.limit)),
            ("X-HubSpot-RateLimit-Remaining", str(self.remaining)),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(self.interval_ms)),
        ]
        if self.daily is not None:
            out.append(("X-HubSpot-RateLimit-Daily", str(self.daily)))
            out.append(("X-HubSpot-RateLimit-Daily-Remaining", str(self.daily_remaining)))
        return out


def seconds_to_utc_midnight(now: float) -> int:
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - moment).total_seconds()))


class _Bucket:
    __slots__ = ("day", "day_count", "stamps")

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()
        self.day = -1  # days since the epoch, UTC
        self.day_count = 0

    def advance(self, window_start: float, day: int) -> None:
        """Forget requests older than the window, and the count of a day that is over."""
        while self.stamps and self.stamps[0] <= window_start:
            self.stamps.popleft()
        if self.day != day:
            self.day, self.day_count = day, 0


class RateLimiter:
    """Per-key budgets. Refused requests do not use a slot, so Retry-After is exact."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def check(
        self, key: str, limit: int, interval_ms: int, daily_limit: int | None, oauth: bool
    ) -> RateDecision:
        """Take a slot for `key` if both budgets allow it."""
        now_mono, now_wall = time.monotonic(), time.time()
        window = interval_ms / 1000.0
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket())
            bucket.advance(now_mono - window, int(now_wall // 86_400))  # the UTC day, cheaply
            policy, retry_after = _refusal(
                bucket, limit, window, None if oauth else daily_limit, now_mono, now_wall
            )
            if policy is None:
                bucket.stamps.append(now_mono)
                bucket.day_count += 1
            daily_header = None if oauth else (daily_limit if daily_limit is not None else NOMINAL_DAILY)
            return RateDecision(
                allowed=policy is None,
                policy=policy,
                limit=limit,
                remaining=max(0, limit - len(bucket.stamps)),
                interval_ms=interval_ms,
                daily=daily_header,
                daily_remaining=None if daily_header is None else max(0, daily_header - bucket.day_count),
                retry_after_s=retry_after,
            )


def _refusal(
    bucket: _Bucket, limit: int, window: float, daily_cap: int | None, now_mono: float, now_wall: float
) -> tuple[str | None, int]:
    """(the policy that refuses the request, seconds until it would not), or (None, 0)."""
    if daily_cap is not None and bucket.day_count >= daily_cap:
        return DAILY, seconds_to_utc_midnight(now_wall)
    if len(bucket.stamps) >= limit:
        return TEN_SECONDLY, max(1, math.ceil(bucket.stamps[0] + window - now_mono))
    return None, 0
