"""Restore memory stays flat (issue 23 item 4): peak RSS of an archive run and of a restore run of
the same size, side by side, at 100,000 and 1,000,000 pairs, each in a fresh process.

The archive report the restore undoes is written directly (a header with the account, one
snapshot and one `confirmed` pair line per pair), so the measure is the restore's own: reading
the report into its undo plan (a temporary SQLite file), the pair store, chunks and batch creates
against a simulator with no rate limit and no latency. The archive run, the baseline, sends the
same pairs from a CSV file. Goal: a restore at 1,000,000 pairs peaks at 200 MB or less.

    .venv/bin/python bench/restore_memory.py                    # 100k and 1M (about 3 minutes)
    .venv/bin/python bench/restore_memory.py --sizes 20000 --no-docs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import FROM_TYPE, TO_TYPE, emit, parse_result, write_docs_section  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- restore memory bench: begin -->", "<!-- restore memory bench: end -->"
GOAL_MB = 200
TO_OFFSET = 1_000_000  # the simulator's generated to ids start above this
UNLABELED = {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}


def pairs_of(n: int) -> tuple[int, Any]:
    """`records` of each side and the n pairs (from 1.., to 1000001..), a record's pairs together."""
    records = math.isqrt(n - 1) + 1
    return records, ((f, TO_OFFSET + t) for f in range(1, records + 1) for t in range(1, records + 1))


def write_inputs(directory: Path, n: int, portal_id: int) -> tuple[Path, Path]:
    _, pairs = pairs_of(n)
    csv_path, report = directory / f"pairs_{n}.csv", directory / f"archive_{n}.jsonl"
    header = {"kind": "header", "operation": "batch_archive", "fromObjectType": FROM_TYPE,
              "toObjectType": TO_TYPE, "apiVersion": "2026-03", "startedAt": "2026-12-08T00:00:00Z",
              "dryRun": False, "connId": "hubspot_default", "run": None,
              "account": {"portalId": portal_id, "unknownBecause": None}}  # fmt: skip
    with csv_path.open("w") as pairs_csv, report.open("w") as lines:
        pairs_csv.write("from_id,to_id\n")
        lines.write(json.dumps(header) + "\n")
        for count, (f, t) in enumerate(pairs):
            if count == n:
                break
            pairs_csv.write(f"{f},{t}\n")
            ids = {"op": "batch_archive", "fromId": str(f), "toId": str(t)}
            lines.write(
                json.dumps({"kind": "snapshot", **ids, "requested": None, "types": [UNLABELED]}) + "\n"
            )
            lines.write(
                json.dumps({"kind": "pair", **ids, "types": None, "status": "confirmed", "chunk": 0}) + "\n"
            )
    return csv_path, report


def child(mode: str, url: str, token: str, source: str, own_report: str) -> None:
    extra = {"rate_limit": 100_000, "max_batch_size": 100}
    os.environ["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(
        {"conn_type": "hubspot", "host": url, "password": token, "extra": extra}
    )
    from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
    from airflow_provider_hubassoc.operators.restore import HubSpotRestoreAssociationsOperator

    common: dict[str, Any] = {"batch_size": 100, "max_concurrency": 8, "on_error": "ignore"}
    operator: Any
    if mode == "restore":
        operator = HubSpotRestoreAssociationsOperator(
            task_id="restore", undo_report_path=source, report_path=own_report, snapshot=False, **common
        )
    else:
        operator = HubSpotArchiveAssociationsOperator(
            task_id="archive", from_object_type=FROM_TYPE, to_object_type=TO_TYPE, inputs=source,
            report_path=own_report, **common,
        )  # fmt: skip
    started = time.perf_counter()
    summary = operator.execute({})
    emit({"mode": mode, "wall_s": time.perf_counter() - started, "totals": summary["totals"]})


def measure(mode: str, url: str, source: Path, directory: Path) -> dict[str, Any]:
    from hubassoc_simulator.config import DEFAULT_TOKEN

    env = {**os.environ, "AIRFLOW_HOME": str(directory / "airflow_home"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    own = directory / f"{mode}_{source.stem}.own.jsonl"
    command = [sys.executable, __file__, "--child", mode, "--url", url, "--token", DEFAULT_TOKEN,
               "--source", str(source), "--own-report", str(own)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return parse_result(done.stdout)


def run_size(n: int, directory: Path) -> dict[str, Any]:
    from hubassoc_simulator.process import SimulatorProcess

    records, _ = pairs_of(n)
    portal = 62_000_001
    csv_path, report = write_inputs(directory, n, portal)
    args = ["--generate", str(records), "0", "1", "--rate-limit", "100000", "--max-inputs", "100"]
    with SimulatorProcess(args, start_timeout_s=120, log_path=directory / f"sim_{n}.log") as sim:
        archive = measure("archive", sim.url, csv_path, directory)
        restore = measure("restore", sim.url, report, directory)
    row = {"n": n, "archive": archive, "restore": restore}
    done = f"restored {restore['totals']['confirmed']:,} in {restore['wall_s']:.1f} s"
    print(f"  {n:>9,} pairs: archive peak {archive['peak_rss_kb'] / 1024:.0f} MB, "
          f"restore peak {restore['peak_rss_kb'] / 1024:.0f} MB ({done})", flush=True)  # fmt: skip
    return row


def section(rows: list[dict[str, Any]]) -> str:
    lines = [
        BEGIN,
        "## Restore memory (issue 23)",
        "",
        "`python bench/restore_memory.py`: peak RSS of one process running the archive operator",
        "(the baseline: its memory was already flat) and of one running the restore operator on a",
        "report of the same size (each pair one snapshot and one `confirmed` line), against a",
        "simulator without rate limit or latency, `batch_size=100`, `max_concurrency=8`, the",
        "restore's own report on, its snapshot off. Goal: a restore of 1,000,000 pairs at or",
        f"under {GOAL_MB} MB (before: 211 MB at 100k, 509 MB at 400k, about 1 GB per million).",
        "",
        "| pairs | archive peak RSS | restore peak RSS | restored | restore wall s | goal |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        restore = row["restore"]
        peak = restore["peak_rss_kb"] / 1024
        met = "met" if peak <= GOAL_MB else "NOT met"
        lines.append(
            f"| {row['n']:,} | {row['archive']['peak_rss_kb'] / 1024:.0f} MB | {peak:.0f} MB "
            f"| {restore['totals']['confirmed']:,} | {restore['wall_s']:.1f} | {met} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--child", choices=("archive", "restore"))
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--source")
    parser.add_argument("--own-report")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.url, args.token, args.source, args.own_report)
        return 0
    with tempfile.TemporaryDirectory(prefix="hubassoc-restore-memory-") as tmp:
        rows = [run_size(n, Path(tmp)) for n in args.sizes]
    text = section(rows)
    print(text)
    if not args.no_docs:
        write_docs_section(DOCS, BEGIN, END, text)
    return 0 if all(r["restore"]["peak_rss_kb"] / 1024 <= GOAL_MB for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
