"""The machine-local account budget in a real SQLite file: forked processes share its limit, a
SIGKILLed holder (of grants, or of the file's lock) leaks nothing, pauses and Remaining reach every
process, and every wait honours the stop signal and the call's deadline."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubassoc.client.errors import HubSpotInterruptedError, HubSpotRateLimitError
from airflow_provider_hubassoc.client.governor import RateGovernor
from airflow_provider_hubassoc.client.local_budget import DB_NAME, LocalRateBudget
from airflow_provider_hubassoc.client.waits import StopSignal, WaitBounds

ACCOUNT = "test-account"


def budget(directory: Path, account: str = ACCOUNT, **kwargs: Any) -> LocalRateBudget:
    """A budget on its own connection to the file, as each worker process has."""
    return LocalRateBudget(directory, account, **kwargs).open()


def counted(directory: Path, account: str = ACCOUNT) -> int:
    now = time.time()
    window = budget(directory, account).window()
    return sum(1 for stamp in window.grants.values() if stamp > now - 60)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def test_grants_across_clients_never_exceed_the_limit(tmp_path: Path) -> None:
    sleeps = Sleeps()
    workers = [budget(tmp_path, sleep=sleeps) for _ in range(3)]
    for i in range(4):
        assert workers[i % 3].take(4, 0.3) is not None
    assert sleeps.waits == []
    started = time.monotonic()
    assert workers[2].take(4, 0.3) is not None  # waits for the oldest grant to roll out
    assert time.monotonic() - started > 0.15
    assert (tmp_path / DB_NAME).exists()


def _forked_task(directory: str, limit: int, interval: float, takes: int, start: Any, out: Any) -> None:
    """One task process: take `takes` grants, each for an instant request, and report when."""
    worker = LocalRateBudget(Path(directory), ACCOUNT)
    start.wait(timeout=30)
    stamps = []
    for _ in range(takes):
        grant = worker.take(limit, interval)
        stamps.append(time.time())
        worker.restamp(grant, interval)
    out.put(stamps)


def test_forked_tasks_on_one_machine_share_the_limit(tmp_path: Path) -> None:
    """Four processes forked at once, 6 grants each, limit 5 per 0.4 s: never more than 5 in a window."""
    limit, interval, tasks, takes = 5, 0.4, 4, 6
    budget(tmp_path)  # the parent opened the file before forking, as a warm worker would
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(tasks + 1), context.Queue()
    procs = [
        context.Process(target=_forked_task, args=(str(tmp_path), limit, interval, takes, start, out))
        for _ in range(tasks)
    ]
    for proc in procs:
        proc.start()
    start.wait(timeout=30)
    stamps = sorted(s for _ in procs for s in out.get(timeout=60))
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    assert len(stamps) == tasks * takes
    for i, first in enumerate(stamps):
        in_window = sum(1 for s in stamps[i:] if s < first + interval * 0.95)  # restamps come a bit later
        assert in_window <= limit, f"{in_window} grants within {interval} s of {first}"
    # 24 grants at 5 per 0.4 s take at least four windows after the first.
    assert stamps[-1] - stamps[0] >= 4 * interval * 0.9


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from airflow_provider_hubassoc.client.local_budget import LocalRateBudget
    budget = LocalRateBudget(Path(sys.argv[1]), sys.argv[2]).open()
    for _ in range(3):
        budget.take(3, 0.5)
    print("holding", flush=True)
    time.sleep(60)  # killed here, before any reply could restamp its grants
    """
)


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)


def test_a_killed_holder_of_grants_leaks_nothing(tmp_path: Path) -> None:
    holder = _spawn(_HOLDER, str(tmp_path), ACCOUNT)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        sleeps = Sleeps()
        started = time.monotonic()
        assert budget(tmp_path, sleep=sleeps).take(3, 0.5) is not None
        assert sleeps.waits  # the killed process's grants were still counted (in flight)...
        assert time.monotonic() - started < 2.0  # ...and rolled out within two windows
    finally:
        holder.kill()
        holder.wait(timeout=10)


