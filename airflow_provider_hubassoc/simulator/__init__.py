"""A local, stateful HubSpot associations API on loopback: the demo's default, the tests' and benchmarks'."""

from airflow_provider_hubassoc.simulator.config import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TOKEN,
    FaultPlan,
    SimulatorConfig,
    TokenSpec,
)
from airflow_provider_hubassoc.simulator.server import RequestRecord, Simulator
from airflow_provider_hubassoc.simulator.state import SimulatorState

__all__ = [
    "DEFAULT_OAUTH_CLIENT_ID",
    "DEFAULT_OAUTH_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_TOKEN",
    "FaultPlan",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "SimulatorState",
    "TokenSpec",
]
