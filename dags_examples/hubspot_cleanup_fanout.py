"""Scale past one worker: split a large clean-up into partitions and archive them by mapping.

Each mapped task archives one partition. All of them call the same HubSpot account, so:
- the `hubspot_api` pool caps how many run at once across the whole deployment (create it with
  `airflow pools set hubspot_api 4 "HubSpot API calls"`);
- the account's rate budget is shared: every partition takes its requests from one rolling
  window, so together they stay under HubSpot's ten-secondly ceiling. On one machine (the
  default connection, no Redis) the window is a SQLite file every worker process there opens;
  across machines, name a Redis connection in the HubSpot connection's extras
  (`"rate_limit_redis_conn_id": "hubspot_rate_budget"`) and every worker shares it there.

Partitions are written through `ObjectStoragePath`: on a distributed executor, mapped tasks run on
other machines, so set `HUBSPOT_CLEANUP_PARTITION_DIR` to shared storage (`s3://bucket/prefix`,
`gs://...`); the local `file://` default only suits a single machine.

The error ratio is the whole clean-up's, not each partition's: one failed pair in a partition of 7
is 14%, but 1 of 25 overall is 4%. So partitions record (`on_error="ignore"`) and `judge_cleanup`
applies `max_error_ratio` to the sum of their summaries, with the same rule the operator uses
(`models.summary.error_policy_breach`). A partition still fails on its own when HubSpot stops it
(a fatal error, or its circuit breaker).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import ObjectStoragePath, dag, task

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator

DATA = Path(__file__).resolve().parent / "data"
POOL = "hubspot_api"
POOL_SLOTS = 4
MAX_ERROR_RATIO = 0.05  # of the whole clean-up
PARTITION_DIR = os.environ.get("HUBSPOT_CLEANUP_PARTITION_DIR", tempfile.gettempdir())


def storage_path(location: str) -> ObjectStoragePath:
    """A plain local path or a storage URI (`s3://...`), as one ObjectStoragePath."""
    return ObjectStoragePath(location if "://" in location else Path(location).resolve().as_uri())


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["hubspot", "example"],
    params={"pairs_file": str(DATA / "stale_contact_company_pairs.csv"), "partitions": POOL_SLOTS},
    doc_md=__doc__,
)
def hubspot_cleanup_fanout() -> None:
    @task
    def partition_pairs(params: dict[str, object] | None = None, run_id: str | None = None) -> list[str]:
        """Stream the export into N JSONL files; mapped tasks read them as streams too."""
        assert params is not None
        count = int(str(params["partitions"]))
        run_folder = f"hubspot_fanout_{(run_id or 'manual').replace(':', '_').replace('+', '_')}"
        folder = storage_path(PARTITION_DIR) / run_folder
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"part-{index:04d}.jsonl" for index in range(count)]
        handles = [path.open("w") for path in paths]
        try:
            with storage_path(str(params["pairs_file"])).open(newline="") as source:
                # readline: Airflow 2.11's object-storage file cannot be iterated line by line.
                for row in csv.DictReader(iter(source.readline, "")):
                    # Partition by `from` record so each record's pairs are grouped in one task.
                    handles[int(row["from_id"]) % count].write(
                        json.dumps({"from_id": row["from_id"], "to_id": row["to_id"]}) + "\n"
                    )
        finally:
            for handle in handles:
                handle.close()
        return [str(path) for path in paths]

    archive = HubSpotArchiveAssociationsOperator.partial(
        task_id="archive_partition",
        from_object_type="contacts",
        to_object_type="companies",
        pool=POOL,
        max_active_tis_per_dag=POOL_SLOTS,
        max_concurrency=4,
        on_error="ignore",  # record; judge_cleanup applies the ratio to the whole clean-up
    ).expand(inputs=partition_pairs())

    @task
    def judge_cleanup(summaries: list[dict[str, Any]]) -> dict[str, int]:
        """Fail when the whole clean-up's failed pairs break MAX_ERROR_RATIO."""
        from airflow.providers.common.compat.sdk import AirflowException

        from airflow_provider_hubassoc.models.summary import fan_out_breach

        parts = list(summaries)
        breach = fan_out_breach(parts, "threshold", MAX_ERROR_RATIO)
        totals = {key: sum(part["totals"][key] for part in parts) for key in parts[0]["totals"]}
        print(f"fan-out of {len(parts)} partitions: {totals}")
        if breach is not None:
            raise AirflowException(f"the clean-up as a whole: {breach}")
        return totals

    judge_cleanup(archive.output)


hubspot_cleanup_fanout()
