"""The states a simulator starts from (contacts -> companies grids, mirrored mixed labels) and what
tests read back off it (both directions, request counters). Airflow-free."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubassoc_simulator import Simulator, SimulatorState

FT, TT = "contacts", "companies"
UNLABELED = ("HUBSPOT_DEFINED", 279)
PRIMARY = ("HUBSPOT_DEFINED", 1)
BOSS = ("USER_DEFINED", 36)
BILLING = ("USER_DEFINED", 37)


MakeSim = Callable[..., Simulator]


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


def reliability_grid(froms: int = 8, tos: int = 8) -> SimulatorState:
    """Contacts 1..froms each linked to companies 101..100+tos with unlabeled + two labels."""
    state = SimulatorState()
    state.define_label(FT, TT, "USER_DEFINED", 36, "Decision maker")
    state.define_label(FT, TT, "USER_DEFINED", 37, "Billing contact")
    for f in range(1, froms + 1):
        for t in range(101, 101 + tos):
            state.add_association(FT, f, TT, t, [UNLABELED, BOSS, BILLING])
    return state


def target_pairs(froms: int = 6, tos: int = 5) -> list[tuple[str, str]]:
    """A strict subset of the grid (the rest must stay untouched): froms x tos pairs."""
    return [(str(f), str(t)) for f in range(1, froms + 1) for t in range(101, 101 + tos)]


MIXED_TYPES: tuple[tuple[tuple[str, int], ...], ...] = (
    (UNLABELED,),
    (UNLABELED, PRIMARY),
    (UNLABELED, BOSS),
    (UNLABELED, PRIMARY, BILLING),
    (BOSS,),  # a label without the unlabeled type: a restore must not add it
)


def mixed_label_state(froms: int, tos: int, *, bare_labels: bool = True) -> SimulatorState:
    """Contacts 1..froms x companies 1001..1000+tos, mirrored, cycling through MIXED_TYPES
    (without the label-only pairs when `bare_labels` is False)."""
    kinds = MIXED_TYPES if bare_labels else MIXED_TYPES[:-1]
    state = SimulatorState()
    state.define_label(FT, TT, "USER_DEFINED", 36, "Decision maker")
    state.define_label(FT, TT, "USER_DEFINED", 37, "Billing contact")
    for f in range(1, froms + 1):
        for t in range(1001, 1001 + tos):
            state.add_association(FT, f, TT, t, kinds[(f * 7 + t) % len(kinds)], mirror=True)
    return state


def both_directions(sim: Simulator) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Every edge and its labels, contacts -> companies and back: what 'the same state' compares."""
    return sim.state.edges(FT, TT), sim.state.edges(TT, FT)


def archive_requests(sim: Simulator, endpoint: str = "batch_archive") -> int:
    return int(sim.counters()["by_endpoint"][endpoint])
