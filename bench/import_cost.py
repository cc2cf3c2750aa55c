"""What a DAG file pays to import our operators, over importing `airflow.sdk` alone.

The scheduler's DAG processor re-imports DAG files all the time, so import cost is paid often.
Each sample is a fresh interpreter (nothing cached in `sys.modules`); baseline and ours alternate
so drift in machine load hits both alike. Medians, because a cold disk or a busy neighbour makes
single samples jump.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field

OUR_MODULES = (
    "airflow_provider_hubassoc.operators.archive",
    "airflow_provider_hubassoc.sensors.batch_status",
)
_PROBE = """
import time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
{ours}
t2 = time.perf_counter()
print(f"{{t1 - t0:.6f}} {{t2 - t1:.6f}}")
"""


@dataclass
class ImportCost:
    """Medians in ms; `overhead_ms` is the difference of medians the goal is judged on."""

    reps: int
    sdk_only_ms: float
    sdk_plus_ours_ms: float
    overhead_ms: float
    in_process_ms: float  # median of (ours after airflow.sdk) measured inside the same process
    top_modules: list[tuple[str, float]] = field(default_factory=list)


def _sample(ours: bool, env: dict[str, str]) -> tuple[float, float]:
    lines = "\n".join(f"import {m}" for m in OUR_MODULES) if ours else ""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(ours=lines)], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def top_modules(env: dict[str, str], limit: int = 8) -> list[tuple[str, float]]:
    """Modules first imported by our imports (after `airflow.sdk`), largest cumulative time first.

    From `python -X importtime`: shows which of our modules, and which third-party packages they
    pull in that `airflow.sdk` had not loaded already, the overhead comes from.
    """
    code = "import airflow.sdk\n" + "\n".join(f"import {m}" for m in OUR_MODULES)
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, check=True
    ).stderr
    rows: list[tuple[str, float]] = []
    after_sdk = False
    for line in err.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if not match:
            continue
        if not after_sdk:
            after_sdk = match.group(3) == "airflow.sdk" and match.group(2) == " "
            continue
        rows.append((match.group(3), int(match.group(1)) / 1000.0))
    return sorted(rows, key=lambda r: -r[1])[:limit]


def measure(reps: int, env: dict[str, str] | None = None) -> ImportCost:
    env = dict(os.environ if env is None else env)
    base: list[float] = []
    both: list[float] = []
    increments: list[float] = []
    for _ in range(reps):
        sdk, _nothing = _sample(False, env)
        base.append(sdk)
        sdk2, ours = _sample(True, env)
        both.append(sdk2 + ours)
        increments.append(ours)
    sdk_ms, both_ms = statistics.median(base) * 1000, statistics.median(both) * 1000
    return ImportCost(
        reps=reps,
        sdk_only_ms=sdk_ms,
        sdk_plus_ours_ms=both_ms,
        overhead_ms=both_ms - sdk_ms,
        in_process_ms=statistics.median(increments) * 1000,
        top_modules=top_modules(env) if reps >= 3 else [],  # one more process: skipped in smoke runs
    )


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
