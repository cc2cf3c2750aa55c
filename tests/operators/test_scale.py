"""50,000 pairs from a file with flat memory (the pairs are streamed and spilled to SQLite)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from hubassoc_simulator import Simulator, SimulatorState
from tests.support.sim_states import FT, TT

SIDE = 400  # contacts 1..400 x companies 1..400: up to 160,000 distinct pairs


def _write(path: Path, count: int) -> None:
    with path.open("w") as handle:
        handle.write("from_id,to_id\n")
        for i in range(count):
            f, t = divmod(i, SIDE)
            handle.write(f"{f + 1},{t + 1}\n")
        handle.write("1,1\n")  # one duplicate, counted exactly


def _peak(path: Path) -> tuple[int, dict[str, int]]:
    op = HubSpotArchiveAssociationsOperator(
        task_id="big",
        from_object_type=FT,
        to_object_type=TT,
        inputs=str(path),
        max_concurrency=8,
        progress_interval=2.0,
    )
    tracemalloc.start()
    try:
        value = op.execute({})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, value["totals"]


def test_pairs_ten_times_more_need_no_more_memory(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    state = SimulatorState()
    state.add_records(FT, range(1, SIDE + 1))  # records exist, edges do not: the simulator
    state.add_records(TT, range(1, SIDE + 1))  # does no per-pair bookkeeping during the run
    sim = make_sim(state=state, max_inputs=100)
    warm, small, large = tmp_path / "warm.csv", tmp_path / "small.csv", tmp_path / "large.csv"
    _write(warm, 1_000)
    _write(small, 5_000)
    _write(large, 50_000)
    _peak(warm)  # warm-up: imports, pydantic schemas, connection pools
    small_peak, small_totals = _peak(small)
    sim.reset_counters()
    large_peak, large_totals = _peak(large)
    assert large_totals == {
        "requested": 50_000,
        "confirmed": 50_000,
        "accepted": 0,
        "failed": 0,
        "skipped": 0,
        "doneEarlier": 0,
        "duplicates": 1,
        "wouldRemove": 0,
        "absent": 0,
        "wouldCreate": 0,
        "present": 0,
    }
    assert small_totals["confirmed"] == 5_000
    assert sim.counters()["by_endpoint"]["batch_archive"] == 500
    assert large_peak < 3 * small_peak, (small_peak, large_peak)
