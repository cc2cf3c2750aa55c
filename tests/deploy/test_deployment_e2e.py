"""The provider in a real Airflow 3 deployment, driven only through the REST API and a browser.

`make e2e` runs this module (issue 14): api-server, scheduler, dag-processor and triggerer as
separate processes (LocalExecutor, SQLite), two HubSpot simulators, every example DAG with and
without a logical date, both sensor modes against delayed visibility, the fan-out through a pool,
the connection form and the Test button in headless Chromium, and the connection test endpoint.
Tests run in file order; the runs they judge were all triggered at once by the `launch` fixture.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from hubassoc_simulator import DEFAULT_TOKEN
from tests.deploy.airflow_api import AirflowApi, RunRef
from tests.deploy.browser import AirflowUi
from tests.deploy.deployment import Deployment
from tests.deploy.run_watch import RunRecord, wait_all
from tests.deploy.scenario import (
    DEFERRABLE_DAG,
    FANOUT_LOAD,
    FANOUT_LOAD_PARTITIONS,
    POOL,
    RESCHEDULE_DAG,
    UNDO_DAG,
    Launch,
    trigger_both_kinds,
)
from tests.deploy.simulators import Simulators, contact_company_pairs, expected_state

# The first test also waits for the deployment to start (about a minute on 2 busy cores).
pytestmark = [pytest.mark.e2e_deploy, pytest.mark.timeout(420)]

RUN_TIMEOUT_S = 240  # per wait; the runs were all triggered at once and take about 3 minutes
BAD_TOKEN = "pat-na1-deploy-test-bad-token-0000"
BLOCKED_LOOP = "Triggerer's async thread was blocked"
TRIGGER_STARTUP_S = 2.0
SHORT_SECRET_WARNING = "Skipping masking for a secret"
MAX_429_SHARE = 0.005  # issue 24's goal: HubSpot asks for under 5% errors; we keep 429s under 0.5%
MACHINE_BUDGET = "HubSpot rate budget: shared by every task on this machine"


def finished(launch: Launch, dag_id: str) -> dict[RunRef, RunRecord]:
    return wait_all(launch.watcher, launch.runs[dag_id], RUN_TIMEOUT_S)


def assert_all_succeeded(records: dict[RunRef, RunRecord], deployment: Deployment) -> None:
    for run, record in records.items():
        failed = {key: state for key, state in record.final_states().items() if state != "success"}
        if record.state != "success" or failed:
            logs = [
                deployment.task_log(run.dag_id, run.run_id, *key)
                for key, s in failed.items()
                if s == "failed"
            ]
            excerpt = "\n".join(error_lines(text) for text in logs)
            raise AssertionError(f"{run.dag_id} {run.run_id}: {record.state} {failed}\n{excerpt}")


def error_lines(log: str, limit: int = 20) -> str:
    """The lines of a task log that say what went wrong (JSON or plain lines)."""
    hits = [line for line in log.splitlines() if re.search(r"error|exception|failed", line, re.IGNORECASE)]
    return "\n".join(line[:500] for line in hits[-limit:])


def totals_of(summary: dict[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = summary["totals"]
    done = totals["confirmed"] + totals["accepted"] + totals["failed"] + totals["skipped"]
    assert done == totals["requested"], totals
    return totals


# -- the connection form in a real browser (while the runs triggered by `launch` execute) --------


def test_connection_form_in_chromium_shows_every_provider_field(launch: Launch, ui: AirflowUi) -> None:
    from airflow_provider_hubassoc import get_provider_info

    (conn_type,) = get_provider_info()["connection-types"]
    behaviour, conn_fields = conn_type["ui-field-behaviour"], conn_type["conn-fields"]

    form = ui.connection_form(conn_type["hook-name"])

    assert form.chosen_type == conn_type["hook-name"]
    relabelled = behaviour.get("relabeling", {})
    assert set(relabelled) <= form.standard.inputs, form.standard
    assert set(relabelled.values()) <= form.standard.labels, form.standard
    # The Test button sends the stored port, and the API refuses a test whose port differs from it.
    assert {"host", "port", "password"} <= form.standard.inputs, form.standard
    shown = form.standard.inputs | form.extra.inputs
    assert not set(behaviour.get("hidden-fields", [])) & shown, shown
    assert {f"element_{name}" for name in conn_fields} <= form.extra.inputs, form.extra
    assert {spec["label"] for spec in conn_fields.values()} <= form.extra.labels, form.extra
    assert all(shot.stat().st_size > 10_000 for shot in form.screenshots)


def test_ui_test_button_passes_for_a_connection_with_its_port(
    launch: Launch, ui: AirflowUi, api: AirflowApi, simulators: Simulators
) -> None:
    url = urlsplit(simulators.examples.url)
    api.create_connection(
        "hubspot_with_port", conn_type="hubspot", host=url.geturl(), port=url.port, password=DEFAULT_TOKEN
    )
    assert ui.press_test_button("hubspot_with_port") == "green"


# -- the example DAGs, each run once with and once without a logical date ------------------------


def test_every_example_dag_succeeds_with_and_without_logical_date(
    launch: Launch, api: AirflowApi, deployment: Deployment
) -> None:
    assert {"hubspot_association_cleanup", "hubspot_label_cleanup", "hubspot_cleanup_fanout"} <= set(
        launch.example_dag_ids
    )
    for dag_id in launch.example_dag_ids:
        if dag_id != UNDO_DAG:  # the undo test runs it, on a clean-up's report
            assert_succeeded_both_kinds(launch, api, deployment, dag_id)


def assert_succeeded_both_kinds(launch: Launch, api: AirflowApi, deployment: Deployment, dag_id: str) -> None:
    records = finished(launch, dag_id)
    assert_all_succeeded(records, deployment)
    logical_dates = [api.call("GET", run.path)["logical_date"] for run in records]
    assert [date is None for date in logical_dates] == [False, True], (dag_id, logical_dates)


def test_association_cleanup_summaries(launch: Launch, api: AirflowApi) -> None:
    for run in finished(launch, "hubspot_association_cleanup"):
        totals = totals_of(api.xcom(run, "archive_stale_associations"))
        assert totals["requested"] == len(launch.stale_pairs)
        # The demo data name one contact (1999) that HubSpot no longer has: reported, not fatal.
        assert totals["failed"] == 1
        assert totals["confirmed"] + totals["accepted"] == len(launch.stale_pairs) - 1


def test_label_cleanup_summaries(launch: Launch, api: AirflowApi) -> None:
    for run in finished(launch, "hubspot_label_cleanup"):
        totals = totals_of(api.xcom(run, "remove_labels"))
        assert totals["requested"] == len(launch.label_removals)
        assert totals["confirmed"] + totals["accepted"] == len(launch.label_removals)


def test_fanout_ran_through_the_pool_and_judged_the_whole_cleanup(launch: Launch, api: AirflowApi) -> None:
    for run, record in finished(launch, "hubspot_cleanup_fanout").items():
        partitions = [key for key in record.final_states() if key[0] == "archive_partition"]
        assert len(partitions) >= 2, record.final_states()
        assert {record.tasks[key]["pool"] for key in partitions} == {POOL}
        summed: dict[str, int] = {}
        for _, map_index in partitions:
            for name, count in totals_of(api.xcom(run, "archive_partition", map_index)).items():
                summed[name] = summed.get(name, 0) + count
        # 1 failed pair of 25 is under the example's 5% only for the whole clean-up (14% of its partition).
        assert summed["requested"] == len(launch.stale_pairs)
        assert summed["failed"] == 1


def wait_for_the_examples(launch: Launch) -> None:
    """Every run on the examples' account but the undo: the clean-ups and the fan-out load."""
    for dag_id in [*(set(launch.example_dag_ids) - {UNDO_DAG}), FANOUT_LOAD]:
        finished(launch, dag_id)


