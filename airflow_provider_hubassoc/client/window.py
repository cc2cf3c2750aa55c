"""The rolling-window rules, once, for every budget kept in Python.

HubSpot counts requests in a rolling window. A `WindowLog` holds the grants counted in it, each
under a name with the time it counts from, and a pause (after a 429). Two budgets use it: each
client's own window (`governor.RateGovernor`, in memory) and the machine-local account budget
(`local_budget.LocalRateBudget`, loaded from and saved to SQLite in one transaction). The Redis
budget applies the same rules in its Lua scripts (`shared_budget.py`), on the server.

- A grant is counted from when its request was granted, stamped one window ahead while the
  request is in flight, and restamped to when its reply arrived: HubSpot counts a request when it
  arrives, so our window rolls a little later than HubSpot's, never earlier. A request a stalled
  worker sends late cannot roll out of our window before it reaches HubSpot's.
- A grant leaves the window one interval after its stamp: at most two intervals after it was
  taken, whatever happened to its holder. Nothing needs releasing.
- HubSpot's `Remaining` header is the account's truth: when it says fewer slots are left than the
  window thinks, grants stamped now fill the difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# When the slot that frees next is a request still in flight, its reply will restamp it: look
# again this soon, rather than at its (one window ahead) stamp.
IN_FLIGHT_RECHECK_S = 0.05


@dataclass
class WindowLog:
    """Grants (name -> stamp, in seconds on one clock) and the time a pause ends."""

    grants: dict[str, float] = field(default_factory=dict)
    paused_until: float = 0.0

    def expire(self, now: float, interval_s: float) -> None:
        """Drop the grants whose stamp is one interval old or older."""
        oldest = now - interval_s
        self.grants = {name: stamp for name, stamp in self.grants.items() if stamp > oldest}

    def wait_s(self, now: float, limit: int, interval_s: float) -> float:
        """Seconds until a grant may be taken (0: now). Call `expire` first."""
        wait = self.paused_until - now
        count = len(self.grants)
        if count >= limit:
            next_free = sorted(self.grants.values())[count - limit]
            wait = max(wait, IN_FLIGHT_RECHECK_S if next_free > now else next_free + interval_s - now)
        return max(0.0, wait)

    def take(self, name: str, now: float, limit: int, interval_s: float) -> float:
        """Grant `name` (stamped one window ahead: in flight) and return 0, or the seconds to wait."""
        self.expire(now, interval_s)
        wait = self.wait_s(now, limit, interval_s)
        if wait <= 0:
            self.grants[name] = now + interval_s
        return wait

    def restamp(self, name: str, now: float) -> None:
        """`name`'s reply arrived: count it from now (again, if it had already rolled out)."""
        self.grants.pop(name, None)
        self.grants[name] = now

    def pause(self, until: float) -> None:
        """Hold every caller until `until`; a shorter pause never cuts a longer one."""
        self.paused_until = max(self.paused_until, until)

    def fill(self, now: float, limit: int, interval_s: float, remaining: int, prefix: str) -> int:
        """Adopt HubSpot's `remaining` when it is lower than the window's free slots; return the
        grants added (stamped now, named `prefix` + a number)."""
        self.expire(now, interval_s)
        missing = min(limit, limit - len(self.grants) - remaining)
        for index in range(max(0, missing)):
            self.grants[f"{prefix}{index}"] = now
        return max(0, missing)

    def is_idle(self, now: float) -> bool:
        """Nothing counted and no pause: the window may be forgotten."""
        return not self.grants and self.paused_until <= now
