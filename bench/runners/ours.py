"""Our run: `HubSpotArchiveAssociationsOperator.execute()` on the pairs file, as a task would run it.

The connection comes from AIRFLOW_CONN_HUBSPOT_DEFAULT (set here, pointing at the simulator, with
the Professional tier so the client-side governor matches the account). A per-pair JSONL report
is written, as a production run would, because its cost is part of the answer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from bench.common import FROM_TYPE, TO_TYPE, emit, rss_kb
from bench.runners.args import parse


def run(
    url: str,
    token: str,
    pairs_path: Path,
    batch_size: int,
    max_concurrency: int,
    rate_limit: int,
    workdir: Path,
) -> dict[str, Any]:
    os.environ["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(
        {"conn_type": "hubspot", "host": url, "password": token, "extra": {"rate_limit": rate_limit}}
    )
    from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator

    report = workdir / f"report_{pairs_path.stem}.jsonl"
    report.unlink(missing_ok=True)  # a leftover checkpoint would skip chunks and flatter the numbers
    operator = HubSpotArchiveAssociationsOperator(
        task_id="bench_archive",
        from_object_type=FROM_TYPE,
        to_object_type=TO_TYPE,
        inputs=str(pairs_path),
        batch_size=batch_size,
        max_concurrency=max_concurrency,
        on_error="ignore",  # count failures instead of raising; the harness reports them
        report_path=str(report),
    )
    rss_before = rss_kb()
    started = time.perf_counter()
    summary = operator.execute({})
    wall = time.perf_counter() - started
    # Requests, retries and 429s are counted by the simulator (the harness reads its counters).
    totals = summary["totals"]
    return {
        "client": "ours",
        "wall_s": wall,
        "pairs": totals["requested"],
        "batches": summary["batches"],
        "failed_pairs": totals["failed"],
        "skipped_pairs": totals["skipped"],
        "confirmed_pairs": totals.get("confirmed", 0),
        "accepted_pairs": totals.get("accepted", 0),
        "summary_bytes": len(json.dumps(summary).encode()),  # default separators: the larger form
        "report_bytes": report.stat().st_size if report.exists() else 0,
        "rss_before_kb": rss_before,
    }


def main() -> None:
    args = parse(__doc__ or "")
    emit(
        run(
            args.url,
            args.token,
            args.pairs,
            args.batch_size,
            args.max_concurrency,
            args.rate_limit,
            args.workdir,
        )
    )


if __name__ == "__main__":
    main()
