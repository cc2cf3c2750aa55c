"""Airflow 3 on CeleryExecutor for `make e2e-celery`: the shared `Deployment` plus two Celery workers.

The metadata database and Celery's result backend are a real PostgreSQL
(`tests.support.postgres.PostgresServer`): Airflow 3.3 does not refuse SQLite with CeleryExecutor,
but nine processes and Celery's result tables writing one SQLite file is how a deployment test
turns flaky (`database is locked`), and no Celery deployment runs that way. The broker is a real
Redis (`tests.support.servers.RedisServer`, db 0); the shared rate budget uses another database of
the same server (db 1), as a deployment would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.deploy.deployment import Component, Deployment, free_port

WORKERS = 2
# Slots per worker: the fan-out's pool (4) plus the two-DAG and the sensor cases, at once.
WORKER_CONCURRENCY = 6
PARALLELISM = 2 * WORKER_CONCURRENCY


def worker_nodename(index: int) -> str:
    """The Celery node name of worker `index` (`celery@<hostname>`, as Celery names it)."""
    return f"celery@{worker_hostname(index)}"


def worker_hostname(index: int) -> str:
    return f"hubassoc-worker-{index}"


def celery_workers(root: Path, count: int = WORKERS) -> tuple[Component, ...]:
    """`airflow celery worker` x count: own hostname, pid file and log-server port each."""
    return tuple(
        Component(
            name=f"celery-worker-{index}",
            args=worker_args(root, index),
            env={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
        )
        for index in range(1, count + 1)
    )


def worker_args(root: Path, index: int) -> tuple[str, ...]:
    return (
        "celery", "worker",
        "--celery-hostname", worker_hostname(index),
        "--concurrency", str(WORKER_CONCURRENCY),
        "--pid", str(root / f"celery-worker-{index}.pid"),
    )  # fmt: skip


def celery_deployment(
    root: Path, dag_files: list[Path], *, broker_url: str, database_url: str, extra_env: dict[str, str]
) -> Deployment:
    """A Deployment on CeleryExecutor and PostgreSQL with two Celery workers as extra components."""
    sqlalchemy_url = database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    celery_env = {
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{sqlalchemy_url}",
        # Not the default 8794: `make e2e` or another deployment on this machine may hold it.
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    return Deployment(
        root=root,
        dag_files=dag_files,
        extra_env={**celery_env, **extra_env},
        parallelism=PARALLELISM,
        executor="CeleryExecutor",
        database_url=sqlalchemy_url,
        extra_components=celery_workers(root),
    )


def wait_for_workers(
    broker_url: str, nodenames: Iterable[str], alive: Callable[[], None], timeout_s: float = 120.0
) -> None:
    """Until every named Celery worker answers a ping through the broker; a dead component fails."""
    from celery import Celery

    wanted = set(nodenames)
    app = Celery(broker=broker_url)
    deadline = time.monotonic() + timeout_s
    answered: set[str] = set()
    try:
        while not wanted <= answered:
            alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"Celery workers never answered: {sorted(wanted - answered)}")
            answered |= {name for reply in app.control.ping(timeout=2.0) for name in reply}
    finally:
        app.close()


class BudgetProbe:
    """Samples the shared budget's windows in Redis twice a second while the runs go on.

    Each account's window is one sorted set of grants; `windows` maps every window key seen to the
    most grants it ever held, so a test can tell how many accounts shared a budget, and that none
    of them held more grants than the account's limit.
    """

    def __init__(self, redis_url: str, interval_s: float = 0.5) -> None:
        import redis

        from airflow_provider_hubassoc.client.shared_budget import KEY_PREFIX

        self.pattern = f"{KEY_PREFIX}:*"
        self.windows: dict[str, int] = {}
        self.error: BaseException | None = None
        self._client: Any = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="budget-probe", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._sample()
            except Exception as exc:  # a transient Redis error: note it, sample again
                self.error = exc

    def _sample(self) -> None:
        for raw in self._client.scan_iter(match=self.pattern, count=100):
            key = raw.decode()
            if self._client.type(raw) == b"zset":
                self.windows[key] = max(self.windows.get(key, 0), int(self._client.zcard(raw)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()
