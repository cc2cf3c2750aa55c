"""`make bench`: how long an association clean-up takes, and whether it trips HubSpot's limits.

Runs the archive operator and two baselines (the official SDK, a plain requests loop) against a
fresh simulator per run, set up like a Professional private app, each client in a fresh process
so peak RSS is its own; measures import cost; prints a table and writes docs/benchmarks.md.

    .venv/bin/python bench/run_bench.py                      # 10,000 and 100,000 pairs (~10 min)
    .venv/bin/python bench/run_bench.py --sizes 10000 100000 1000000
    .venv/bin/python bench/run_bench.py --quick --out /tmp/bench.md   # smoke run, seconds
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import parse_result, write_workload  # noqa: E402
from bench.import_cost import ImportCost, measure  # noqa: E402
from bench.report import Bench, Run, load_bench, markdown, save_bench, stdout_report  # noqa: E402
from bench.sim_process import SimProcess, SimSettings  # noqa: E402

WINDOW_S = 10.0
RUNNERS = {
    "ours": "bench.runners.ours",
    "sdk": "bench.runners.sdk_baseline",
    "requests": "bench.runners.requests_baseline",
}
QUICK_SIZE = 500
SQL_SECTION = "<!-- sql-source bench: begin -->"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="pairs archived by ours")
    p.add_argument("--baseline-sizes", type=int, nargs="*", default=[10_000, 100_000],
                   help="pairs archived by each baseline (slow: sequential, latency-bound)")  # fmt: skip
    p.add_argument("--rate-limit", type=int, default=190, help="requests per rolling 10 s")
    p.add_argument("--latency-ms", type=float, default=150.0)
    p.add_argument("--jitter-ms", type=float, default=50.0)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--max-concurrency", type=int, default=8, help="ours: requests in flight")
    p.add_argument("--import-reps", type=int, default=9, help="fresh processes per import measurement")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--raw", type=Path, help="also save the measured runs as JSON here")
    p.add_argument(
        "--render", type=Path, metavar="RAW", help="re-render --out from a --raw file; measure nothing"
    )
    p.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_SIZE} pairs each, 1 import rep")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.baseline_sizes, args.import_reps = [QUICK_SIZE], [QUICK_SIZE], 1
    return args


def child_env(workdir: Path) -> dict[str, str]:
    """A throw-away AIRFLOW_HOME so neither the runs nor the import probes touch the user's."""
    env = dict(os.environ)
    home = workdir / "airflow_home"
    home.mkdir(exist_ok=True)
    env.update(
        {"AIRFLOW_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])}
    )
    env.pop("AIRFLOW_CONN_HUBSPOT_DEFAULT", None)
    return env


def run_one(client: str, n: int, seed: Path, pairs: Path, args: argparse.Namespace, workdir: Path) -> Run:
    """Fresh simulator, fresh client process; then read what the simulator saw."""
    from hubassoc_simulator.config import DEFAULT_TOKEN

    settings = SimSettings(args.rate_limit, args.latency_ms, args.jitter_ms, args.batch_size)
    ceiling = args.rate_limit * args.batch_size / WINDOW_S
    # Bound every run: the slowest honest client still does ~100 pairs/s here.
    timeout = 120 + n / 100
    sim = SimProcess(seed, settings, workdir, n)
    with sim:
        command = [
            sys.executable, "-m", RUNNERS[client], "--url", sim.url, "--token", DEFAULT_TOKEN,
            "--pairs", str(pairs), "--batch-size", str(args.batch_size),
            "--max-concurrency", str(args.max_concurrency), "--rate-limit", str(args.rate_limit),
            "--workdir", str(workdir),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=child_env(workdir), capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{client} at {n:,} exited {done.returncode}:\n{done.stderr[-3000:]}")
        child = parse_result(done.stdout)
        counters, remaining = sim.counters(), sim.remaining_pairs()
    print(f"  {client:>8} {n:>9,} pairs: {child['wall_s']:.1f} s "
          f"({time.monotonic() - started:.1f} s with start-up), {counters['requests']} requests, "
          f"{counters['rate_limited']} x 429, {remaining} left", flush=True)  # fmt: skip
    return Run(client, n, child, counters, remaining, ceiling)


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it (numbers belong to code)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "airflow_provider_hubassoc"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (" with uncommitted changes to airflow_provider_hubassoc/" if dirty else "")


def render(bench: Bench, out: Path) -> None:
    print()
    print(stdout_report(bench))
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = out.read_text(encoding="utf-8").partition(SQL_SECTION)[2] if out.exists() else ""
    extra = f"\n{SQL_SECTION}{kept}" if kept else ""  # bench/sql_source.py's section (and notes) stay
    out.write_text(markdown(bench) + extra, encoding="utf-8")
    print(f"\nwrote {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        render(load_bench(args.render), args.out)
        return 0
    started, started_at, code = time.monotonic(), datetime.now(timezone.utc), code_version()
    workdir = Path(tempfile.mkdtemp(prefix="hubassoc-bench-"))
    runs: list[Run] = []
    failures: list[str] = []
    try:
        for n in sorted(set(args.sizes) | set(args.baseline_sizes)):
            print(f"N = {n:,}: writing seed and pairs files", flush=True)
            seed, pairs = write_workload(workdir / f"n{n}", n)
            clients = (["ours"] if n in args.sizes else []) + (
                ["sdk", "requests"] if n in args.baseline_sizes else []
            )
            for client in clients:
                try:
                    runs.append(run_one(client, n, seed, pairs, args, workdir))
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    failures.append(f"{client} at {n:,}: {str(error).splitlines()[0]}")
                    print(f"  {client} at {n:,} FAILED: {error}", file=sys.stderr, flush=True)
            shutil.rmtree(workdir / f"n{n}", ignore_errors=True)
        imports: ImportCost | None = None
        if args.import_reps > 0:
            print(f"import cost: {args.import_reps} fresh processes each", flush=True)
            imports = measure(args.import_reps, child_env(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    given = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/run_bench.py" + "".join(f" {shlex.quote(a)}" for a in given)
    settings = {
        "rate_limit": args.rate_limit, "window_s": WINDOW_S, "batch_size": args.batch_size,
        "latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms, "max_concurrency": args.max_concurrency,
        "ceiling": args.rate_limit * args.batch_size / WINDOW_S, "failures": failures, "code": code,
    }  # fmt: skip
    bench = Bench(runs, imports, settings, command, started_at)
    bench.elapsed_s = time.monotonic() - started
    if args.raw:
        save_bench(bench, args.raw)
    render(bench, args.out)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
