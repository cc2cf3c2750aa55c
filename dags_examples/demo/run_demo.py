"""`make demo`: run the nightly clean-up DAG through real Airflow against the local simulator.

Starts the simulator seeded with demo data, points `hubspot_default` at it, migrates a
throw-away AIRFLOW_HOME, runs `airflow dags test hubspot_association_cleanup`, and prints
what was removed and what failed, checked against the simulator's own state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent
SEED = EXAMPLES / "data" / "demo_seed.json"
DAG_ID = "hubspot_association_cleanup"


def _pairs(state: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (a["fromId"], a["toId"])
        for a in state["associations"]
        if a["fromObjectType"] == "contacts" and a["toObjectType"] == "companies"
    }


def _latest_summary(report_dir: Path) -> dict[str, Any] | None:
    reports = sorted(report_dir.rglob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return None
    lines = reports[-1].read_text().splitlines()
    for line in reversed(lines):
        record = json.loads(line)
        if record.get("kind") == "summary":
            return {k: v for k, v in record.items() if k != "kind"}
    return None


def main() -> int:
    from hubassoc_simulator import DEFAULT_TOKEN
    from hubassoc_simulator.process import SimulatorProcess

    workdir = Path(tempfile.mkdtemp(prefix="hubassoc-demo-"))
    home, reports = workdir / "airflow_home", workdir / "reports"
    home.mkdir()
    reports.mkdir()
    with SimulatorProcess(["--seed", str(SEED)], log_path=workdir / "simulator.log") as simulator:
        url = simulator.url
        env = dict(os.environ)
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps(
                    {"conn_type": "hubspot", "host": url, "password": DEFAULT_TOKEN}
                ),
                "HUBSPOT_CLEANUP_REPORT_DIR": str(reports),
            }
        )
        before = _pairs(simulator.admin("state"))
        print(f"HubSpot simulator on {url}: {len(before)} contact->company associations seeded")
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
        )
        print(f"Airflow metadata database migrated in {time.monotonic() - started:.1f} s ({home})")
        log_path = workdir / "dags_test.log"
        run_started = time.monotonic()
        with log_path.open("w") as log:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "test", DAG_ID],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        took = time.monotonic() - run_started
        after = _pairs(simulator.admin("state"))
        counters = simulator.admin("counters")
        summary = _latest_summary(reports)
        _print_report(before, after, counters, summary, took, log_path, result.returncode)
        return result.returncode


def _print_report(
    before: set[tuple[str, str]],
    after: set[tuple[str, str]],
    counters: dict[str, Any],
    summary: dict[str, Any] | None,
    took: float,
    log_path: Path,
    returncode: int,
) -> None:
    removed = sorted(before - after)
    print()
    print(f"airflow dags test {DAG_ID}: {'success' if returncode == 0 else 'FAILED'} in {took:.1f} s")
    print(f"  removed {len(removed)} associations (simulator state {len(before)} -> {len(after)}):")
    for from_id, to_id in removed[:10]:
        print(f"    contact {from_id} -> company {to_id}")
    if len(removed) > 10:
        print(f"    ... and {len(removed) - 10} more")
    if summary:
        totals = summary["totals"]
        print(
            f"  operator totals: requested {totals['requested']}, confirmed {totals['confirmed']}, "
            f"accepted {totals['accepted']}, failed {totals['failed']}, skipped {totals['skipped']} "
            f"(done earlier {totals['doneEarlier']}), duplicates {totals['duplicates']}"
        )
        print(
            "    confirmed: HubSpot's reply (or a read-back) shows it done; accepted: answered 2xx "
            "without per-pair detail (the sensor's read-back confirms those)"
        )
        print(
            f"  batches: {summary['batches']} ({summary['batchStatuses']}), "
            f"API version {summary['apiVersion']}"
        )
        for failed in summary.get("failedSample", []):
            print(
                f"  failed: contact {failed['fromId']} -> company {failed['toId']}: "
                f"{failed['category']}: {failed['message']}"
            )
        print(f"  full per-pair report: {summary.get('reportPath')}")
    print(f"  HubSpot requests: {counters['requests']} {counters['by_endpoint']}")
    print(f"  Airflow log: {log_path}")


if __name__ == "__main__":
    raise SystemExit(main())
