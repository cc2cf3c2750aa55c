"""The account-wide rate budget in a real Redis server: limits across clients, pauses, HubSpot's
Remaining count, a killed holder, and a store that stops answering.

Each test uses its own account key, so tests share the session's server without sharing budgets.
Windows are 0.2-0.5 s of the server's real clock: Redis' TIME is the budget's only clock.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.auth import StaticTokenProvider
from airflow_provider_hubassoc.client.errors import HubSpotRateStoreError
from airflow_provider_hubassoc.client.governor import RateGovernor
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.client.shared_budget import KEY_PREFIX, SharedRateBudget
from hubassoc_simulator import DEFAULT_TOKEN, Simulator, SimulatorConfig, SimulatorState
from tests.support.client_doubles import pairs
from tests.support.servers import RedisServer

Factory = Callable[..., Simulator]


class Sleeps:
    """Records each wait the budget asks for, and waits it for real (the server's clock moves)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def budget(server: RedisServer, account: str, **kwargs: Any) -> SharedRateBudget:
    """A budget on its own Redis connection, as each worker process has."""
    kwargs.setdefault("store_name", "Redis connection 'rate_store'")
    return SharedRateBudget(server.client(), account, **kwargs)


def window_size(server: RedisServer, account: str) -> int:
    return int(server.client().zcard(f"{KEY_PREFIX}:{{{account}}}"))


@pytest.fixture
def account() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def test_grants_across_clients_never_exceed_the_account_limit(
    redis_server: RedisServer, account: str
) -> None:
    sleeps = Sleeps()
    workers = [budget(redis_server, account, sleep=sleeps) for _ in range(3)]
    for i in range(4):
        assert workers[i % 3].take(4, 0.3) is not None
        assert window_size(redis_server, account) == i + 1
    assert sleeps.waits == []  # the first four grants of the window are free
    started = time.monotonic()
    assert workers[2].take(4, 0.3) is not None  # a fifth waits until the oldest grant rolls out
    assert sum(sleeps.waits) > 0.15
    assert time.monotonic() - started > 0.15
    assert window_size(redis_server, account) <= 4


def test_threads_of_many_clients_hold_at_most_the_limit(redis_server: RedisServer, account: str) -> None:
    """Twelve threads on four clients race for 24 grants: the window never holds more than 5."""
    workers = [budget(redis_server, account) for _ in range(4)]
    seen: list[int] = []
    lock = threading.Lock()

    def run(worker: SharedRateBudget) -> None:
        for _ in range(2):
            worker.take(5, 0.2)
            with lock:
                seen.append(window_size(redis_server, account))

    threads = [threading.Thread(target=run, args=(workers[i % 4],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 24
    assert max(seen) <= 5


def test_other_accounts_do_not_share_the_budget(redis_server: RedisServer, account: str) -> None:
    sleeps = Sleeps()
    first, other = (
        budget(redis_server, account, sleep=sleeps),
        budget(redis_server, account + "-b", sleep=sleeps),
    )
    for _ in range(3):
        first.take(3, 5.0)
    assert other.take(3, 5.0) is not None
    assert sleeps.waits == []


def test_a_restamped_grant_counts_from_its_reply(redis_server: RedisServer, account: str) -> None:
    sleeps = Sleeps()
    worker = budget(redis_server, account, sleep=sleeps)
    grant = worker.take(1, 0.3)
    time.sleep(0.2)
    worker.restamp(grant, 0.3)  # the reply came 0.2 s after the grant: the slot frees 0.3 s later
    worker.take(1, 0.3)
    assert sum(sleeps.waits) > 0.2


def test_a_request_still_in_flight_keeps_its_grant_past_one_window(
    redis_server: RedisServer, account: str
) -> None:
    """A stalled worker sends late: its grant must not roll out before the request reached HubSpot."""
    sleeps = Sleeps()
    stalled, other = budget(redis_server, account), budget(redis_server, account, sleep=sleeps)
    for _ in range(2):
        stalled.take(2, 0.3)
    time.sleep(0.35)  # longer than the window, and still no reply
    other.take(2, 0.3)
    assert sleeps.waits  # the stalled grants still held the window


def test_a_429_pause_holds_every_client(redis_server: RedisServer, account: str) -> None:
    sleeps = Sleeps()
    refused, other = budget(redis_server, account), budget(redis_server, account, sleep=sleeps)
    refused.pause(0.25)
    refused.pause(0.01)  # a shorter pause never cuts a longer one
    other.take(100, 10.0)
    assert 0.15 < sum(sleeps.waits) < 1.0


def test_hubspots_remaining_count_fills_the_shared_window(redis_server: RedisServer, account: str) -> None:
    """Another app on the account spent 8 of 10: only 2 grants are left for us in this window."""
    sleeps = Sleeps()
    worker = budget(redis_server, account, sleep=sleeps)
    worker.observe(10, 0.3, remaining=2)
    assert window_size(redis_server, account) == 8
    worker.observe(10, 0.3, remaining=5)  # never frees what is already counted
    assert window_size(redis_server, account) == 8
    worker.take(10, 0.3)
    worker.take(10, 0.3)
    assert sleeps.waits == []
    worker.take(10, 0.3)
    assert sleeps.waits


_HOLDER = textwrap.dedent(
    """
    import sys, time, redis
    from airflow_provider_hubassoc.client.shared_budget import SharedRateBudget
    budget = SharedRateBudget(redis.Redis.from_url(sys.argv[1]), sys.argv[2], store_name="holder")
    for _ in range(3):
        budget.take(3, 0.5)
    print("holding", flush=True)
    time.sleep(60)  # killed here, before any reply could restamp its grants
    """
)


def test_a_killed_worker_leaks_no_budget(redis_server: RedisServer, account: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, redis_server.url, account], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        holder.kill()
        holder.wait(timeout=10)
        sleeps = Sleeps()
        started = time.monotonic()
        assert budget(redis_server, account, sleep=sleeps).take(3, 0.5) is not None
        assert sleeps.waits  # the killed worker's grants were still in the window...
        assert time.monotonic() - started < 2.0  # ...and rolled out within one interval
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_store_that_stops_answering_fails_naming_it(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path / "redis", password="store-PASSWORD-1").start()
    worker = budget(server, "down")
    worker.take(5, 1.0)
    server.stop()
    with pytest.raises(HubSpotRateStoreError) as caught:
        worker.take(5, 1.0)
    assert "Redis connection 'rate_store'" in str(caught.value)
    assert caught.value.retryable
    assert not caught.value.fatal
    with caplog.at_level(logging.WARNING):
        worker.pause(1.0)  # corrections are logged, never raised: a back-off cannot fail a request
        worker.observe(5, 1.0, remaining=0)
        worker.restamp("a-grant", 1.0)  # nor can a reply that already came back
    assert "could not be updated" in caplog.text
    assert "store-PASSWORD-1" not in caplog.text + str(caught.value)


def test_local_fallback_is_reported_once_and_goes_on(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer(tmp_path / "redis").start()
    worker = budget(server, "down", fallback_local=True)
    server.stop()
    with caplog.at_level(logging.WARNING):
        assert worker.take(5, 1.0) is None
        assert worker.take(5, 1.0) is None
        worker.pause(1.0)
    assert not worker.active
    assert caplog.text.count("going on with this task's own rate window only") == 1


# -- through the governor and the client ---------------------------------------------------------


def test_governor_takes_a_shared_grant_per_request_and_restamps_it(
    redis_server: RedisServer, account: str
) -> None:
    governor = RateGovernor(3, 0.4, shared=budget(redis_server, account))
    other = RateGovernor(3, 0.4, shared=budget(redis_server, account))
    for _ in range(3):
        with governor.slot():
            pass
    assert window_size(redis_server, account) == 3
    started = time.monotonic()
    with other.slot():  # its own window is empty; the account's is full
        pass
    assert time.monotonic() - started > 0.25


def test_governor_sends_remaining_to_the_shared_window_only(redis_server: RedisServer, account: str) -> None:
    governor = RateGovernor(10, 5.0, shared=budget(redis_server, account))
    governor.observe({"X-HubSpot-RateLimit-Remaining": "4", "X-HubSpot-RateLimit-Max": "10"})
    assert window_size(redis_server, account) == 6
    # Its own window is its share cap, not the account's count: other processes' requests
    # must not hold this one back twice.
    assert governor._delay(governor._clock()) == 0


def test_governor_shares_only_429_pauses(redis_server: RedisServer, account: str) -> None:
    governor = RateGovernor(10, 5.0, shared=budget(redis_server, account))
    governor.pause(2.0)  # a server error's back-off: this client's own
    assert not redis_server.client().exists(f"{KEY_PREFIX}:{{{account}}}:pause")
    governor.pause(2.0, account_wide=True)
    assert redis_server.client().pttl(f"{KEY_PREFIX}:{{{account}}}:pause") > 1000


def _state() -> SimulatorState:
    state = SimulatorState()
    for contact in range(1, 41):
        state.add_association("contacts", contact, "companies", 5000 + contact)
    return state


def _burst(sim: Simulator, governors: list[RateGovernor]) -> None:
    """Each governor is one task's client; each sends ten one-pair archives at once."""

    def run(governor: RateGovernor, first: int) -> None:
        retry = RetryPolicy(initial_backoff_s=0.05, max_backoff_s=0.2, total_timeout_s=30)
        with HubSpotClient(
            sim.url, token_provider=StaticTokenProvider(DEFAULT_TOKEN), governor=governor, retry=retry
        ) as client:
            for contact in range(first, first + 10):
                client.archive_associations(
                    "contacts", "companies", pairs((str(contact), str(5000 + contact)))
                )

    threads = [threading.Thread(target=run, args=(g, 1 + 10 * i)) for i, g in enumerate(governors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


@pytest.mark.parametrize("shared", [True, False])
def test_four_clients_on_one_account_draw_no_429_only_when_shared(
    simulator_factory: Factory, redis_server: RedisServer, account: str, shared: bool
) -> None:
    """The simulator allows 8 requests per 0.5 s per token; four clients each think they may send 8."""
    sim = simulator_factory(SimulatorConfig(rate_limit=8, rate_interval_ms=500), _state())
    governors = [
        RateGovernor(8, 0.5, shared=budget(redis_server, account) if shared else None) for _ in range(4)
    ]
    _burst(sim, governors)
    counters = sim.counters()
    assert sim.state.association_count() == 0  # every client finished its work, with retries if need be
    if shared:
        assert counters["rate_limited"] == 0
    else:
        assert counters["rate_limited"] > 0
