"""What the deployment test sets up through the REST API and which runs it triggers.

Every example DAG (each DAG that `dags_examples/*.py` defines) runs twice, once with a logical
date and once without (`"logical_date": null`, as the UI's and the REST API's manual runs may be).
The two sensor DAGs of `tests/deploy/dags` run once each against the delayed simulator, and the
fan-out example once more on the `LOAD_CONTACTS` block, in `FANOUT_LOAD_PARTITIONS` partitions
over the pool, on the default connection (no Redis: the machine-local budget). All runs
are triggered at once and followed by a `RunWatcher`; the tests then assert each scenario's outcome.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubassoc_simulator import DEFAULT_TOKEN
from tests.deploy.airflow_api import AirflowApi, RunRef
from tests.deploy.run_watch import RunWatcher
from tests.deploy.simulators import (
    DELAYED_RATE_LIMIT,
    REPO,
    Desired,
    LabelRemoval,
    Pair,
    Simulators,
    contact_company_pairs,
    label_ids,
    load_pairs,
    read_desired,
    write_pairs_csv,
)

EXAMPLE_DATA = REPO / "dags_examples" / "data"
# Examples that undo another run's work: triggered by the tests once the clean-ups finished.
UNDO_DAG = "hubspot_undo_cleanup"
DEFERRABLE_DAG = "hubassoc_deploy_sensor_deferrable"
RESCHEDULE_DAG = "hubassoc_deploy_sensor_reschedule"
LOGICAL_DATE = "2026-11-20T00:00:00Z"
POOL = "hubspot_api"
POOL_SLOTS = 4
DEFERRABLE_PAIRS = 10_000  # the read-back that must not block the triggerer's event loop
RESCHEDULE_PAIRS = 40
FANOUT_DAG = "hubspot_cleanup_fanout"
FANOUT_LOAD = "fanout_load"  # the key of the load run in Launch.runs
FANOUT_LOAD_PARTITIONS = 8


@dataclass
class Launch:
    watcher: RunWatcher
    example_dag_ids: list[str] = field(default_factory=list)
    runs: dict[str, list[RunRef]] = field(default_factory=dict)
    stale_pairs: list[Pair] = field(default_factory=list)
    label_removals: list[LabelRemoval] = field(default_factory=list)
    mirrored: Desired = field(default_factory=dict)
    deferrable_pairs: list[Pair] = field(default_factory=list)
    reschedule_pairs: list[Pair] = field(default_factory=list)
    load_pairs: list[Pair] = field(default_factory=list)

    @property
    def removed_from_examples(self) -> list[Pair]:
        """Every pair the example runs archive from the examples simulator."""
        return [*self.stale_pairs, *self.load_pairs]


def launch_runs(
    api: AirflowApi, sims: Simulators, root: Path, example_files: list[Path], alive: Callable[[], None]
) -> Launch:
    create_connections(api, sims, root)
    api.create_pool(POOL, POOL_SLOTS)
    launch = Launch(watcher=RunWatcher(AirflowApi(api.base_url, api.username, api.password), alive))
    launch.example_dag_ids = dag_ids_of(example_files)
    api.wait_for_dags([*launch.example_dag_ids, DEFERRABLE_DAG, RESCHEDULE_DAG])
    launch.stale_pairs = read_stale_pairs()
    launch.label_removals = read_label_removals(label_ids(sims.examples_before))
    launch.mirrored = read_desired(
        EXAMPLE_DATA / "desired_contact_companies.csv", label_ids(sims.examples_before)
    )
    _trigger_sensor_runs(api, sims, root, launch)
    for dag_id in launch.example_dag_ids:
        if dag_id != UNDO_DAG:
            trigger_both_kinds(launch, api, dag_id)
    _trigger_fanout_load(api, root, launch)
    launch.watcher.watch(run for runs in launch.runs.values() for run in runs)
    return launch


def trigger_both_kinds(
    launch: Launch, api: AirflowApi, dag_id: str, conf: dict[str, Any] | None = None
) -> None:
    """One run with a logical date, one without; both watched."""
    launch.runs[dag_id] = [api.trigger(dag_id, LOGICAL_DATE, conf), api.trigger(dag_id, None, conf)]
    launch.watcher.watch(launch.runs[dag_id])


def dag_ids_of(files: list[Path]) -> list[str]:
    """The DAG ids these files define, as Airflow finds them: a new example is run without a change here."""
    from airflow.dag_processing.dagbag import DagBag

    ids: list[str] = []
    for path in files:
        bag = DagBag(dag_folder=str(path))
        assert not bag.import_errors, bag.import_errors
        ids += sorted(bag.dag_ids)
    return ids


def create_connections(api: AirflowApi, sims: Simulators, root: Path) -> None:
    api.create_connection(
        "hubspot_default", conn_type="hubspot", host=sims.examples.url, password=DEFAULT_TOKEN
    )
    api.create_connection(
        "hubspot_delayed",
        conn_type="hubspot",
        host=sims.delayed.url,
        password=DEFAULT_TOKEN,
        extra=json.dumps({"rate_limit": DELAYED_RATE_LIMIT}),
    )
    # The warehouse example's SQL source: a SQLite file the DAG fills itself.
    api.create_connection("hubspot_warehouse", conn_type="sqlite", host=str(warehouse_db(root)))


def warehouse_db(root: Path) -> Path:
    return root / "warehouse.db"


def _trigger_sensor_runs(api: AirflowApi, sims: Simulators, root: Path, launch: Launch) -> None:
    """The sensors wait on the clock: trigger them first so they do not queue behind the examples."""
    pairs = contact_company_pairs(sims.delayed_before)
    launch.deferrable_pairs = pairs[:DEFERRABLE_PAIRS]
    launch.reschedule_pairs = pairs[-RESCHEDULE_PAIRS:]
    assert len(launch.deferrable_pairs) == DEFERRABLE_PAIRS
    assert not set(launch.deferrable_pairs) & set(launch.reschedule_pairs)
    report_dir = str(root / "sensor-reports")
    deferrable_conf = {
        "pairs_file": str(write_pairs_csv(root / "deferrable_pairs.csv", launch.deferrable_pairs)),
        "report_dir": report_dir,
    }
    reschedule_conf = {
        "pairs_file": str(write_pairs_csv(root / "reschedule_pairs.csv", launch.reschedule_pairs)),
        "report_dir": report_dir,
    }
    launch.runs[DEFERRABLE_DAG] = [api.trigger(DEFERRABLE_DAG, None, deferrable_conf)]
    launch.runs[RESCHEDULE_DAG] = [api.trigger(RESCHEDULE_DAG, LOGICAL_DATE, reschedule_conf)]


def _trigger_fanout_load(api: AirflowApi, root: Path, launch: Launch) -> None:
    """The fan-out example on 20,000 pairs in 8 partitions over the 4-slot pool, at the same time as
    every other example on the same account: issue 24's set-up, which drew 6.1% 429s without a
    budget shared by the machine's tasks."""
    launch.load_pairs = load_pairs()
    conf = {
        "pairs_file": str(write_pairs_csv(root / "fanout_load_pairs.csv", launch.load_pairs)),
        "partitions": FANOUT_LOAD_PARTITIONS,
    }
    launch.runs[FANOUT_LOAD] = [api.trigger(FANOUT_DAG, None, conf)]


def read_stale_pairs() -> list[Pair]:
    with (EXAMPLE_DATA / "stale_contact_company_pairs.csv").open(newline="") as handle:
        return [(row["from_id"], row["to_id"]) for row in csv.DictReader(handle)]


def read_label_removals(names: dict[str, tuple[str, int]]) -> list[LabelRemoval]:
    removals = []
    for line in (EXAMPLE_DATA / "label_cleanup.jsonl").read_text().splitlines():
        row = json.loads(line)
        removals.append((row["from_id"], row["to_id"], frozenset(names[label] for label in row["labels"])))
    return removals
