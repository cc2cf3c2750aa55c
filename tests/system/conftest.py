"""System tests (Airflow's convention): `example_*.py` modules, each one DAG and a `test_run`, run
against a real HubSpot test account when HUBSPOT_SYSTEM_TEST_TOKEN holds a private-app token of
that account, and skipped otherwise (CI has no network to HubSpot). See docs/system-tests.md."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.system.utils import CONN_ID, TOKEN_ENV

if os.environ.get(TOKEN_ENV):
    # The connection the system DAGs use: set before they are imported. The tier: free by default,
    # HUBSPOT_SYSTEM_TEST_TIER for a paid test account.
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {
            "conn_type": "hubspot",
            "password": os.environ[TOKEN_ENV],
            "port": 443,
            "extra": {"rate_limit_tier": os.environ.get("HUBSPOT_SYSTEM_TEST_TIER", "free")},
        }
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect `example_*.py` here, as Airflow collects its system tests."""
    if file_path.suffix == ".py" and file_path.name.startswith("example_"):
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(TOKEN_ENV):
        return
    skip = pytest.mark.skip(
        reason=f"system test: set {TOKEN_ENV} to a HubSpot test account's private-app token"
    )
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _migrated_airflow(airflow_db: Path) -> Any:
    """dag.test() needs the session's migrated metadata database."""
    return airflow_db
