"""One request budget per HubSpot account for every process of this machine, in a SQLite file.

A deployment on one machine (the standalone quick start, LocalExecutor, one Celery worker, a
laptop) runs mapped partitions, other DAGs, sensors and retries as separate processes. Each
client's own window cannot see the others, so the second task to start draws 429s. Every process
of the machine can open the same file, so they share one window per account through it, with the
rules of `window.WindowLog` (the Redis budget's, run in Python).

Why SQLite in WAL mode rather than an fcntl-locked file of our own:
- each operation is one `BEGIN IMMEDIATE` transaction (load the account's window, change it,
  save it), so two processes never both take the last slot;
- a process killed mid-transaction leaves nothing half-written (the journal rolls it back) and
  its lock goes with it (the kernel drops a dead process's locks): a killed holder leaks nothing;
- a lock wait is bounded (the busy timeout), so every wait still honours the stop signal and the
  call's deadline, which a blocking `flock` would not;
- it is in the standard library, and WAL keeps readers (a look at the file) out of the writers' way.
The file must be on a local disk: SQLite's locks are not reliable on network file systems, and a
budget there would be shared by machines that should use Redis anyway.

Stamps are wall-clock seconds (`time.time`), the one clock every process of the machine reads
alike (Redis' budget uses its server's wall clock too). A stamp further ahead than any grant can
be (after the clock was set back) is dropped rather than trusted.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from airflow_provider_hubassoc.client.budget import StoreGuard, take_grant
from airflow_provider_hubassoc.client.waits import StopSignal, WaitBounds
from airflow_provider_hubassoc.client.window import WindowLog

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DB_NAME = "hubassoc-rate-budget.sqlite"
# One try at the file's write lock waits at most this long; a stopped run is seen between tries.
LOCK_TRY_S = 0.1
# A lock held longer than this (a holder stopped mid-transaction) is a store failure.
LOCK_GIVE_UP_S = 5.0
# No 429's Retry-After is this long: a pause further ahead comes from a clock set back.
MAX_PAUSE_S = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    account TEXT PRIMARY KEY,
    grants TEXT NOT NULL,
    paused_until REAL NOT NULL
)
"""


