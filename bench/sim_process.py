"""A seeded simulator per measured run, set up like the account being imitated.

A fresh simulator per run means the rate window, the counters and the association store all
start empty, so one run's 429s or leftovers cannot leak into the next. Launching, readiness and
stopping are the package's `SimulatorProcess`; this adds the benchmark's settings and checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import FROM_TYPE, TO_TYPE
from hubassoc_simulator.process import SimulatorProcess


@dataclass(frozen=True)
class SimSettings:
    """The account the simulator imitates (defaults: a Professional private app)."""

    rate_limit: int = 190
    latency_ms: float = 150.0
    jitter_ms: float = 50.0
    max_inputs: int = 100


class SimProcess(SimulatorProcess):
    """`with SimProcess(seed, settings, workdir, n) as sim:` gives `sim.url` of a ready simulator."""

    def __init__(self, seed: Path, settings: SimSettings, workdir: Path, expected_pairs: int) -> None:
        s = settings
        args = ["--seed", str(seed), "--rate-limit", str(s.rate_limit), "--latency-ms", str(s.latency_ms)]
        args += ["--jitter-ms", str(s.jitter_ms), "--max-inputs", str(s.max_inputs)]
        super().__init__(
            args,
            # Loading the seed dominates start-up: allow over three minutes per million rows.
            start_timeout_s=30 + expected_pairs / 5_000,
            log_path=workdir / f"simulator_{seed.stem}.log",
        )

    def counters(self) -> dict[str, Any]:
        value: dict[str, Any] = self.admin("counters")
        return value

    def remaining_pairs(self) -> int:
        """Contact->company associations still stored: 0 means every seeded pair was archived."""
        state = self.admin("state", timeout_s=600)
        return sum(
            1
            for a in state.get("associations", [])
            if a.get("fromObjectType") in (FROM_TYPE, "0-1") and a.get("toObjectType") in (TO_TYPE, "0-2")
        )
