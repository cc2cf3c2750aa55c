"""Association sync (issue 25): requests, throughput while writing, and memory, beside a baseline.

Workload: N current contact->company pairs (N/10 contacts x 10 companies, unlabeled; every 20th
also labelled "Old label") and N desired pairs: 10% of the current pairs dropped (removed whole),
N/10 new pairs (created), and the labelled 5% relabelled to "New label" (create the new label,
archive the old one). The sync runs in a fresh process (peak RSS is its own), through the same
engine calls the operator makes (`plan_sync`, then `execute_phases` with snapshot=True).

Baseline, in the same run: the minimum number of requests the batch sizes allow (one labels list,
one account read, ceil(scope / 1,000) batch reads, ceil(changes / 100) per write kind) and the
account's ceiling (190 requests per rolling 10 s). Goals: <= 5% above the minimum requests, >= 90%
of the ceiling while writing, and peak RSS flat from 100k to 1M desired pairs (`--memory`: a fast
simulator, no latency or rate limit, for the memory rows only).

    .venv/bin/python bench/sync.py                 # 100,000 pairs, plus memory at 100k and 1M
    .venv/bin/python bench/sync.py --n 5000 --memory-sizes 5000 --no-docs   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
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

from bench.common import FROM_TYPE, TO_ID_OFFSET, TO_TYPE, emit, parse_result, peak_rss_kb, write_docs_section  # noqa: E402
from bench.sim_process import SimProcess, SimSettings  # noqa: E402

WINDOW_S = 10.0
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- sync bench: begin -->", "<!-- sync bench: end -->"
PER_FROM = 10
OLD, NEW = ("USER_DEFINED", 36, "Old label"), ("USER_DEFINED", 37, "New label")
WRITES = ("batch_create", "labels_archive", "batch_archive")


# -- the workload ---------------------------------------------------------------------------------


def current_pairs(n: int) -> list[tuple[int, int, bool]]:
    """(from id, to id, labelled "Old label") for the N current pairs."""
    return [(i // PER_FROM + 1, TO_ID_OFFSET + i, i % 20 == 1) for i in range(n)]


def write_workload(workdir: Path, n: int) -> tuple[Path, Path, dict[str, int]]:
    """The simulator's JSON seed, the desired CSV, and the expected difference."""
    froms = n // PER_FROM
    seed: dict[str, Any] = {
        "records": {
            FROM_TYPE: [str(f) for f in range(1, froms + 1)],
            TO_TYPE: [str(TO_ID_OFFSET + i) for i in range(n + froms)],
        },
        "labels": [
            {"fromObjectType": FROM_TYPE, "toObjectType": TO_TYPE, "category": c, "typeId": t, "label": name}
            for c, t, name in (OLD, NEW)
        ],
        "associations": [],
    }
    desired = workdir / "desired.csv"
    counts = {"create": 0, "relabel": 0, "remove": 0}
    with desired.open("w", encoding="utf-8") as out:
        out.write("from_id,to_id,label\n")
        for i, (f, t, labelled) in enumerate(current_pairs(n)):
            types = [{"category": "HUBSPOT_DEFINED", "typeId": 279}]
            if labelled:
                types.append({"category": OLD[0], "typeId": OLD[1]})
            seed["associations"].append(
                {
                    "fromObjectType": FROM_TYPE,
                    "fromId": str(f),
                    "toObjectType": TO_TYPE,
                    "toId": str(t),
                    "types": types,
                }
            )
            if i % PER_FROM == 0:  # 10% not desired any more: removed
                counts["remove"] += 1
                continue
            out.write(f"{f},{t},{NEW[2] if labelled else ''}\n")
            counts["relabel"] += labelled
        for f in range(1, froms + 1):  # one new company per contact: created
            out.write(f"{f},{TO_ID_OFFSET + n + f - 1},\n")
            counts["create"] += 1
    seed_path = workdir / "seed.json"
    seed_path.write_text(json.dumps(seed))
    return seed_path, desired, counts


