"""Choosing which fault (if any) a request gets: by schedule first, then by seeded probability."""

from __future__ import annotations

import random
import threading

from airflow_provider_hubassoc.simulator.config import FaultPlan


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
        """The fault kind for this request: "500".."504", "reset", "slow", "malformed", "429", "429-daily"."""
        scheduled = plan.schedule.get(request_number)
        if scheduled is not None:
            return scheduled
        if not (plan.error_rate or plan.reset_rate or plan.slow_rate or plan.malformed_rate):
            return None
        with self._lock:
            rng = self._rng
            if plan.error_rate and rng.random() < plan.error_rate:
                return str(rng.choice(plan.error_statuses))
            if plan.reset_rate and rng.random() < plan.reset_rate:
                return "reset"
            if plan.slow_rate and rng.random() < plan.slow_rate:
                return "slow"
            if plan.malformed_rate and rng.random() < plan.malformed_rate:
                return "malformed"
        return None
