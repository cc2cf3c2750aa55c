"""One request budget per HubSpot account, shared by every process that calls it, kept in Redis.

HubSpot counts requests per app and account in a rolling window, not per task: mapped partitions,
separate DAGs, a sensor after its archive task and a retry after a crash all draw on the same
budget. A per-process window cannot see the others, so each new task starts with an empty window
inside the others' and draws 429s. The budget therefore lives where every worker can reach it.

The store is a sliding-window log: one sorted set per account whose members are request grants,
scored by Redis' own clock (`TIME`), so machines need no common clock. Each operation is one Lua
script, atomic on the server:

- `take`: drop grants older than the window; if the account is paused (after a 429) or the window
  holds `limit` grants, answer how many ms to wait; else add a grant for a request in flight.
- `restamp`: when the request's reply arrives, move its grant to now. HubSpot counts a request
  when it arrives, between our send and its reply; counting from the reply keeps the shared
  window a little behind HubSpot's, never ahead of it. Until then the grant is stamped one
  window ahead: a request that a busy worker sends late must not roll out of our window before
  it has even reached HubSpot's.
- `pause`: hold every caller of the account until a time (a key with that TTL).
- `observe`: HubSpot's `X-HubSpot-RateLimit-Remaining` is the account-wide truth; when it is
  lower than the shared window's free slots (another app on the account, an uncoordinated
  caller), fill the difference with grants stamped now.

A grant is only ever a member of the window: it rolls out at most two intervals after it was
taken whatever happens to the process that took it, so a worker killed while holding budget
leaks nothing. The keys expire when the account goes quiet. These are the rules of
`window.WindowLog`, which the in-process and machine-local budgets run in Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from airflow_provider_hubassoc.client.budget import StoreGuard, take_grant
from airflow_provider_hubassoc.client.waits import WaitBounds

KEY_PREFIX = "hubassoc:rate"

# Milliseconds since the epoch by the Redis server's clock; every script starts with it.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Grants older than the window leave it; `now` is truncated to the ms, so a grant stays 1 ms more.
_EXPIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - interval))
"""

# KEYS: window, pause. ARGV: limit, interval_ms, member. Returns 0 (granted) or ms to wait.
# A grant in flight is stamped one interval ahead (see `restamp`). When the slot that frees next
# is still in flight, its reply will move it: look again soon rather than at its stamp.
_TAKE = (
    _NOW
    + """
local limit, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
"""
    + _EXPIRE
    + """
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return paused - now end
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now + interval, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], interval * 3)
  return 0
end
local next_free = tonumber(redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')[2])
if next_free > now then return 50 end
return math.max(1, next_free + interval - now + 1)
"""
)

# KEYS: window. ARGV: interval_ms, member. A grant already rolled out is counted from now again.
_RESTAMP = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 3)
return 0
"""
)

# KEYS: pause. ARGV: ms. Never shortens a longer pause.
_PAUSE = (
    _NOW
    + """
local ms = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + ms > current then redis.call('SET', KEYS[1], now + ms, 'PX', ms) end
return 0
"""
)

# KEYS: window. ARGV: limit, interval_ms, remaining, member prefix. Returns the grants added.
_OBSERVE = (
    _NOW
    + """
local limit, interval, remaining = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
"""
    + _EXPIRE
    + """
local missing = math.min(limit, limit - redis.call('ZCARD', KEYS[1]) - remaining)
for i = 1, missing do redis.call('ZADD', KEYS[1], now, ARGV[4] .. i) end
if missing > 0 then redis.call('PEXPIRE', KEYS[1], interval * 3) end
return math.max(0, missing)
"""
)


class BudgetStore(Protocol):
    """The part of a redis-py client the budget uses (`redis.Redis`, `redis.RedisCluster`)."""

    def register_script(self, script: str) -> Callable[..., Any]: ...


class SharedRateBudget:
    """An account's rolling-window budget in Redis, for every process and machine that shares it.

    `account` names the budget (the hook derives it from the API host and the credential, so
    every connection with the same token shares one); `store_name` names the store in errors.
    With `fallback_local`, a store that stops answering is reported once and then left out, and
    the caller's own window keeps limiting on its own; without it the store's error is raised.
    `sleep` replaces the real wait between asks (tests record it).
    """

    def __init__(
        self,
        store: BudgetStore,
        account: str,
        *,
        store_name: str,
        fallback_local: bool = False,
        secrets: tuple[str, ...] = (),
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._window_key = f"{KEY_PREFIX}:{{{account}}}"  # one hash tag: both keys on one cluster slot
        self._pause_key = f"{self._window_key}:pause"
        self._guard = StoreGuard(store_name, fallback_local=fallback_local, secrets=secrets)
        self._sleep = sleep
        self._take_script = store.register_script(_TAKE)
        self._restamp_script = store.register_script(_RESTAMP)
        self._pause_script = store.register_script(_PAUSE)
        self._observe_script = store.register_script(_OBSERVE)

    @property
    def active(self) -> bool:
        """False once a failing store was left out (only with `fallback_local`)."""
        return self._guard.active

    @property
    def description(self) -> str:
        return f"shared by every task on every machine through {self._guard.store_name}"

    def take(self, limit: int, interval_s: float, bounds: WaitBounds | None = None) -> str | None:
        """Wait (within `bounds`) for a grant in the account's window and return it (None once the
        store is left out)."""
        keys = [self._window_key, self._pause_key]

        def ask(grant: str) -> float | None:
            wait_ms = self._call(self._take_script, keys, [limit, _ms(interval_s), grant])
            return None if wait_ms is None else int(wait_ms) / 1000.0

        return take_grant(ask, bounds, f"the account's rate budget ({self._guard.store_name})", self._sleep)

    def restamp(self, grant: str | None, interval_s: float) -> None:
        """Count `grant`'s request from now: its reply has just arrived.

        Quiet: the request is done, and failing it now would send it again. A grant that is not
        restamped keeps its in-flight stamp and leaves the window one interval later.
        """
        if grant is not None:
            self._call(self._restamp_script, [self._window_key], [_ms(interval_s), grant], quiet=True)

    def pause(self, seconds: float) -> None:
        """Hold every caller of the account for `seconds` (HubSpot answered 429)."""
        if seconds > 0:
            self._call(self._pause_script, [self._pause_key], [max(1, _ms(seconds))], quiet=True)

    def observe(self, limit: int, interval_s: float, remaining: int) -> None:
        """Adopt HubSpot's count of the account's requests when it is ahead of the shared window's."""
        prefix = f"seen:{uuid.uuid4().hex}:"
        args = [limit, _ms(interval_s), remaining, prefix]
        self._call(self._observe_script, [self._window_key], args, quiet=True)

    def _call(
        self, script: Callable[..., Any], keys: list[str], args: list[Any], *, quiet: bool = False
    ) -> Any:
        """Run one script through the guard (a failure raises, or is logged; see `StoreGuard`)."""
        return self._guard.call(lambda: script(keys=keys, args=args), quiet=quiet)

    def __repr__(self) -> str:
        return (
            f"SharedRateBudget(store={self._guard.store_name!r}, fallback_local={self._guard.fallback_local})"
        )


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
