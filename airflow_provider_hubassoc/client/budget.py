"""An account's rate budget shared by processes: the interface both stores implement, and the
parts they share (asking for a grant within a call's bounds, and what a failing store does).

Two stores keep the budget: Redis (`shared_budget.SharedRateBudget`), for every machine that
reaches it, and a SQLite file (`local_budget.LocalRateBudget`), for every process of one machine.
`RateGovernor(shared=...)` takes either.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, TypeVar

from airflow_provider_hubassoc.client.errors import HubSpotError, HubSpotRateStoreError, redact
from airflow_provider_hubassoc.client.waits import WaitBounds

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Callers that wait for the same freed slot wake up to this much apart.
JITTER_S = 0.002


class RateBudget(Protocol):
    """An account's rolling-window budget that every process of the account takes grants from."""

    @property
    def description(self) -> str:
        """Where the budget lives and who shares it, for the task log."""
        ...

    def take(self, limit: int, interval_s: float, bounds: WaitBounds | None = None) -> str | None:
        """Wait (within `bounds`) for a grant and return it; None once the store was left out."""
        ...

    def restamp(self, grant: str | None, interval_s: float) -> None:
        """The grant's reply arrived: count it from now."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold every caller of the account for `seconds` (HubSpot answered 429)."""
        ...

    def observe(self, limit: int, interval_s: float, remaining: int) -> None:
        """Adopt HubSpot's Remaining count when it is lower than the window's free slots."""
        ...


def new_grant() -> str:
    """A grant's name: unique across processes and machines."""
    return uuid.uuid4().hex


def take_grant(
    ask: Callable[[str], float | None],
    bounds: WaitBounds | None,
    what: str,
    sleep: Callable[[float], None] | None = None,
) -> str | None:
    """Ask the store for a grant until it gives one; between asks wait what it said (plus jitter).

    `ask(grant)` returns 0 (granted), the seconds to wait, or None (the store was left out).
    Every wait is `bounds`': a stopped run or a wait past the deadline raises instead.
    """
    bounds = bounds if bounds is not None else WaitBounds()
    if sleep is not None:
        bounds = replace(bounds, sleep=sleep)
    grant = new_grant()
    while True:
        bounds.stop.raise_if_set()
        wait_s = ask(grant)
        if wait_s is None:
            return None
        if wait_s <= 0:
            return grant
        bounds.wait(wait_s + random.uniform(0, JITTER_S), what)  # noqa: S311 - jitter


class StoreGuard:
    """What a failing store does: raise HubSpotRateStoreError naming it, or, with `fallback_local`
    (`rate_limit_on_store_error: local`), say once that the task goes on with its own window and
    leave the store out. Corrections (`quiet`) are only logged: they cannot fail a request."""

    def __init__(
        self, store_name: str, *, fallback_local: bool = False, secrets: tuple[str, ...] = ()
    ) -> None:
        self.store_name = store_name
        self.fallback_local = fallback_local
        self._secrets = secrets
        self._given_up = False

    @property
    def active(self) -> bool:
        return not self._given_up

    def call(self, operation: Callable[[], _T], *, quiet: bool = False) -> _T | None:
        """Run one store operation; None when it failed quietly or the store was left out."""
        if self._given_up:
            return None
        try:
            return operation()
        except HubSpotError:  # ours (a stopped run): not the store failing
            raise
        except Exception as exc:  # the store's boundary: any failure means no answer from it
            reason = redact(f"{type(exc).__name__}: {exc}", *self._secrets)[:300]
            if self.fallback_local:
                self._given_up = True
                log.warning(
                    "The shared rate budget (%s) failed (%s); going on with this task's own rate "
                    "window only, as the connection asks (rate_limit_on_store_error=local).",
                    self.store_name,
                    reason,
                )
                return None
            if quiet:
                log.warning("The shared rate budget (%s) could not be updated: %s", self.store_name, reason)
                return None
            raise HubSpotRateStoreError(
                f"the shared rate budget ({self.store_name}) failed: {reason}"
            ) from None
