"""Start and stop a seeded simulator in its own process, and read its admin counters.

A fresh simulator per measured run means the rate window, the counters and the association
store all start empty, so one run's 429s or leftovers cannot leak into the next.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.common import FROM_TYPE, TO_TYPE


@dataclass(frozen=True)
class SimSettings:
    """The account the simulator imitates (defaults: a Professional private app)."""

    rate_limit: int = 190
    latency_ms: float = 150.0
    jitter_ms: float = 50.0
    max_inputs: int = 100


def get_json(url: str, timeout: float = 120.0) -> Any:
    """GET a loopback admin endpoint and decode it."""
    with urllib.request.urlopen(url, timeout=timeout) as reply:  # loopback only
        return json.load(reply)


class SimProcess:
    """`with SimProcess(seed, settings, workdir) as sim:` gives `sim.url` of a ready simulator."""

    def __init__(self, seed: Path, settings: SimSettings, workdir: Path, expected_pairs: int) -> None:
        self.seed, self.settings, self.workdir = seed, settings, workdir
        self.expected_pairs = expected_pairs
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / f"simulator_{seed.stem}_{time.monotonic_ns()}.log"

    def __enter__(self) -> SimProcess:
        ready = self.workdir / f"ready_{time.monotonic_ns()}.url"
        s = self.settings
        command = [
            sys.executable, "-m", "airflow_provider_hubassoc.simulator", "--port", "0",
            "--seed", str(self.seed), "--rate-limit", str(s.rate_limit),
            "--latency-ms", str(s.latency_ms), "--jitter-ms", str(s.jitter_ms),
            "--max-inputs", str(s.max_inputs), "--ready-file", str(ready),
        ]  # fmt: skip
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        # Loading the seed dominates start-up: allow over three minutes per million rows (loaded machine).
        deadline = time.monotonic() + 30 + self.expected_pairs / 5_000
        while not (ready.exists() and ready.read_text().strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"simulator did not start; log: {self._log}\n{self.log_tail()}")
            time.sleep(0.05)
        self.url = ready.read_text().strip().rstrip("/")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop only the process this object started."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def counters(self) -> dict[str, Any]:
        value: dict[str, Any] = get_json(f"{self.url}/_sim/counters")
        return value

    def remaining_pairs(self) -> int:
        """Contact->company associations still stored: 0 means every seeded pair was archived."""
        state = get_json(f"{self.url}/_sim/state", timeout=600)
        return sum(
            1
            for a in state.get("associations", [])
            if a.get("fromObjectType") in (FROM_TYPE, "0-1") and a.get("toObjectType") in (TO_TYPE, "0-2")
        )
