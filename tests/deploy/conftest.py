"""Fixtures of `make e2e`: two simulators, one real Airflow deployment, and the runs it executes.

The module is marked `e2e_deploy` and deselected unless the marker is asked for (`-m e2e_deploy`),
so `make test` does not start a deployment. Every fixture that starts a process stops it in its
teardown, whether the tests passed or not.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubassoc_simulator.process import SimulatorProcess
from tests.deploy.airflow_api import AirflowApi
from tests.deploy.browser import AirflowUi, airflow_ui
from tests.deploy.deployment import ADMIN_USER, Deployment
from tests.deploy.scenario import Launch, launch_runs, warehouse_db
from tests.deploy.simulators import Simulators, start_simulators
from tests.support.collection import deselect_unless_selected

MARKER = "e2e_deploy"
REPO = Path(__file__).resolve().parents[2]
EXAMPLE_FILES = sorted((REPO / "dags_examples").glob("*.py"))
DAG_FILES = [*EXAMPLE_FILES, *sorted((REPO / "tests/deploy/dags").glob("*.py"))]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a real Airflow deployment end to end (make e2e only)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the deployment test unless the run selects it by marker."""
    deselect_unless_selected(config, items, MARKER)


@pytest.fixture(scope="session")
def deploy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="session")
def simulators(deploy_root: Path) -> Iterator[Simulators]:
    started: list[SimulatorProcess] = []
    try:
        yield start_simulators(deploy_root, started)
    finally:
        for process in started:
            process.stop()


@pytest.fixture(scope="session")
def deployment(deploy_root: Path) -> Iterator[Deployment]:
    report_dirs = {
        "HUBSPOT_CLEANUP_REPORT_DIR": str(deploy_root / "reports"),
        "HUBSPOT_CLEANUP_PARTITION_DIR": str(deploy_root / "partitions"),
        "HUBSPOT_WAREHOUSE_DB": str(warehouse_db(deploy_root)),
    }
    deployment = Deployment(root=deploy_root, dag_files=DAG_FILES, extra_env=report_dirs)
    # A SIGTERM (CI's or `timeout`'s) must still reach the teardowns that stop the processes.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        deployment.prepare()
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def api(deployment: Deployment) -> AirflowApi:
    return AirflowApi(deployment.url, ADMIN_USER, deployment.password)


@pytest.fixture(scope="session")
def launch(
    api: AirflowApi, deployment: Deployment, simulators: Simulators, deploy_root: Path
) -> Iterator[Launch]:
    """Connections, pool, and every run of the test, triggered at once and watched in the background."""
    launched = launch_runs(api, simulators, deploy_root, EXAMPLE_FILES, deployment.assert_running)
    try:
        yield launched
    finally:
        launched.watcher.stop()


@pytest.fixture(scope="session")
def ui(deployment: Deployment, deploy_root: Path) -> Iterator[AirflowUi]:
    """A logged-in headless Chromium; screenshots under `<deploy_root>/browser`."""
    with airflow_ui(deployment.url, ADMIN_USER, deployment.password, deploy_root / "browser") as session:
        yield session
