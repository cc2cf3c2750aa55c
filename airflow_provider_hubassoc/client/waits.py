"""How long a request may wait before it is sent: until its call's deadline, unless the run stops.

A request waits in three places: the client's own rate window, the account's budget (in Redis or
on this machine) and tenacity's back-off between attempts. Each of them asks a `WaitBounds`
first, so that a stopped run (`HubSpotClient.interrupt`, from the task's on_kill) ends every wait
within `STOP_POLL_S`, and no wait outlives the call's `retry_total_timeout`: a wait that would end
past it is refused at once with a rate-limit error, instead of being slept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_hubassoc.client.errors import HubSpotInterruptedError, HubSpotRateLimitError

# A wait that cannot be woken directly (a condition, a lock) looks at the stop signal this often.
STOP_POLL_S = 0.05


class StopSignal:
    """One client's stop flag: once set, every wait ends and every new attempt is refused."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason = ""

    def set(self, reason: str) -> None:
        """Stop (idempotent: the first reason is kept)."""
        if not self._event.is_set():
            self._reason = str(reason)[:300] or "no reason given"
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str | None:
        """Why it was set (None while it is not)."""
        return self._reason if self._event.is_set() else None

    def raise_if_set(self) -> None:
        if self._event.is_set():
            raise HubSpotInterruptedError(f"the run was stopped ({self._reason}): no request sent")

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or raise HubSpotInterruptedError as soon as the signal is set."""
        if self._event.wait(max(0.0, seconds)):
            self.raise_if_set()

    def interruptible(self, sleep: Callable[[float], None]) -> Callable[[float], None]:
        """`sleep` made to honour the signal: `time.sleep` becomes a wait on it; an injected
        sleep (a test's fake clock) is checked before and after instead."""
        if sleep is time.sleep:
            return self.sleep

        def checked(seconds: float) -> None:
            self.raise_if_set()
            sleep(seconds)
            self.raise_if_set()

        return checked


@dataclass(frozen=True)
class WaitBounds:
    """The limits of one call's waits: its stop signal, and its deadline on `clock` (None: none).

    `sleep` is the real wait (the stop signal's, unless a test injects its own).
    """

    stop: StopSignal = field(default_factory=StopSignal)
    deadline: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] | None = None

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def allow(self, seconds: float, what: str) -> None:
        """Refuse a wait of `seconds` for `what` when the run stopped or it would end past the deadline."""
        self.stop.raise_if_set()
        left = self.time_left()
        if left is not None and seconds > left:
            raise HubSpotRateLimitError(
                f"{what} has no free slot for {seconds:.1f} s, past this call's deadline "
                f"(retry_total_timeout) in {max(0.0, left):.1f} s: not sent",
                retry_after=seconds,
            )

    def wait(self, seconds: float, what: str) -> None:
        """Wait `seconds` for `what`, within the bounds (see `allow`)."""
        self.allow(seconds, what)
        if self.sleep is None:
            self.stop.sleep(seconds)
        else:
            self.sleep(seconds)
            self.stop.raise_if_set()


def unbounded() -> WaitBounds:
    """Bounds for a caller outside a client call (tests, benchmarks): no deadline, its own signal."""
    return WaitBounds()