class LocalRateBudget:
    """An account's rolling-window budget in `directory`/hubassoc-rate-budget.sqlite, for every
    process of this machine.

    `account` names the budget as for Redis (the hook derives it from the API host and the
    credential). `fallback_local`, `sleep` and the errors are as `SharedRateBudget`'s; `clock`
    (wall-clock seconds) is injectable for tests.
    """

    def __init__(
        self,
        directory: Path,
        account: str,
        *,
        fallback_local: bool = False,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(directory) / DB_NAME
        self._account = account
        self._guard = StoreGuard(f"machine-local store {str(self.path)!r}", fallback_local=fallback_local)
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._conn_pid = 0
        self._warned_outsider = False

    @property
    def active(self) -> bool:
        return self._guard.active

    @property
    def description(self) -> str:
        return (
            f"shared by every task on this machine through the {self._guard.store_name}; tasks on other "
            "machines are not counted (name a Redis connection in rate_limit_redis_conn_id to share "
            "one budget across machines)"
        )

    def open(self) -> LocalRateBudget:
        """Create the directory and the file if need be, and prove a transaction works; raises the
        OS's or SQLite's error as it is (the hook decides what a default store's failure means)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._transaction(lambda window, now: None, None)
        return self

    # -- the budget -------------------------------------------------------------------------------

    def take(self, limit: int, interval_s: float, bounds: WaitBounds | None = None) -> str | None:
        """Wait (within `bounds`) for a grant in the account's window and return it."""
        stop = bounds.stop if bounds is not None else None

        def ask(grant: str) -> float | None:
            def change(window: WindowLog, now: float) -> float:
                _drop_impossible(window, now, interval_s)
                return window.take(grant, now, limit, interval_s)

            return self._call(change, stop)

        return take_grant(ask, bounds, f"the account's rate budget ({self._guard.store_name})", self._sleep)

    def restamp(self, grant: str | None, interval_s: float) -> None:
        """Count `grant`'s request from now (quiet: the request is done)."""
        if grant is not None:
            self._call(lambda window, now: window.restamp(grant, now), None, quiet=True)

    def pause(self, seconds: float) -> None:
        """Hold every caller of the account for `seconds`: HubSpot answered 429. Every task on this
        machine takes from this budget, so a 429 means something outside it spends the account."""
        if seconds <= 0:
            return
        self._call(lambda window, now: window.pause(now + seconds), None, quiet=True)
        if not self._warned_outsider:
            self._warned_outsider = True
            log.warning(
                "HubSpot answered 429 although every task on this machine shares one rate budget: "
                "something else uses this account (tasks on another machine, another app or script); "
                "to share one budget across machines, name a Redis connection in the HubSpot "
                "connection's extra rate_limit_redis_conn_id"
            )

    def observe(self, limit: int, interval_s: float, remaining: int) -> None:
        """Adopt HubSpot's Remaining count when it is lower than the window's free slots."""
        prefix = f"seen:{uuid.uuid4().hex[:12]}:"
        self._call(
            lambda window, now: window.fill(now, limit, interval_s, remaining, prefix), None, quiet=True
        )

    def window(self) -> WindowLog:
        """The account's window as stored now (for tests and a look from outside)."""
        with self._lock:
            return self._transaction(
                lambda window, now: WindowLog(dict(window.grants), window.paused_until), None
            )

    # -- the store --------------------------------------------------------------------------------

    def _call(
        self, change: Callable[[WindowLog, float], _T], stop: StopSignal | None, *, quiet: bool = False
    ) -> _T | None:
        def run() -> _T:
            with self._lock:
                return self._transaction(change, stop)

        return self._guard.call(run, quiet=quiet)

    def _transaction(self, change: Callable[[WindowLog, float], _T], stop: StopSignal | None) -> _T:
        """Load the account's window, apply `change(window, now)`, save it: one write transaction."""
        conn = self._connection()
        self._begin(conn, stop)
        try:
            row = conn.execute(
                "SELECT grants, paused_until FROM windows WHERE account = ?", (self._account,)
            ).fetchone()
            window = WindowLog(json.loads(row[0]), float(row[1])) if row else WindowLog()
            now = self._clock()
            result = change(window, now)
            if row is None or _stored(window) != (row[0], float(row[1])):  # a refused ask changes nothing
                self._save(conn, window, now)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _save(self, conn: sqlite3.Connection, window: WindowLog, now: float) -> None:
        if window.is_idle(now):
            conn.execute("DELETE FROM windows WHERE account = ?", (self._account,))
            return
        conn.execute(
            "INSERT INTO windows (account, grants, paused_until) VALUES (?, ?, ?) "
            "ON CONFLICT(account) DO UPDATE SET "
            "grants = excluded.grants, paused_until = excluded.paused_until",
            (self._account, *_stored(window)),
        )

    def _begin(self, conn: sqlite3.Connection, stop: StopSignal | None) -> None:
        """Take the file's write lock, a short try at a time, so that a stopped run is seen."""
        _retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"), stop)

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (a forked child opens its own: SQLite's must not cross a fork)."""
        if self._conn is None or self._conn_pid != os.getpid():
            conn = sqlite3.connect(
                self.path, timeout=LOCK_TRY_S, isolation_level=None, check_same_thread=False
            )
            try:
                _retry_locked(lambda: _set_up(conn), None)
            except BaseException:
                conn.close()
                raise
            self._conn, self._conn_pid = conn, os.getpid()
        return self._conn

    def __repr__(self) -> str:
        return f"LocalRateBudget(path={str(self.path)!r}, fallback_local={self._guard.fallback_local})"


def _drop_impossible(window: WindowLog, now: float, interval_s: float) -> None:
    """Forget stamps no grant can have (further ahead than one window in flight, or a pause longer
    than any Retry-After): the wall clock was set back since they were written."""
    latest = now + interval_s + 1.0
    window.grants = {name: stamp for name, stamp in window.grants.items() if stamp <= latest}
    if window.paused_until > now + MAX_PAUSE_S:
        window.paused_until = 0.0


def _stored(window: WindowLog) -> tuple[str, float]:
    """The window as its row holds it."""
    return json.dumps(window.grants, separators=(",", ":")), window.paused_until


def _set_up(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(_SCHEMA)


def _retry_locked(operation: Callable[[], object], stop: StopSignal | None) -> None:
    """Run `operation`, trying again while another process holds the file's lock (each try waits
    up to LOCK_TRY_S), until LOCK_GIVE_UP_S; a stopped run ends the tries."""
    give_up = time.monotonic() + LOCK_GIVE_UP_S
    while True:
        try:
            operation()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if stop is not None:
                stop.raise_if_set()
            if time.monotonic() >= give_up:
                raise
