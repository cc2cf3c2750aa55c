"""System test: the nightly clean-up's flow on a real HubSpot test account, then its undo.

The example DAGs in dags_examples/ name the simulator's seeded records, which a real account does
not have, so this DAG creates its own: a set-up task makes two contacts and two companies and
associates each contact with each company (HubSpot's REST API, not the provider under test).
Then, as `hubspot_association_cleanup` and `hubspot_undo_cleanup` do: the archive operator removes
the four associations with a snapshot and reads them back, the sensor confirms they are gone, the
restore operator re-creates them from the report, and a check reads them back. The tear-down task
deletes the four records whatever happened, and the watcher fails the run if any task failed.

Run: HUBSPOT_SYSTEM_TEST_TOKEN=pat-... .venv/bin/python -m pytest tests/system (docs/system-tests.md).
"""

from __future__ import annotations

import tempfile
import uuid
from typing import Any

import pendulum
import requests
from airflow.providers.common.compat.sdk import BaseHook, dag, setup, task, teardown

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator
from airflow_provider_hubassoc.sensors.batch_status import HubSpotBatchStatusSensor
from tests.system.utils import CONN_ID, get_test_run, watcher

DAG_ID = "example_hubspot_cleanup_undo"
API = "https://api.hubapi.com"
RUN_DIR = tempfile.mkdtemp(prefix="hubassoc-system-")
ARCHIVE_REPORT = f"{RUN_DIR}/archive.jsonl"


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {BaseHook.get_connection(CONN_ID).password}"
    return session


def _create(session: requests.Session, object_type: str, inputs: list[dict[str, Any]]) -> list[str]:
    reply = session.post(
        f"{API}/crm/v3/objects/{object_type}/batch/create", json={"inputs": inputs}, timeout=30
    )
    reply.raise_for_status()
    return [str(result["id"]) for result in reply.json()["results"]]


def _linked_pairs(
    session: requests.Session, contacts: list[str], companies: list[str]
) -> set[tuple[str, str]]:
    body = {"inputs": [{"id": contact} for contact in contacts]}
    reply = session.post(f"{API}/crm/v4/associations/contacts/companies/batch/read", json=body, timeout=30)
    reply.raise_for_status()
    linked = {(str(r["from"]["id"]), str(t["toObjectId"])) for r in reply.json()["results"] for t in r["to"]}
    return {pair for pair in linked if pair[1] in companies}


@dag(dag_id=DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def example_hubspot_cleanup_undo() -> None:
    @setup
    @task(multiple_outputs=True)
    def create_records() -> dict[str, Any]:
        tag = uuid.uuid4().hex[:10]
        with _session() as session:
            contacts = _create(
                session,
                "contacts",
                [{"properties": {"email": f"hubassoc-{tag}-{n}@example.com"}} for n in (1, 2)],
            )
            companies = _create(
                session, "companies", [{"properties": {"name": f"hubassoc {tag} {n}"}} for n in (1, 2)]
            )
            pairs = [{"from": {"id": c}, "to": {"id": k}} for c in contacts for k in companies]
            reply = session.post(
                f"{API}/crm/v4/associations/contacts/companies/batch/associate/default",
                json={"inputs": pairs},
                timeout=30,
            )
            reply.raise_for_status()
        return {
            "contacts": contacts,
            "companies": companies,
            "pairs": [{"from_id": c, "to_id": k} for c in contacts for k in companies],
        }

    records = create_records()

    archive = HubSpotArchiveAssociationsOperator(
        task_id="archive",
        hubspot_conn_id=CONN_ID,
        from_object_type="contacts",
        to_object_type="companies",
        inputs=records["pairs"],
        snapshot=True,
        read_back=True,
        report_path=ARCHIVE_REPORT,
    )
    confirm = HubSpotBatchStatusSensor(
        task_id="confirm", archive_task_id="archive", poke_interval=15, timeout=600, mode="poke"
    )
    undo = HubSpotRestoreAssociationsOperator(
        task_id="undo", undo_report_path=ARCHIVE_REPORT, report_path=f"{RUN_DIR}/undo.jsonl"
    )

    @task(retries=5, retry_delay=pendulum.duration(seconds=10))
    def check_restored(contacts: list[str], companies: list[str]) -> None:
        """HubSpot's reads lag its writes: retried until the four associations read back."""
        with _session() as session:
            linked = _linked_pairs(session, contacts, companies)
        expected = {(c, k) for c in contacts for k in companies}
        assert linked == expected, f"restored {sorted(linked)}, expected {sorted(expected)}"

    @teardown
    @task
    def delete_records(contacts: list[str], companies: list[str]) -> None:
        with _session() as session:
            for object_type, ids in (("contacts", contacts), ("companies", companies)):
                body = {"inputs": [{"id": record} for record in ids]}
                session.post(f"{API}/crm/v3/objects/{object_type}/batch/archive", json=body, timeout=30)

    restored = check_restored(records["contacts"], records["companies"])
    cleanup = delete_records(records["contacts"], records["companies"])
    records >> archive >> confirm >> undo >> restored >> cleanup
    [archive, confirm, undo, restored, cleanup] >> watcher()  # type: ignore[operator]


dag = example_hubspot_cleanup_undo()

test_run = get_test_run(dag)
