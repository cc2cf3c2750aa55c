"""A DAG file that uses our operators does not pay for the HTTP client, triggers or simulator.

Structural, not timed: docs/benchmarks.md measures the milliseconds.
"""

from __future__ import annotations

import json
import subprocess
import sys

DEFERRED = [
    "requests",
    "airflow_provider_hubassoc.client.api",
    "airflow_provider_hubassoc.hooks.hubspot",
    "airflow_provider_hubassoc.triggers.batch_status",
    "airflow_provider_hubassoc.batch.store",
    "hubassoc_simulator",
]


def test_defining_operators_and_sensor_loads_no_client_code() -> None:
    # What the DAG file's own Airflow import loads already (requests, on Airflow 2.11) is not ours.
    code = (
        "import json, sys\n"
        "from airflow.providers.common.compat.sdk import BaseOperator, dag, task\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_hubassoc.operators.archive\n"
        "import airflow_provider_hubassoc.sensors.batch_status\n"
        f"print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules and m not in before]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_packages_have_no_lazy_exports() -> None:
    """Import from submodules; package __init__ files export nothing (no lazy-export machinery)."""
    import importlib.util

    from airflow_provider_hubassoc import client, hooks, models

    for package in (client, hooks, models):
        assert not hasattr(package, "__getattr__")
        assert not hasattr(package, "__all__")
    assert not hasattr(client, "HubSpotClient")
    assert importlib.util.find_spec("airflow_provider_hubassoc.lazy_exports") is None


def test_the_client_is_airflow_free() -> None:
    """The triggerer, the benchmarks and the simulator tests use the client without Airflow."""
    code = (
        "import json, sys\n"
        "import airflow_provider_hubassoc.client.api, airflow_provider_hubassoc.batch.readback\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
