"""Tasks on one HubSpot account share its rate budget, through the connection's Redis or, with no
Redis named, this machine's local store: two archive runs at once, and an archive followed at
once by its sensor, each with its own hook and client as separate Airflow tasks have, against a
simulator that enforces the account's real window."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_hubassoc.sensors.batch_status import HubSpotBatchStatusSensor
from hubassoc_simulator import Simulator
from tests.support.airflow_versions import allow_execute_on_this_thread
from tests.support.operator_runs import batch_op
from tests.support.servers import RedisServer
from tests.support.sim_states import grid_state

LIMIT, INTERVAL_MS = 6, 500  # per account, in the simulator and in the connection


@pytest.fixture
def account_sim(
    make_sim: Callable[..., Simulator], redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Callable[[bool], Simulator]:
    """A simulator at 6 requests per 0.5 s, and `hubspot_default` set to that limit, with the
    budget in Redis or (no Redis named) machine-local (a fresh account key per test: tests share
    the Redis server; each simulator's own URL keys the local one)."""
    monkeypatch.setenv("AIRFLOW_CONN_RATE_STORE", redis_server.conn_uri(2))

    def make(shared: bool) -> Simulator:
        extra: dict[str, Any] = {"rate_limit": LIMIT, "rate_limit_interval_ms": INTERVAL_MS, "max_retries": 8}
        if shared:
            extra |= {"rate_limit_redis_conn_id": "rate_store", "rate_limit_account": uuid.uuid4().hex}
        return make_sim(grid_state(4, 30), extra=extra, rate_limit=LIMIT, rate_interval_ms=INTERVAL_MS)

    return make


def _archive_at_once(*runs: list[tuple[int, int]]) -> tuple[list[dict[str, Any]], list[Exception]]:
    """Each run on a thread of its own, as separate tasks: their summaries, and what they raised."""
    summaries: list[dict[str, Any]] = []
    errors: list[Exception] = []

    def run(pairs: list[tuple[int, int]], index: int) -> None:
        allow_execute_on_this_thread()
        operator = batch_op(pairs, task_id=f"archive_{index}", batch_size=5, max_concurrency=2)
        try:
            summaries.append(operator.execute({}))
        except Exception as exc:  # an unshared run may give up on 429s
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(pairs, i)) for i, pairs in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return summaries, errors


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "machine-local"])
def test_two_runs_at_once_stay_under_the_account_limit(
    account_sim: Callable[[bool], Simulator], shared: bool
) -> None:
    sim = account_sim(shared)
    first = [(1, to) for to in range(101, 131)] + [(2, to) for to in range(101, 131)]
    second = [(3, to) for to in range(101, 131)] + [(4, to) for to in range(101, 131)]
    summaries, errors = _archive_at_once(first, second)
    counters = sim.counters()
    assert errors == []
    assert counters["rate_limited"] == 0
    assert [s["totals"]["confirmed"] for s in summaries] == [60, 60]
    assert sim.state.association_count() == 0


def test_a_sensor_right_after_its_archive_waits_for_the_window_not_a_429(
    account_sim: Callable[[bool], Simulator],
) -> None:
    sim = account_sim(True)
    summary = batch_op([(1, to) for to in range(101, 131)], batch_size=5).execute({})  # the window's 6
    sensor = HubSpotBatchStatusSensor(task_id="confirm", summary=summary, verify=True, max_pairs_to_verify=30)
    done = sensor.poke({})
    assert done
    assert sim.counters()["rate_limited"] == 0
    assert sim.counters()["by_endpoint"].get("batch_read", 0) >= 1