def test_fanout_on_the_default_connection_shares_one_budget_per_machine(
    launch: Launch, api: AirflowApi, deployment: Deployment, simulators: Simulators
) -> None:
    """Issue 24: 8 partitions over a pool of 4, no Redis, beside every other example on the same
    100-per-10-s account: every pair removed, and at most 0.5% of the account's requests 429s."""
    ((run, record),) = finished(launch, FANOUT_LOAD).items()
    assert_all_succeeded({run: record}, deployment)
    partitions = sorted(key for key in record.final_states() if key[0] == "archive_partition")
    assert len(partitions) == FANOUT_LOAD_PARTITIONS, record.final_states()
    summed: dict[str, int] = {}
    for _, map_index in partitions:
        for name, count in totals_of(api.xcom(run, "archive_partition", map_index)).items():
            summed[name] = summed.get(name, 0) + count
    assert summed["requested"] == len(launch.load_pairs)
    assert summed["failed"] == 0, summed
    left = set(launch.load_pairs) & set(contact_company_pairs(simulators.examples.admin("state")))
    assert not left, f"{len(left)} pairs not removed, e.g. {sorted(left)[:5]}"
    for _, map_index in partitions:
        log = deployment.task_log(run.dag_id, run.run_id, "archive_partition", map_index)
        assert log.count(MACHINE_BUDGET) == 1, log[-2000:]
    wait_for_the_examples(launch)  # every client of the account is done: its whole traffic counts
    counters = simulators.examples.admin("counters")
    assert counters["requests"] >= len(launch.load_pairs) // 100, counters
    limited = counters["rate_limited"]
    share = limited / counters["requests"]
    print(f"examples account: {counters['requests']} requests, {limited} x 429 ({share:.2%})")
    assert limited <= MAX_429_SHARE * counters["requests"], counters


