"""Shared helpers for the operator tests: a simulator with a known state and a connection to it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_hubassoc.operators.archive import (
    HubSpotArchiveAssociationLabelsOperator,
    HubSpotArchiveAssociationsOperator,
)
from airflow_provider_hubassoc.simulator import DEFAULT_TOKEN, Simulator, SimulatorConfig, SimulatorState

FT, TT = "contacts", "companies"
UNLABELED = ("HUBSPOT_DEFINED", 279)
PRIMARY = ("HUBSPOT_DEFINED", 1)
BOSS = ("USER_DEFINED", 36)
BILLING = ("USER_DEFINED", 37)


def batch_op(inputs: Any, **kwargs: Any) -> HubSpotArchiveAssociationsOperator:
    """A batch archive operator for contacts -> companies with test defaults."""
    kwargs = {"task_id": "archive", "from_object_type": FT, "to_object_type": TT, **kwargs}
    return HubSpotArchiveAssociationsOperator(inputs=inputs, **kwargs)


def label_op(inputs: Any, **kwargs: Any) -> HubSpotArchiveAssociationLabelsOperator:
    """A label archive operator for contacts -> companies with test defaults."""
    kwargs = {"task_id": "labels", "from_object_type": FT, "to_object_type": TT, **kwargs}
    return HubSpotArchiveAssociationLabelsOperator(inputs=inputs, **kwargs)


def grid_state(froms: int = 10, tos: int = 10) -> SimulatorState:
    """Contacts 1..froms each associated (unlabeled) with companies 101..100+tos, plus labels."""
    state = SimulatorState()
    state.define_label(FT, TT, "USER_DEFINED", 36, "Decision maker")
    state.define_label(FT, TT, "USER_DEFINED", 37, "Billing contact")
    state.define_label(FT, TT, "INTEGRATOR_DEFINED", 90, "billing contact")  # same text, other category
    for f in range(1, froms + 1):
        for t in range(101, 101 + tos):
            state.add_association(FT, f, TT, t, [UNLABELED, BOSS, BILLING])
    return state


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
