"""Fixtures for the operator tests (helpers live in tests/support/)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from hubassoc_simulator import DEFAULT_TOKEN, Simulator, SimulatorConfig, SimulatorState
from tests.support.sim_states import grid_state


@pytest.fixture
def make_sim(
    simulator_factory: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Simulator]:
    """Start a simulator (generous rate limit) and point `hubspot_default` at it."""

    def make(
        state: SimulatorState | None = None, extra: dict[str, Any] | None = None, **config: Any
    ) -> Simulator:
        config.setdefault("rate_limit", 100_000)
        sim = simulator_factory(SimulatorConfig(**config), state if state is not None else grid_state())
        conn_extra = {"rate_limit": 100_000, "max_retries": 2, **(extra or {})}
        conn = {"conn_type": "hubspot", "host": sim.url, "password": DEFAULT_TOKEN, "extra": conn_extra}
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))
        return sim

    return make