def minimum_requests(n: int, counts: dict[str, int], batch: int = 100, read_batch: int = 1000) -> int:
    scope = n // PER_FROM
    creates = counts["create"] + counts["relabel"]
    writes = sum(math.ceil(x / batch) for x in (creates, counts["relabel"], counts["remove"]))
    return 1 + 1 + math.ceil(scope / read_batch) + writes  # labels list, account, reads, writes


# -- the child: one sync ----------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries the parent's peak at the
    fork over an exec into it, so a child of a harness that built a 1M-pair seed would report that."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return peak_rss_kb() / 1024
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def child(url: str, token: str, desired: str, report: str, rate_limit: int) -> None:
    os.environ["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(
        {"conn_type": "hubspot", "host": url, "password": token, "extra": {"rate_limit": rate_limit}}
    )
    from airflow_provider_hubassoc.batch.run import execute_phases
    from airflow_provider_hubassoc.batch.sender import StopSignal
    from airflow_provider_hubassoc.batch.settings import RunSettings, Target
    from airflow_provider_hubassoc.batch.sync import SyncRequest, header_of, plan_sync
    from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook

    client = HubSpotHook("hubspot_default").get_conn()
    target = Target(client, FROM_TYPE, TO_TYPE)
    settings = RunSettings(
        batch_size=100, max_concurrency=8, on_error="ignore", report_path=report, snapshot=True
    )
    started = time.perf_counter()
    plan = plan_sync(target, SyncRequest(desired), max_concurrency=8)
    planned = time.perf_counter()
    plan_peak_mb = peak_rss_mb()
    with plan:
        header = {**header_of(plan.stats), "account": client.account().to_json()}
        result = execute_phases(
            settings, plan.phases(dry_run=False), target, stop=StopSignal(), header=header, kind="sync"
        )
    done = time.perf_counter()
    emit(
        {
            "plan_s": planned - started,
            "write_s": done - planned,
            "wall_s": done - started,
            "totals": result.summary["totals"],
            "sync": plan.stats.to_json(),
            "peak_rss_mb": peak_rss_mb(),
            "plan_peak_mb": plan_peak_mb,  # peak RSS once the difference is computed, before any write
        }
    )


# -- the harness ------------------------------------------------------------------------------------


def measure(n: int, settings: SimSettings, rate_limit: int) -> dict[str, Any]:
    from hubassoc_simulator.config import DEFAULT_TOKEN

    workdir = Path(tempfile.mkdtemp(prefix="hubassoc-syncbench-"))
    try:
        (workdir / "airflow_home").mkdir()
        seed, desired, counts = write_workload(workdir, n)
        with SimProcess(seed, settings, workdir, n) as sim:
            env = {**os.environ, "AIRFLOW_HOME": str(workdir / "airflow_home"),
                   "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
            env.pop("AIRFLOW_CONN_HUBSPOT_DEFAULT", None)
            command = [sys.executable, __file__, "--child", "--url", sim.url, "--token", DEFAULT_TOKEN,
                       "--desired", str(desired), "--report", str(workdir / "sync.jsonl"),
                       "--rate-limit", str(rate_limit)]  # fmt: skip
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"sync exited {done.returncode}:\n{done.stderr[-3000:]}")
            result = parse_result(done.stdout)
            counters = sim.counters()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    by = counters["by_endpoint"]
    result.update(
        n=n,
        counts=counts,
        requests=counters["requests"],
        writes=sum(int(by.get(e, 0)) for e in WRITES),
        reads=int(by.get("batch_read", 0)),
        rate_limited=counters["rate_limited"],
        minimum=minimum_requests(n, counts),
    )
    return result


def rows(main: dict[str, Any], ceiling_rps: float) -> str:
    write_rps = main["writes"] / main["write_s"]
    over = main["requests"] / main["minimum"] - 1
    reads = math.ceil(main["n"] / PER_FROM / 1000)
    least = main["minimum"]
    share = write_rps / ceiling_rps
    lines = [
        "| | requests | of which writes | reads | 429s | write phase s | requests/s while writing "
        "| % ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| baseline: minimum the batch sizes allow | {least:,} | {least - 2 - reads:,} | {reads} | 0 "
        f"| {main['writes'] / ceiling_rps:.1f} | {ceiling_rps:.1f} | 100% |",
        f"| ours: the sync operator's engine | {main['requests']:,} ({over:+.1%}) | {main['writes']:,} "
        f"| {main['reads']} | {main['rate_limited']} | {main['write_s']:.1f} | {write_rps:.1f} "
        f"| {share:.1%} |",
    ]
    return "\n".join(lines)


