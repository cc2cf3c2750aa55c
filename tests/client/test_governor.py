"""RateGovernor: one rolling-window budget shared by threads, pauses, and HubSpot's headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from airflow_provider_hubassoc.client.errors import HubSpotConfigError
from airflow_provider_hubassoc.client.governor import RateGovernor, tier_limit
from tests.support.client_doubles import FakeClock


def take(governor: RateGovernor, clock: Callable[[], float] = time.monotonic) -> float:
    """Hold a slot for an instant request; return the seconds spent waiting for it."""
    start = clock()
    with governor.slot():
        pass
    return clock() - start


@pytest.mark.parametrize(
    ("tier", "limit"),
    [
        ("free", 100),
        ("starter", 100),
        ("professional", 190),
        ("enterprise", 190),
        ("limit_increase", 250),
        ("oauth", 110),
        ("  Professional ", 190),
    ],
)
def test_tier_limits(tier: str, limit: int) -> None:
    assert tier_limit(tier) == limit


def test_unknown_tier_lists_the_known_ones() -> None:
    with pytest.raises(HubSpotConfigError, match="free, starter, professional"):
        tier_limit("platinum")


@pytest.mark.parametrize(("kwargs"), [{"max_requests": 0}, {"interval_s": 0}, {"share": 0}, {"share": 1.5}])
def test_bad_settings_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(HubSpotConfigError):
        RateGovernor(**kwargs)  # type: ignore[arg-type]


def test_share_scales_the_budget() -> None:
    assert RateGovernor(100, share=0.25).limit == 25
    assert RateGovernor(110, share=0.1).limit == 11
    assert RateGovernor(100, share=0.001).limit == 1  # never zero


def test_concurrent_callers_never_exceed_the_window() -> None:
    limit, interval, threads, calls = 8, 0.1, 20, 2
    stamps: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def clock() -> float:
        local.t = time.monotonic()  # the last reading inside acquire() is the recorded start
        return float(local.t)

    governor = RateGovernor(limit, interval, clock=clock)

    def worker() -> None:
        for _ in range(calls):
            take(governor)
            with lock:
                stamps.append(local.t)

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=10)
    elapsed = time.monotonic() - started

    stamps.sort()
    assert len(stamps) == threads * calls
    for i, start in enumerate(stamps):
        in_window = sum(1 for s in stamps[i:] if s < start + interval)
        assert in_window <= limit, f"{in_window} starts within {interval}s of {start}"
    # 40 starts at 8 per 0.1 s need at least four full windows after the first.
    assert elapsed >= 0.4 * 0.95


def test_pause_holds_every_caller() -> None:
    governor = RateGovernor(100, 1.0)
    paused_at = time.monotonic()
    governor.pause(0.3)
    granted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        with governor.slot():
            now = time.monotonic()
        with lock:
            granted.append(now - paused_at)

    pool = [threading.Thread(target=worker) for _ in range(5)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=5)
    assert len(granted) == 5
    assert min(granted) >= 0.3  # every one of the five waited out the pause


def test_a_shorter_pause_does_not_cut_a_longer_one() -> None:
    clock = FakeClock()
    governor = RateGovernor(100, 10.0, clock=clock.now)
    governor.pause(5)
    governor.pause(1)
    assert governor._delay(clock.now()) == pytest.approx(5)
    governor.pause(0)  # ignored
    assert governor._delay(clock.now()) == pytest.approx(5)


def test_window_delay_counts_from_the_oldest_start() -> None:
    clock = FakeClock()
    governor = RateGovernor(3, 10.0, clock=clock.now)
    for _ in range(3):
        assert take(governor, clock.now) == 0
        clock.sleep(1)
    # Starts at t0, t0+1, t0+2; now t0+3: the oldest rolls out at t0+10.
    assert governor._delay(clock.now()) == pytest.approx(7)
    clock.sleep(7)
    assert take(governor, clock.now) == 0


def test_observe_adopts_a_smaller_max_and_scales_it_by_share() -> None:
    governor = RateGovernor(190, share=0.5)
    assert governor.limit == 95
    governor.observe({"X-HubSpot-RateLimit-Max": "100"})
    assert governor.limit == 50
    governor.observe({"X-HubSpot-RateLimit-Max": "250"})  # never raised above the configured tier
    assert governor.limit == 50


def test_observe_adopts_the_interval() -> None:
    governor = RateGovernor(100, 10.0)
    governor.observe({"X-HubSpot-RateLimit-Interval-Milliseconds": "2000"})
    assert governor.interval_s == 2.0


def test_observe_ignores_garbage_headers() -> None:
    clock = FakeClock()
    governor = RateGovernor(100, 10.0, clock=clock.now)
    governor.observe(
        {
            "X-HubSpot-RateLimit-Max": "lots",
            "X-HubSpot-RateLimit-Remaining": "-3",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "nan",
        }
    )
    assert governor.limit == 100
    assert governor.interval_s == 10.0
    assert take(governor, clock.now) == 0


def test_remaining_zero_blocks_until_the_window_rolls() -> None:
    governor = RateGovernor(100, 0.2)
    take(governor)
    governor.observe({"X-HubSpot-RateLimit-Remaining": "0"})
    spent = take(governor)
    assert spent >= 0.15


def test_remaining_caps_the_free_slots() -> None:
    clock = FakeClock()
    governor = RateGovernor(10, 10.0, clock=clock.now)
    take(governor, clock.now)
    governor.observe({"X-HubSpot-RateLimit-Remaining": "2"})
    assert take(governor, clock.now) == 0
    assert take(governor, clock.now) == 0
    assert governor._delay(clock.now()) == pytest.approx(10)  # full until this window rolls
    clock.sleep(10)
    assert governor._delay(clock.now()) == 0


def test_slot_counts_a_request_from_its_end() -> None:
    clock = FakeClock()
    governor = RateGovernor(1, 10.0, clock=clock.now)
    with governor.slot():
        clock.sleep(3)  # the request takes 3 s: HubSpot may have counted it at any point of them
    # The window runs from the end of the request, not from its start.
    assert governor._delay(clock.now()) == pytest.approx(10)
    clock.sleep(10)
    assert governor._delay(clock.now()) == 0


def test_slot_is_released_on_errors() -> None:
    clock = FakeClock()
    governor = RateGovernor(2, 1.0, clock=clock.now)
    with pytest.raises(RuntimeError), governor.slot():
        raise RuntimeError("boom")
    assert governor._delay(clock.now()) == 0  # one of two slots used
    take(governor, clock.now)
    assert governor._delay(clock.now()) == pytest.approx(1.0)  # now both are


def test_remaining_seen_twice_counts_both_corrections() -> None:
    """Each Remaining correction adds its own grants; a later one must not overwrite an earlier one."""
    clock = FakeClock()
    governor = RateGovernor(10, 10.0, clock=clock.now)
    governor.observe({"X-HubSpot-RateLimit-Remaining": "7"})  # 3 spent elsewhere
    clock.sleep(5)
    take(governor, clock.now)
    governor.observe({"X-HubSpot-RateLimit-Remaining": "0"})  # the rest spent elsewhere since
    assert governor._delay(clock.now()) == pytest.approx(5)  # full: 3 + 1 + 6; the first 3 roll out first
