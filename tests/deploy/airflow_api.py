"""The few Airflow 3 REST API calls the deployment test makes, with a JWT from `POST /auth/token`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


@dataclass(frozen=True)
class RunRef:
    dag_id: str
    run_id: str

    @property
    def path(self) -> str:
        return f"/api/v2/dags/{self.dag_id}/dagRuns/{self.run_id}"


@dataclass
class AirflowApi:
    """An authenticated client of one api-server."""

    base_url: str
    username: str
    password: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=120)
        reply = self.client.post("/auth/token", json={"username": self.username, "password": self.password})
        reply.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def call(self, method: str, path: str, json: Any = None, expect: Iterable[int] = (200, 201)) -> Any:
        reply = self.client.request(method, path, json=json)
        if reply.status_code not in set(expect):
            raise AssertionError(f"{method} {path} answered {reply.status_code}: {reply.text[:2000]}")
        return reply.json() if reply.content else None

    # -- set-up -------------------------------------------------------------------------------
    def create_connection(self, conn_id: str, **fields: Any) -> None:
        self.call("POST", "/api/v2/connections", {"connection_id": conn_id, **fields})

    def create_pool(self, name: str, slots: int) -> None:
        self.call("POST", "/api/v2/pools", {"name": name, "slots": slots, "include_deferred": False})

    def test_connection(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/api/v2/connections/test", body)
        return result

    def wait_for_dags(self, dag_ids: Iterable[str], timeout_s: float = 120.0) -> None:
        """Until the dag-processor has parsed every DAG; an import error fails at once."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout_s
        while True:
            errors = self.call("GET", "/api/v2/importErrors")["import_errors"]
            if errors:
                raise AssertionError("DAG import errors:\n" + "\n".join(e["stack_trace"] for e in errors))
            known = {dag["dag_id"] for dag in self.call("GET", "/api/v2/dags?limit=100")["dags"]}
            if wanted <= known:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"DAGs never parsed: {sorted(wanted - known)}")
            time.sleep(1)

    # -- runs ---------------------------------------------------------------------------------
    def trigger(self, dag_id: str, logical_date: str | None, conf: dict[str, Any] | None = None) -> RunRef:
        body = {"logical_date": logical_date, "conf": conf or {}}
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
        return RunRef(dag_id, run["dag_run_id"])

    def run_state(self, run: RunRef) -> str:
        return str(self.call("GET", run.path)["state"])

    def task_instances(self, run: RunRef) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", f"{run.path}/taskInstances?limit=1000")[
            "task_instances"
        ]
        return result

    def xcom(self, run: RunRef, task_id: str, map_index: int = -1) -> Any:
        path = f"{run.path}/taskInstances/{task_id}/xcomEntries/return_value?map_index={map_index}"
        return self.call("GET", path)["value"]