def section(main: dict[str, Any], memory: list[dict[str, Any]], ceiling_rps: float, started: datetime) -> str:
    write_rps = main["writes"] / main["write_s"]
    over = main["requests"] / main["minimum"] - 1
    sync = main["sync"]
    mem = "\n".join(
        f"| {m['n']:,} | {m['peak_rss_mb']:.0f} | {m['wall_s']:.1f} | {m['totals']['failed']} |"
        for m in memory
    )
    flat = memory[-1]["peak_rss_mb"] / memory[0]["peak_rss_mb"] if len(memory) > 1 else float("nan")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"""{BEGIN}
## Association sync (`bench/sync.py`)

Measured {started:%Y-%m-%d %H:%M} UTC on {platform.platform()}, {os.cpu_count()} CPUs, Python
{platform.python_version()}, load average at the end {load}. Simulator as above (190 requests per
rolling 10 s, 150 +- 50 ms latency, 100 inputs per request). {main["n"]:,} desired pairs against
{main["n"]:,} current ones in {main["n"] // PER_FROM:,} contacts: {sync["toCreate"]:,} to create,
{sync["toRemove"]:,} to remove, {sync["toRelabel"]:,} to relabel, {sync["unchanged"]:,} unchanged;
`batch_size=100`, `max_concurrency=8`, snapshot on (a real sync always is). Re-run:
`.venv/bin/python bench/sync.py` (rewrites this section only).

{rows(main, ceiling_rps)}

- Requests: {over:+.1%} against the minimum (goal <= +5%: {"met" if over <= 0.05 else "NOT met"}). The
  snapshot costs no request: each phase records what the plan's own read saw before the first write.
- Throughput while writing: {write_rps / ceiling_rps:.1%} of the ceiling (goal >= 90%:
  {"met" if write_rps / ceiling_rps >= 0.9 else "NOT met"}); planning (reading the scope and the
  difference in SQLite) took {main["plan_s"]:.1f} s of the {main["wall_s"]:.1f} s. Failed pairs:
  {main["totals"]["failed"]}.

Peak RSS of the sync process (fresh process per size; a fast simulator without latency or rate
limit, so only memory is compared):

| desired pairs | peak RSS MB | wall s | failed |
|---:|---:|---:|---:|
{mem}

Memory flat: {flat:.2f}x from the smallest to the largest size (the desired rows, the scope's
current state and the difference live in SQLite files; at most one read group is in memory).
{END}"""


def run(n: int, memory_sizes: list[int], docs: bool) -> int:
    started = datetime.now(timezone.utc)
    settings = SimSettings()
    ceiling_rps = settings.rate_limit / WINDOW_S
    main = measure(n, settings, settings.rate_limit)
    print(rows(main, ceiling_rps), flush=True)
    fast = SimSettings(rate_limit=1_000_000, latency_ms=0.0, jitter_ms=0.0)
    memory = []
    for size in memory_sizes:
        memory.append(measure(size, fast, 100_000))
        last = memory[-1]
        print(
            f"  {size:,} desired pairs: peak RSS {last['peak_rss_mb']:.0f} MB, {last['wall_s']:.1f} s",
            flush=True,
        )
    text = section(main, memory, ceiling_rps, started)
    if docs:
        write_docs_section(DOCS, BEGIN, END, text)
        print(f"wrote the sync section of {DOCS}")
    else:
        print(text)
    return 0 if main["totals"]["failed"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="desired (and current) pairs")
    p.add_argument("--memory-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("--url", "--token", "--desired", "--report"):
        p.add_argument(name, default="", help=argparse.SUPPRESS)
    p.add_argument("--rate-limit", type=int, default=190, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.url, args.token, args.desired, args.report, args.rate_limit)
        return 0
    return run(args.n, args.memory_sizes, not args.no_docs)


if __name__ == "__main__":
    sys.exit(main())