_LOCK_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # the file's write lock, as a process mid-update holds it
    conn.execute("DELETE FROM windows")
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_process_killed_mid_update_leaves_neither_lock_nor_half_a_window(tmp_path: Path) -> None:
    worker = budget(tmp_path)
    for _ in range(2):
        worker.take(3, 5.0)
    holder = _spawn(_LOCK_HOLDER, str(tmp_path / DB_NAME))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        assert budget(tmp_path).take(3, 5.0) is not None  # the third slot, at once
        assert time.monotonic() - started < 1.0
        assert counted(tmp_path) == 3  # its uncommitted delete never happened
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_429_pause_holds_every_client_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    refused, other = budget(tmp_path), budget(tmp_path, sleep=sleeps)
    with caplog.at_level(logging.WARNING):
        refused.pause(0.25)
        refused.pause(0.01)  # a shorter pause never cuts a longer one
    other.take(100, 10.0)
    assert 0.15 < sum(sleeps.waits) < 1.0
    assert caplog.text.count("something else uses this account") == 1
    assert "rate_limit_redis_conn_id" in caplog.text


def test_hubspots_remaining_count_fills_the_window(tmp_path: Path) -> None:
    sleeps = Sleeps()
    worker = budget(tmp_path, sleep=sleeps)
    worker.observe(10, 0.3, remaining=2)
    assert counted(tmp_path) == 8
    worker.observe(10, 0.3, remaining=5)  # never frees what is already counted
    assert counted(tmp_path) == 8
    worker.take(10, 0.3)
    worker.take(10, 0.3)
    assert sleeps.waits == []
    worker.take(10, 0.3)
    assert sleeps.waits


def test_a_request_in_flight_keeps_its_grant_past_one_window(tmp_path: Path) -> None:
    sleeps = Sleeps()
    stalled, other = budget(tmp_path), budget(tmp_path, sleep=sleeps)
    for _ in range(2):
        stalled.take(2, 0.3)
    time.sleep(0.35)  # longer than the window, and still no reply
    other.take(2, 0.3)
    assert sleeps.waits


def test_other_accounts_do_not_share_the_budget(tmp_path: Path) -> None:
    sleeps = Sleeps()
    first, other = budget(tmp_path, sleep=sleeps), budget(tmp_path, "another", sleep=sleeps)
    for _ in range(3):
        first.take(3, 5.0)
    assert other.take(3, 5.0) is not None
    assert sleeps.waits == []


def test_stamps_from_a_clock_set_back_are_not_trusted(tmp_path: Path) -> None:
    """Grants written an hour 'ahead' (the wall clock was set back since) must not hold the window."""
    ahead = budget(tmp_path, clock=lambda: time.time() + 3600)
    for _ in range(3):
        ahead.take(3, 1.0)
    ahead.pause(1800)
    started = time.monotonic()
    assert budget(tmp_path).take(3, 1.0) is not None
    assert time.monotonic() - started < 0.5


def test_a_stop_ends_a_wait_for_the_window_at_once(tmp_path: Path) -> None:
    worker = budget(tmp_path)
    worker.pause(60)
    stop = StopSignal()
    threading.Timer(0.2, stop.set, args=("on_kill",)).start()
    started = time.monotonic()
    with pytest.raises(HubSpotInterruptedError, match="stopped"):
        worker.take(5, 1.0, WaitBounds(stop))
    assert time.monotonic() - started < 0.2 + 0.15


def test_a_wait_past_the_deadline_is_refused_not_slept(tmp_path: Path) -> None:
    worker = budget(tmp_path)
    worker.pause(30)
    started = time.monotonic()
    with pytest.raises(HubSpotRateLimitError, match="deadline") as caught:
        worker.take(5, 1.0, WaitBounds(deadline=time.monotonic() + 2.0))
    assert time.monotonic() - started < 0.5
    assert (caught.value.retry_after or 0) > 2.0


def test_a_stop_is_seen_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    budget(tmp_path)
    holder = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    stop = StopSignal()
    threading.Timer(0.2, stop.set, args=("on_kill",)).start()
    started = time.monotonic()
    try:
        with pytest.raises(HubSpotInterruptedError):
            LocalRateBudget(tmp_path, ACCOUNT).take(5, 1.0, WaitBounds(stop))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert time.monotonic() - started < 0.2 + 0.3


def test_governor_takes_a_grant_per_request_from_the_machine_budget(tmp_path: Path) -> None:
    governor = RateGovernor(3, 0.4, shared=budget(tmp_path))
    other = RateGovernor(3, 0.4, shared=budget(tmp_path))
    for _ in range(3):
        with governor.slot():
            pass
    assert counted(tmp_path) == 3
    started = time.monotonic()
    with other.slot():  # its own window is empty; the machine's is full
        pass
    assert time.monotonic() - started > 0.25