def test_examples_removed_exactly_the_asked_associations(
    launch: Launch, simulators: Simulators, deploy_root: Path
) -> None:
    wait_for_the_examples(launch)
    expected = expected_state(
        simulators.examples_before,
        deploy_root / "expected-examples.json",
        archived=launch.removed_from_examples,
        labels_archived=launch.label_removals,
        mirrored=launch.mirrored,
    )
    assert simulators.examples.admin("state") == expected


def test_undo_example_restores_only_what_a_cleanup_removed(
    launch: Launch, api: AirflowApi, deployment: Deployment, simulators: Simulators, deploy_root: Path
) -> None:
    """After every clean-up finished: undo the nightly clean-up's first run from its report.

    Four examples race over the same stale pairs, so which run's snapshot holds them varies; what
    must hold is that the undo re-creates nothing but stale pairs, each exactly as it was.
    """
    if UNDO_DAG not in launch.example_dag_ids:
        pytest.fail(f"{UNDO_DAG} is gone from dags_examples: update tests/deploy/scenario.py")
    wait_for_the_examples(launch)
    first = launch.runs["hubspot_association_cleanup"][0]
    report = api.xcom(first, "archive_stale_associations")["reportPath"]
    trigger_both_kinds(launch, api, UNDO_DAG, {"report_path": report})
    assert_succeeded_both_kinds(launch, api, deployment, UNDO_DAG)

    cleaned = expected_state(  # what the clean-ups left, as the test above checked
        simulators.examples_before,
        deploy_root / "expected-examples.json",
        archived=launch.removed_from_examples,
        labels_archived=launch.label_removals,
        mirrored=launch.mirrored,
    )
    before, after = simulators.examples_before, simulators.examples.admin("state")
    assert (after["records"], after["labels"]) == (before["records"], before["labels"])
    stale = set(launch.stale_pairs)

    def is_stale(edge: EdgeKey) -> bool:
        return (edge[1], edge[3]) in stale or (edge[3], edge[1]) in stale

    original, now, left = edges_of(before), edges_of(after), edges_of(cleaned)
    assert {k: v for k, v in now.items() if not is_stale(k)} == left  # nothing else touched
    # The seed holds contact -> company edges only; a re-created pair also gets its reverse edge.
    restored = {k: v for k, v in now.items() if is_stale(k) and k in original}
    assert all(original[k] == types for k, types in restored.items()), "a pair came back different"
    assert all((k[2], k[3], k[0], k[1]) in now for k in set(now) - set(original)), "a stray edge appeared"


EdgeKey = tuple[str, str, str, str]


def edges_of(snapshot: dict[str, Any]) -> dict[EdgeKey, frozenset[tuple[str, int]]]:
    """(fromType, fromId, toType, toId) -> the edge's label types, from a simulator snapshot."""
    return {
        (e["fromObjectType"], e["fromId"], e["toObjectType"], e["toId"]): frozenset(
            (t["category"], t["typeId"]) for t in e["types"]
        )
        for e in snapshot["associations"]
    }


# -- the status sensor, deferrable and in reschedule mode, against delayed visibility ------------


def json_events(log: str) -> list[dict[str, Any]]:
    """The structured lines of a task or trigger log."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def stamp(text: str) -> datetime:
    """The UTC time an ISO timestamp (`2026-11-26T08:58:36.000786Z`) names."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def lines_between(log: str, needle: str, started: datetime, ended: datetime) -> list[str]:
    """Lines of a component log that hold `needle` and are stamped within [started, ended]."""
    hits = [line for line in log.splitlines() if needle in line]
    return [line for line in hits if started <= stamp(line.split(" ", 1)[0]) <= ended]


