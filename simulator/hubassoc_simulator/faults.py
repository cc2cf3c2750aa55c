"""Choosing which fault (if any) a request gets: by schedule first, then by seeded probability."""

from __future__ import annotations

import random
import threading

from hubassoc_simulator import replies
from hubassoc_simulator.config import FaultPlan
from hubassoc_simulator.replies import Reply

CDN_STATUSES = frozenset({521, 522, 524})


class FaultInjector:
    """Deterministic for a given seed and request order: each eligible request draws in a fixed order."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 (reproducible faults, not crypto)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)  # noqa: S311 (reproducible faults, not crypto)

    def delay_s(self, plan: FaultPlan) -> float:
        """Latency plus uniform jitter in [0, jitter_ms]."""
        if plan.latency_ms <= 0 and plan.jitter_ms <= 0:
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(0.0, plan.jitter_ms) if plan.jitter_ms > 0 else 0.0
        return max(0.0, plan.latency_ms + jitter) / 1000.0

    def choose(self, plan: FaultPlan, request_number: int) -> str | None:
        """The fault kind for this request: a status ("500".."504", "521", "522", "524", "423", "477"),
        "reset", "slow", "malformed", "429" or "429-daily"."""
        scheduled = plan.schedule.get(request_number)
        if scheduled is not None:
            return scheduled
        draws = [(rate, kind) for rate, kind in _draws(plan) if rate]
        if not draws:
            return None
        with self._lock:
            for rate, kind in draws:
                if self._rng.random() < rate:
                    return str(self._rng.choice(plan.error_statuses)) if kind == "5xx" else kind
        return None


def status_reply(status: int, plan: FaultPlan) -> Reply:
    """The reply of a status fault (429s are built with the rate limiter's headers)."""
    if status == 423:
        return replies.locked()
    if status == 477:
        return replies.migration_in_progress(plan.migration_retry_after_s)
    if status in CDN_STATUSES:
        return replies.cdn_error(status)
    return replies.server_error(status)


def _draws(plan: FaultPlan) -> list[tuple[float, str]]:
    """Each probabilistic fault in the fixed order draws happen (a 5xx picks its status next)."""
    return [
        (plan.error_rate, "5xx"),
        (plan.reset_rate, "reset"),
        (plan.slow_rate, "slow"),
        (plan.malformed_rate, "malformed"),
    ]
