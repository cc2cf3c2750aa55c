"""Fixtures of `make e2e-celery`: Redis, PostgreSQL, three simulators, Airflow on CeleryExecutor.

The module is marked `e2e_celery` and deselected unless the marker is asked for (`-m e2e_celery`),
so `make test` starts nothing of it. Every process is stopped by one ExitStack, in reverse order of
start, whether the tests passed or not; a SIGTERM (CI's, `timeout`'s) still reaches it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubassoc_simulator.process import SimulatorProcess
from tests.deploy.airflow_api import AirflowApi
from tests.deploy.deployment import ADMIN_USER, Deployment
from tests.deploy.run_watch import RunWatcher
from tests.deploy_celery.cases import (
    CASES,
    REDIS_CONN_ID,
    Case,
    Launch,
    create_connections,
    start_case,
    trigger_cases,
)
from tests.deploy_celery.harness import BudgetProbe, celery_deployment, wait_for_workers, worker_nodename
from tests.deploy_celery.names import DAG_IDS
from tests.support.collection import deselect_unless_selected
from tests.support.postgres import PostgresServer
from tests.support.servers import RedisServer

MARKER = "e2e_celery"
REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "tests/deploy_celery/dags").glob("*.py"))
MEASURED = pytest.StashKey[dict[str, dict[str, Any]]]()
ROOT = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: Airflow on CeleryExecutor, Redis and two workers (make e2e-celery only)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect these tests unless the run selects them by marker."""
    deselect_unless_selected(config, items, MARKER)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The numbers issue 15 asks for, per case, at the end of the run (and in CI's log)."""
    rows = config.stash.get(MEASURED, {})
    if rows:
        terminalreporter.section("e2e-celery: requests and 429s per case")
        for name, row in rows.items():
            terminalreporter.write_line(f"{name}: {json.dumps(row, sort_keys=True)}")
    root = config.stash.get(ROOT, None)
    if root is not None and root.exists():
        terminalreporter.write_line(f"e2e-celery logs and data kept in {root}")


@pytest.fixture(scope="session")
def measured(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    return request.config.stash.setdefault(MEASURED, {})


@pytest.fixture(scope="session")
def celery_root(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Logs, data and the servers' directories: not under pytest's numbered temporary folders,
    which a concurrent pytest session may prune while the deployment runs. Kept when a test
    failed (the summary names it), removed otherwise."""
    root = Path(tempfile.mkdtemp(prefix="hubassoc-e2e-celery-"))
    request.config.stash[ROOT] = root
    yield root
    if request.session.testsfailed == 0:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def teardown() -> Iterator[contextlib.ExitStack]:
    """Each fixture that starts a process registers its stop here, before it starts it."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with contextlib.ExitStack() as stack:
            yield stack
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def redis_server(celery_root: Path, teardown: contextlib.ExitStack) -> RedisServer:
    """Celery's broker (db 0) and the shared rate budget's store (db 1), behind a password."""
    server = RedisServer(celery_root / "redis", password=secrets.token_urlsafe(18))
    teardown.callback(server.stop)
    return server.start()


@pytest.fixture(scope="session")
def postgres(celery_root: Path, teardown: contextlib.ExitStack) -> PostgresServer:
    """Airflow's metadata database and Celery's result backend."""
    server = PostgresServer(celery_root / "postgres" / "pg")  # close() removes celery_root/postgres
    teardown.callback(server.close)
    return server.start()


@pytest.fixture(scope="session")
def cases(celery_root: Path, teardown: contextlib.ExitStack) -> dict[str, Case]:
    started: list[SimulatorProcess] = []

    def stop_simulators() -> None:
        for process in started:
            process.stop()

    teardown.callback(stop_simulators)
    return {name: start_case(name, celery_root, started) for name in CASES}


@pytest.fixture(scope="session")
def deployment(
    celery_root: Path, redis_server: RedisServer, postgres: PostgresServer, teardown: contextlib.ExitStack
) -> Deployment:
    deployment = celery_deployment(
        celery_root,
        DAG_FILES,
        broker_url=redis_server.url,
        database_url=postgres.uri,
        extra_env={f"AIRFLOW_CONN_{REDIS_CONN_ID.upper()}": redis_server.conn_json(1)},
    )
    teardown.callback(deployment.stop)
    deployment.prepare()
    deployment.start()
    nodes = [worker_nodename(index) for index in range(1, len(deployment.extra_components) + 1)]
    wait_for_workers(redis_server.url, nodes, deployment.assert_running)
    return deployment


@pytest.fixture(scope="session")
def api(deployment: Deployment) -> AirflowApi:
    return AirflowApi(deployment.url, ADMIN_USER, deployment.password)


@pytest.fixture(scope="session")
def launch(
    api: AirflowApi,
    deployment: Deployment,
    cases: dict[str, Case],
    redis_server: RedisServer,
    celery_root: Path,
) -> Iterator[Launch]:
    """Connections, pool, and every case's runs, triggered at once and watched in the background."""
    create_connections(api, cases)
    api.wait_for_dags(DAG_IDS)
    watcher = RunWatcher(AirflowApi(api.base_url, api.username, api.password), deployment.assert_running)
    probe = BudgetProbe(redis_server.conn_uri(1))
    try:
        trigger_cases(api, cases, celery_root)
        watcher.watch(run for case in cases.values() for run in case.runs)
        yield Launch(cases, watcher, probe)
    finally:
        watcher.stop()
        probe.stop()
