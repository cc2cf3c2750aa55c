"""Run the simulator CLI in a child process: what `make demo` and the benchmarks need.

A separate process keeps the simulator's threads off the measured or demonstrated process, and
starting it through the CLI is exactly what a user does by hand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any


class SimulatorProcess:
    """`with SimulatorProcess(["--seed", path]) as sim:` gives `sim.url` of a ready simulator.

    `args` are CLI options beyond `--port 0 --ready-file`; output goes to `log_path`.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        start_timeout_s: float = 30.0,
        log_path: Path | None = None,
    ) -> None:
        self.args = list(args)
        self.start_timeout_s = start_timeout_s
        self._workdir = Path(tempfile.mkdtemp(prefix="hubassoc-sim-"))
        self.log_path = log_path or self._workdir / "simulator.log"
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> SimulatorProcess:
        ready = self._workdir / f"ready-{time.monotonic_ns()}.url"
        command = [sys.executable, "-m", "hubassoc_simulator", "--port", "0"]
        command += [*self.args, "--ready-file", str(ready)]
        with self.log_path.open("wb") as log:
            # Our own interpreter and module; args come from the caller, not from outside input.
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + self.start_timeout_s
        while not (ready.exists() and ready.read_text().strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = self.log_tail()  # read before stop() removes the temp folder
                self.stop()
                raise RuntimeError(f"the HubSpot simulator did not start:\n{output}")
            time.sleep(0.05)
        self.url = ready.read_text().strip().rstrip("/")
        return self

    def stop(self) -> None:
        """Stop the process this object started (terminate, then kill) and remove its temp folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def admin(self, path: str, timeout_s: float = 120.0) -> Any:
        """GET an admin endpoint (`state`, `counters`, `config`) and decode it."""
        with urllib.request.urlopen(f"{self.url}/_sim/{path}", timeout=timeout_s) as reply:  # noqa: S310 - loopback
            return json.load(reply)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
