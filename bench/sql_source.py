"""The SQL source against a CSV file: can reading pairs from PostgreSQL ever limit a clean-up?

The operator loads its whole input (streamed, validated, spilled to the pair store, digested)
before the first archive request, so the load time adds to the run: a run of N pairs takes
load + N / ceiling. This measures the load alone, `load_pairs(inputs, PairStore())` as the
operator calls it, for N pairs from a real PostgreSQL server (`SqlSource`, server-side cursor)
and from a CSV file, each in a fresh process (peak RSS is its own), and prints them side by side:

- rows/s of the load, and that rate as a multiple of the simulator's ceiling (1,900 pairs/s: a
  Professional app's 190 requests per 10 s x 100 pairs, as in bench/run_bench.py);
- the share of the ceiling a whole run keeps: (N / ceiling) / (load + N / ceiling);
- peak RSS, and what the load added to it.

    .venv/bin/python bench/sql_source.py                          # 100,000 and 1,000,000 pairs
    .venv/bin/python bench/sql_source.py --sizes 2000 --no-docs   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import TO_ID_OFFSET, emit, pair_ids, parse_result, rss_kb, write_docs_section  # noqa: E402

CEILING = 190 * 100 / 10.0  # pairs/s: bench/run_bench.py's Professional-like simulator
CONN_ID = "bench_warehouse"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- sql-source bench: begin -->", "<!-- sql-source bench: end -->"


# -- the child: one measured load ------------------------------------------------------------------


def child(source: str, n: int, location: str, fetch_size: int) -> None:
    # A task has Airflow loaded whatever its input: both sources start from the same baseline RSS.
    import airflow.providers.postgres.hooks.postgres  # noqa: F401

    from airflow_provider_hubassoc.batch.inputs import load_pairs
    from airflow_provider_hubassoc.batch.sql_source import SqlSource
    from airflow_provider_hubassoc.batch.store import PairStore

    if source == "postgres":
        sql = "SELECT from_id, to_id FROM pairs WHERE from_id <= %(n)s"
        inputs: Any = SqlSource(conn_id=CONN_ID, sql=sql, parameters={"n": n}, fetch_size=fetch_size)
    else:
        inputs = location
    before = rss_kb()
    started = time.perf_counter()
    with PairStore(directory=tempfile.gettempdir()) as store:
        report = load_pairs(inputs, store)
    wall = time.perf_counter() - started
    assert report.requested == n, report
    emit({"source": source, "n": n, "wall_s": wall, "rss_before_kb": before, "hwm_kb": high_water_kb()})


def high_water_kb() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: on Linux a child started by a large parent
    (this harness holds Airflow and psycopg2) inherits the parent's ru_maxrss across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


# -- the harness -----------------------------------------------------------------------------------


def write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("from_id,to_id\n")
        handle.writelines(f"{f},{t}\n" for f, t in pair_ids(n))


def measure(source: str, n: int, location: str, fetch_size: int, env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", source, "--n", str(n), "--location", location,
               "--fetch-size", str(fetch_size)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{source} at {n:,} exited {done.returncode}:\n{done.stderr[-3000:]}")
    result = parse_result(done.stdout)
    load = result["wall_s"]
    result.update(
        rate=n / load,
        times_ceiling=n / load / CEILING,
        run_share=(n / CEILING) / (load + n / CEILING),
        peak_mb=result["hwm_kb"] / 1024,
        added_mb=(result["hwm_kb"] - result["rss_before_kb"]) / 1024,
    )
    print(f"  {source:>8} {n:>9,} pairs: load {load:.1f} s, {result['rate']:,.0f} rows/s", flush=True)
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| N pairs | source | load s | rows/s | x ceiling | share of the ceiling a run keeps | peak RSS MB "
        "| load RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['n']:,} | {r['source']} | {r['wall_s']:.1f} | {r['rate']:,.0f} "
            f"| {r['times_ceiling']:.1f}x | {r['run_share']:.1%} | {r['peak_mb']:.0f} | {r['added_mb']:.1f} |"
        )
    return "\n".join(lines)


def section(results: list[dict[str, Any]], started: datetime, fetch_size: int, server: str) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"""{BEGIN}
## SQL source: pairs from PostgreSQL vs from a CSV file (`bench/sql_source.py`)

