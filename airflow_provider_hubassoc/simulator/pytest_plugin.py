"""Pytest fixtures: a started simulator per test, always stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from airflow_provider_hubassoc.simulator.config import SimulatorConfig
from airflow_provider_hubassoc.simulator.server import Simulator
from airflow_provider_hubassoc.simulator.state import SimulatorState

SimulatorFactory = Callable[..., Simulator]


@pytest.fixture
def simulator_factory() -> Iterator[SimulatorFactory]:
    """`factory(config=None, state=None)` -> a started Simulator; every one is stopped at teardown."""
    started: list[Simulator] = []

    def factory(config: SimulatorConfig | None = None, state: SimulatorState | None = None) -> Simulator:
        sim = Simulator(config, state).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def hubspot_simulator(simulator_factory: SimulatorFactory) -> Simulator:
    """A started simulator with 50 contacts, 50 companies and 100 contact->company associations."""
    return simulator_factory(None, SimulatorState.generate(records=50, associations=100, seed=1))
