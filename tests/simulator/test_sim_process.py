"""SimulatorProcess starts the CLI in a child process, serves, and stops it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubassoc_simulator import SimulatorState
from hubassoc_simulator.process import SimulatorProcess


def test_child_process_serves_its_seed_and_stops(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SimulatorState.generate(4, 6, 3).snapshot()))
    with SimulatorProcess(["--seed", str(seed), "--rate-limit", "150"]) as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        assert len(sim.admin("state")["associations"]) == 6
        assert sim.admin("config")["rate_limit"] == 150
        process = sim._process
        assert process is not None
        assert process.poll() is None
        workdir = sim._workdir
    assert process.poll() is not None
    assert not workdir.exists()


def test_a_simulator_that_cannot_start_says_why(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="did not start") as excinfo:
        SimulatorProcess(["--seed", str(tmp_path / "missing.json")], start_timeout_s=20).start()
    assert "missing.json" in str(excinfo.value)
