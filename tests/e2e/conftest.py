"""Fixtures of the example-DAG tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator import Simulator, SimulatorState
from tests.support.connections import point_hubspot_default_at

DEMO_SEED = Path(__file__).resolve().parents[2] / "dags_examples" / "data" / "demo_seed.json"


@pytest.fixture
def demo_sim(simulator_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """A simulator seeded as the demo is, with `hubspot_default` pointing at it: the example
    DAGs' inputs name its records."""
    sim: Simulator = simulator_factory(state=SimulatorState.from_file(DEMO_SEED))
    point_hubspot_default_at(sim, monkeypatch)
    return sim