Measured {started:%Y-%m-%d %H:%M} UTC on {platform.platform()}, {os.cpu_count()} CPUs, Python
{platform.python_version()}, load average at the end {load}
(loading is CPU-bound: a busy machine slows both sources alike); {server};
`fetch_size={fetch_size}`. Re-run:
`.venv/bin/python bench/sql_source.py` (it rewrites this section only).

What is measured: the operator's input load alone, `load_pairs(inputs, PairStore())` as
`execute()` calls it (stream, validate each row with `PairInput`, spill to the pair store,
digest the pairs for the checkpoint), each in a fresh process. A full archive run of 1,000,000
pairs takes about 9 minutes at the ceiling per source, so the archive part is not repeated here:
the load happens before the first request, so a run takes load + N / ceiling, and "share of the
ceiling a run keeps" is (N / ceiling) / (load + N / ceiling), against 1,900 pairs/s.

{table(results)}

{verdicts(results)}
{END}"""


def verdicts(results: list[dict[str, Any]]) -> str:
    """The issue's two goals, judged on this run's rows."""
    pg = sorted((r for r in results if r["source"] == "postgres"), key=lambda r: r["n"])
    csv_rows = [r for r in results if r["source"] == "csv"]
    share = min(r["run_share"] for r in pg)
    growth = pg[-1]["hwm_kb"] / pg[0]["hwm_kb"]
    faster = all(
        p["rate"] >= c["rate"] for p, c in zip(pg, sorted(csv_rows, key=lambda r: r["n"]), strict=True)
    )
    return (
        f"- Throughput goal (a run keeps >= 95% of the ceiling): {'met' if share >= 0.95 else 'NOT met'} "
        f"in this run, lowest share {share:.1%}; PostgreSQL "
        f"{'at least as fast as' if faster else 'slower than'} the CSV file at every size.\n"
        f"- Memory goal (flat from {pg[0]['n']:,} to {pg[-1]['n']:,} pairs): "
        f"{'met' if growth <= 1.1 else 'NOT met'}, peak RSS x{growth:.2f} "
        f"({pg[0]['hwm_kb'] / 1024:.0f} -> {pg[-1]['hwm_kb'] / 1024:.0f} MB)."
    )


def write_docs(text: str) -> None:
    write_docs_section(DOCS, BEGIN, END, text)
    print(f"wrote the SQL source section of {DOCS}")


def run(sizes: list[int], fetch_size: int, docs: bool) -> int:
    from tests.support.postgres import PostgresServer

    started = datetime.now(timezone.utc)
    workdir = Path(tempfile.mkdtemp(prefix="hubassoc-sqlbench-"))
    server = PostgresServer.in_temporary_directory()
    try:
        biggest = max(sizes)
        server.execute(
            "DROP TABLE IF EXISTS pairs",
            "CREATE TABLE pairs (from_id BIGINT PRIMARY KEY, to_id BIGINT NOT NULL)",
            f"INSERT INTO pairs SELECT i, {TO_ID_OFFSET} + i FROM generate_series(1, {biggest}) AS i",
        )
        server.execute("ANALYZE pairs")
        env = {**os.environ, "AIRFLOW_HOME": str(workdir / "airflow_home"),
               f"AIRFLOW_CONN_{CONN_ID.upper()}": server.conn_json(),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
        results = []
        for n in sizes:
            csv_path = workdir / f"pairs_{n}.csv"
            write_csv(csv_path, n)
            results.append(measure("postgres", n, "", fetch_size, env))
            results.append(measure("csv", n, str(csv_path), fetch_size, env))
            csv_path.unlink()
        version = server.version()
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(results))
    if docs:
        write_docs(section(results, started, fetch_size, f"{version} (the pgserver wheel's binaries)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--fetch-size", type=int, default=10_000)
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    p.add_argument("--child", choices=("postgres", "csv"), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--location", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.n, args.location, args.fetch_size)
        return 0
    return run(args.sizes, args.fetch_size, not args.no_docs)


if __name__ == "__main__":
    sys.exit(main())
