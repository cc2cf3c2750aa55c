"""Scale past one worker: split a large clean-up into partitions and archive them by mapping.

Each mapped task archives one partition. All of them call the same HubSpot account, so:
- the `hubspot_api` pool caps how many run at once across the whole deployment (create it with
  `airflow pools set hubspot_api 4 "HubSpot API calls"`);
- `rate_limit_share` gives each task its share of the account's rate limit (4 slots -> 0.25),
  so together they stay under HubSpot's ten-secondly ceiling on Celery or Kubernetes executors.

Partitions are written through `ObjectStoragePath`: on a distributed executor, mapped tasks run on
other machines, so set `HUBSPOT_CLEANUP_PARTITION_DIR` to shared storage (`s3://bucket/prefix`,
`gs://...`); the local `file://` default only suits a single machine.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task

from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator

DATA = Path(__file__).resolve().parent / "data"
POOL = "hubspot_api"
POOL_SLOTS = 4
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
                for row in csv.DictReader(source):
                    # Partition by `from` record so each record's pairs are grouped in one task.
                    handles[int(row["from_id"]) % count].write(
                        json.dumps({"from_id": row["from_id"], "to_id": row["to_id"]}) + "\n"
                    )
        finally:
            for handle in handles:
                handle.close()
        return [str(path) for path in paths]

    HubSpotArchiveAssociationsOperator.partial(
        task_id="archive_partition",
        from_object_type="contacts",
        to_object_type="companies",
        pool=POOL,
        max_active_tis_per_dag=POOL_SLOTS,
        rate_limit_share=1 / POOL_SLOTS,
        max_concurrency=4,
        on_error="threshold",
        max_error_ratio=0.05,
    ).expand(inputs=partition_pairs())


hubspot_cleanup_fanout()
