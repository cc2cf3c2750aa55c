"""A real Airflow 3 deployment in a temporary AIRFLOW_HOME: four components as separate processes.

`Deployment` runs `airflow db migrate`, then `api-server`, `scheduler`, `dag-processor` and
`triggerer` (plus any `extra_components`, e.g. Celery workers), each in its own process group with
its output in `<root>/components/<name>.log`, and waits for `/api/v2/monitor/health` to report
every component healthy. `stop()` ends each group it started (SIGTERM, then SIGKILL), whatever
state the test left it in. LocalExecutor on SQLite unless `executor` and `database_url` say otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Component:
    """One long-running process, `airflow <args>`, with `env` on top of the deployment's environment."""

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


COMPONENTS = tuple(
    Component(name, (name,)) for name in ("api-server", "scheduler", "dag-processor", "triggerer")
)
REPO = Path(__file__).resolve().parents[2]
HEALTH_PATH = "/api/v2/monitor/health"
ADMIN_USER = "admin"


def free_port() -> int:
    """A port nothing listens on now (the components and simulators bind it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """End a process started with `start_new_session=True` and everything it forked."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    # Children (task supervisors, gunicorn/uvicorn workers) may outlive their leader.
    _signal_group(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=grace_s)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def spawn(command: list[str], log_path: Path, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start `command` in a new process group (its own session), stdout and stderr to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True
        )


@dataclass
class Deployment:
    """Airflow in `root` (LocalExecutor and SQLite by default); the dags folder links `dag_files`."""

    root: Path
    dag_files: list[Path]
    extra_env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 4
    executor: str = "LocalExecutor"
    database_url: str | None = None  # None: a SQLite file in the home
    extra_components: tuple[Component, ...] = ()
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "airflow-home"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def component_logs(self) -> Path:
        return self.root / "components"

    @property
    def components(self) -> tuple[Component, ...]:
        return (*COMPONENTS, *self.extra_components)

    def env(self) -> dict[str, str]:
        """The environment every component and CLI call shares (one config, one JWT secret)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(self._airflow_config())
        env.update(self.extra_env)
        return env

    def _airflow_config(self) -> dict[str, str]:
        config = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            **self._database_config(),
            "PYTHONPATH": str(REPO),  # for the SQLite connect arguments, and DAG files' test helpers
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            # Every example, the 8-partition load and the sensors run at once on two cores with a
            # SQLite metadata database: the api-server can answer a task late. Airflow's default of
            # 5 s failed tasks once in a fresh clone; its docs say to raise it under high load.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__API__SECRET_KEY": _fixed_secret(self.root, "api-secret"),
            "AIRFLOW__API_AUTH__JWT_SECRET": _fixed_secret(self.root, "jwt-secret"),
            # Runs come only from the REST API: no scheduled run races the test's runs.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
        return config

    def _database_config(self) -> dict[str, str]:
        if self.database_url is not None:
            return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url}
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "tests.deploy.sqlite_settings.CONNECT_ARGS",
        }

    # -- life cycle ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Home, dags folder (symlinks: DAG files find their data through `__file__`), admin password."""
        dags = self.home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        self.component_logs.mkdir(parents=True, exist_ok=True)
        for dag_file in self.dag_files:
            (dags / dag_file.name).symlink_to(dag_file.resolve())
        (self.home / "passwords.json").write_text(json.dumps({ADMIN_USER: self.password}))
        self._airflow_cli("db", "migrate")

    def start(self, timeout_s: float = 180.0) -> None:
        for component in self.components:
            command = [sys.executable, "-m", "airflow", *component.args]
            env = {**self.env(), **component.env}
            log_path = self.component_logs / f"{component.name}.log"
            self.processes[component.name] = spawn(command, log_path, env, self.root)
        self.wait_healthy(timeout_s)

    def stop(self) -> None:
        """Stop every component this object started, in reverse order; safe to call twice."""
        for component in reversed(self.components):
            process = self.processes.pop(component.name, None)
            if process is not None:
                stop_group(process)

    def wait_healthy(self, timeout_s: float) -> None:
        """Poll the health endpoint until every component reports healthy; a dead component fails."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            self._fail_if_a_component_died()
            try:
                health = httpx.get(self.url + HEALTH_PATH, timeout=5).json()
                unhealthy = {k: v.get("status") for k, v in health.items() if v.get("status") != "healthy"}
                if not unhealthy:
                    return
                last = json.dumps(unhealthy)
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(1)
        raise AssertionError(
            f"Airflow did not become healthy in {timeout_s:.0f} s: {last}\n{self.log_tails()}"
        )

    def _fail_if_a_component_died(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise AssertionError(f"Airflow component(s) exited: {dead}\n{self.log_tails()}")

    def assert_running(self) -> None:
        self._fail_if_a_component_died()

    # -- logs ---------------------------------------------------------------------------------
    def component_log(self, name: str) -> str:
        return (self.component_logs / f"{name}.log").read_text(errors="replace")

    def every_log_file(self) -> Iterator[Path]:
        """Component output and every file Airflow wrote under `<home>/logs` (task logs included)."""
        yield from sorted(self.component_logs.glob("*.log"))
        yield from sorted(p for p in (self.home / "logs").rglob("*") if p.is_file())

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, *, trigger: bool = False
    ) -> str:
        """Every attempt's log of one task instance: the worker's, or with `trigger` the triggerer's."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        pattern = "attempt=*.log.trigger.*.log" if trigger else "attempt=*.log"
        return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob(pattern)))

    def log_tails(self, chars: int = 3000) -> str:
        parts = []
        for component in self.components:
            path = self.component_logs / f"{component.name}.log"
            text = path.read_text(errors="replace")[-chars:] if path.exists() else ""
            parts.append(f"--- {component.name} ---\n{text}")
        return "\n".join(parts)

    def _airflow_cli(self, *args: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )


def _fixed_secret(root: Path, name: str) -> str:
    """One random secret per deployment, the same for every component."""
    path = root / f".{name}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text()
