"""The three cases of `make e2e-celery`, each on its own simulated HubSpot account.

One simulator per case (its own port, so its own account and its own counters) lets the cases run
at the same time and still be measured apart. Each simulator limits like a Professional account
(190 requests per rolling 10 s) and answers in 100-200 ms, as HubSpot does: one archive task (4
requests in flight) then asks for about 26 requests/s, more than the account's 19/s, so every
case is bound by the account's limit, never by the test. Each simulator holds more associations
than its case removes: the rest must still be there at the end.

`E2E_CELERY_SHARED_BUDGET=0` leaves the shared budget out of the connections: the same runs with
only each task's own rate window, to see what the budget saves (the 429 assertions then fail).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubassoc_simulator import DEFAULT_TOKEN
from hubassoc_simulator.process import SimulatorProcess
from tests.deploy.airflow_api import AirflowApi, RunRef
from tests.deploy.run_watch import RunWatcher
from tests.deploy.simulators import Pair, contact_company_pairs, write_pairs_csv
from tests.deploy_celery.harness import BudgetProbe
from tests.deploy_celery.names import (
    FANOUT_CONN_ID,
    FANOUT_DAG,
    POOL,
    POOL_SLOTS,
    SENSOR_CONN_ID,
    SENSOR_DAG,
    TWO_DAGS,
    TWO_DAGS_CONN_IDS,
)

ACCOUNT_LIMIT = 190  # requests per rolling 10 s: HubSpot's Professional tier
ACCOUNT_TIER = "professional"
RECORDS = 3000  # contacts and as many companies
KEEP_EVERY = 6  # every 6th pair stays: 5/6 of the associations are removed
LATENCY_MS, JITTER_MS = 100, 100
PARTITIONS = 8
# The sensor case's pairs stay readable this long after their archive: the sensors read back at
# once and find some still there, so the poke sensor pokes again and the deferred one defers.
VISIBILITY_DELAY_S = 15


@dataclass(frozen=True)
class CaseSpec:
    seed: int
    associations: int  # 5/6 removed, 50 per request
    extra_args: tuple[str, ...] = ()


CASES = {
    # 30,000 pairs, 600 requests: more than three account windows in two waves of 4 partitions.
    "fanout": CaseSpec(11, 36_000),
    # 20,000 pairs, 400 requests, half in each DAG.
    "two_dags": CaseSpec(12, 24_000),
    # 20,000 pairs, 400 requests: the archive leaves the account's window full for the sensors.
    "sensor": CaseSpec(13, 24_000, ("--visibility-delay", str(VISIBILITY_DELAY_S))),
}
REDIS_CONN_ID = "hubassoc_rate_redis"


@dataclass
class Case:
    """One account: its simulator, its state before, the pairs its runs remove, and the runs."""

    name: str
    simulator: SimulatorProcess
    before: dict[str, Any]
    removed: list[Pair]
    runs: list[RunRef] = field(default_factory=list)

    def counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = self.simulator.admin("counters")
        return counters


@dataclass
class Launch:
    """Every case, the watcher following their runs, and the probe sampling the shared budget."""

    cases: dict[str, Case]
    watcher: RunWatcher
    probe: BudgetProbe


def start_case(name: str, root: Path, started: list[SimulatorProcess]) -> Case:
    """A simulator for one case (appended to `started` before it runs, for the caller's teardown)."""
    spec = CASES[name]
    args = ["--generate", str(RECORDS), str(spec.associations), str(spec.seed), *spec.extra_args]
    args += [
        "--rate-limit",
        str(ACCOUNT_LIMIT),
        "--latency-ms",
        str(LATENCY_MS),
        "--jitter-ms",
        str(JITTER_MS),
    ]
    simulator = SimulatorProcess(args, log_path=root / f"simulator-{name}.log")
    started.append(simulator)
    simulator.start()
    before = simulator.admin("state")
    pairs = contact_company_pairs(before)
    assert len(pairs) == spec.associations, len(pairs)
    removed = [pair for index, pair in enumerate(pairs) if index % KEEP_EVERY != KEEP_EVERY - 1]
    return Case(name, simulator, before, removed)


def hubspot_extra() -> str:
    """The account's tier and the shared budget's store: what issue 15 asks users to set."""
    extra = {"rate_limit_tier": ACCOUNT_TIER, "rate_limit_redis_conn_id": REDIS_CONN_ID}
    if os.environ.get("E2E_CELERY_SHARED_BUDGET") == "0":
        del extra["rate_limit_redis_conn_id"]
    return json.dumps(extra)


def create_connections(api: AirflowApi, cases: dict[str, Case]) -> None:
    """One connection per case; the two-DAG case's two connection ids name the same account."""
    named = {FANOUT_CONN_ID: "fanout", SENSOR_CONN_ID: "sensor"}
    named.update(dict.fromkeys(TWO_DAGS_CONN_IDS, "two_dags"))
    for conn_id, case in named.items():
        url = cases[case].simulator.url
        api.create_connection(
            conn_id, conn_type="hubspot", host=url, password=DEFAULT_TOKEN, extra=hubspot_extra()
        )


def trigger_cases(api: AirflowApi, cases: dict[str, Case], root: Path) -> None:
    """Create the fan-out's pool, write each case's pairs files, and trigger every run at once."""
    api.create_pool(POOL, POOL_SLOTS)
    files = root / "pairs"
    files.mkdir(exist_ok=True)
    report_dir = str(root / "reports")

    def conf(**extra: Any) -> dict[str, Any]:
        return {"report_dir": report_dir, **extra}

    fanout = cases["fanout"]
    partitions = split(fanout.removed, PARTITIONS)
    partition_files = [
        str(write_pairs_csv(files / f"fanout-{index}.csv", part)) for index, part in enumerate(partitions)
    ]
    fanout.runs.append(api.trigger(FANOUT_DAG, None, conf(partition_files=partition_files)))

    two = cases["two_dags"]
    for index, (dag_id, part) in enumerate(zip(TWO_DAGS, split(two.removed, 2), strict=True)):
        pairs_file = write_pairs_csv(files / f"two-dags-{index}.csv", part)
        two.runs.append(api.trigger(dag_id, None, conf(pairs_file=str(pairs_file))))

    sensor = cases["sensor"]
    pairs_file = write_pairs_csv(files / "sensor.csv", sensor.removed)
    sensor.runs.append(api.trigger(SENSOR_DAG, None, conf(pairs_file=str(pairs_file))))


def split(pairs: list[Pair], parts: int) -> list[list[Pair]]:
    """By from record, as a user partitions: each record's pairs in one part."""
    out: list[list[Pair]] = [[] for _ in range(parts)]
    for pair in pairs:
        out[int(pair[0]) % parts].append(pair)
    return out
