"""Run one batch-archive operator in its own process, so a test can kill it mid-run.

Usage: python crash_runner.py PAIRS_JSON REPORT_PATH BATCH_SIZE
The connection comes from AIRFLOW_CONN_HUBSPOT_DEFAULT in the environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

# The task instance of one DAG run: every attempt (the killed ones and the re-run) is a retry of it.
TASK = SimpleNamespace(dag_id="cleanup", task_id="archive", run_id="run-1", map_index=-1)


def main() -> None:
    from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator

    pairs_file, report, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    op = HubSpotArchiveAssociationsOperator(
        task_id="archive",
        from_object_type="contacts",
        to_object_type="companies",
        inputs=json.loads(Path(pairs_file).read_text()),
        report_path=report,
        batch_size=batch_size,
        max_concurrency=1,
    )
    op.execute({"ti": TASK})  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