def test_deferrable_sensor_defers_and_its_trigger_fires_without_blocking_the_loop(
    launch: Launch, deployment: Deployment
) -> None:
    (run,) = launch.runs[DEFERRABLE_DAG]
    record = finished(launch, DEFERRABLE_DAG)[run]
    assert_all_succeeded({run: record}, deployment)
    assert "deferred" in record.states_seen("confirm_removed"), record.seen
    trigger_log = deployment.task_log(run.dag_id, run.run_id, "confirm_removed", trigger=True)
    events = json_events(trigger_log)
    fired = [e for e in events if e["event"] == "Trigger fired event" and "'success'" in e["result"]]
    assert len(fired) == 1, trigger_log[-3000:]
    # Only the trigger's read-backs count: not other triggerer work, nor Airflow's own start of the
    # trigger (seen here: one 0.2-0.3 s stall within a second of "starting", before any read-back).
    started = stamp(events[0]["timestamp"]) + timedelta(seconds=TRIGGER_STARTUP_S)
    triggerer_log = deployment.component_log("triggerer")
    blocked = lines_between(triggerer_log, BLOCKED_LOOP, started, stamp(fired[0]["timestamp"]))
    pairs = len(launch.deferrable_pairs)
    assert not blocked, f"the trigger blocked the event loop reading back {pairs} pairs:\n" + "\n".join(
        blocked
    )


def test_reschedule_sensor_reschedules_then_succeeds(launch: Launch, deployment: Deployment) -> None:
    (record,) = finished(launch, RESCHEDULE_DAG).values()
    assert_all_succeeded({launch.runs[RESCHEDULE_DAG][0]: record}, deployment)
    assert "up_for_reschedule" in record.states_seen("confirm_removed"), record.seen
    assert record.tasks[("confirm_removed", -1)]["try_number"] == 1


def test_sensors_removed_exactly_the_asked_associations(
    launch: Launch, simulators: Simulators, deploy_root: Path
) -> None:
    finished(launch, DEFERRABLE_DAG)
    finished(launch, RESCHEDULE_DAG)
    expected = expected_state(
        simulators.delayed_before,
        deploy_root / "expected-delayed.json",
        archived=[*launch.deferrable_pairs, *launch.reschedule_pairs],
    )
    assert simulators.delayed.admin("state") == expected


# -- the connection: REST test endpoint, after the busy runs --------------------------------------


def test_connection_test_endpoint_tells_a_good_token_from_a_bad_one(
    launch: Launch, api: AirflowApi, simulators: Simulators
) -> None:
    body = {"connection_id": "hubspot_probe", "conn_type": "hubspot", "host": simulators.examples.url}
    good = api.test_connection(**body, password=DEFAULT_TOKEN)
    assert good["status"] is True, good
    bad = api.test_connection(**body, password=BAD_TOKEN)
    assert bad["status"] is False, bad
    assert re.search(r"INVALID_AUTHENTICATION|authenticat", bad["message"], re.IGNORECASE), bad
    assert BAD_TOKEN not in bad["message"]
    stored = api.test_connection(connection_id="hubspot_default", conn_type="hubspot")
    assert stored["status"] is True, stored


# -- logs, last: everything above has written its share ------------------------------------------


def test_no_token_in_any_log(launch: Launch, deployment: Deployment) -> None:
    for runs in launch.runs.values():
        wait_all(launch.watcher, runs, RUN_TIMEOUT_S)
    deployment.assert_running()  # no component died on the way
    logs = list(deployment.every_log_file())
    assert len(logs) > 10, "expected component logs and task logs"
    leaks = [
        f"{path}: {token[:8]}..."
        for path in logs
        for token in (DEFAULT_TOKEN, BAD_TOKEN)
        if token in path.read_text(errors="replace")
    ]
    assert leaks == []


def test_no_short_secret_warning_in_task_or_trigger_logs(launch: Launch, deployment: Deployment) -> None:
    """The provider hands the masker only values long enough to mask (issue 14, defect 8).

    The api-server's log is left out: the UI's Test button sends the redacted password `***`,
    which Airflow itself then declines to mask.
    """
    for runs in launch.runs.values():
        wait_all(launch.watcher, runs, RUN_TIMEOUT_S)
    task_logs = [path for path in deployment.every_log_file() if "dag_id=" in str(path)]
    assert task_logs, "no task logs"
    warned = [str(path) for path in task_logs if SHORT_SECRET_WARNING in path.read_text(errors="replace")]
    assert warned == [], f"the masker was handed a value too short to mask: {warned[:5]}"
