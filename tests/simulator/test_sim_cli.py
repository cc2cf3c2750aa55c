"""The CLI as a subprocess (the official SDK against the simulator: tests/contract/test_official_sdk.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from hubassoc_simulator import DEFAULT_TOKEN, SimulatorState


def _start_cli(ready: Path, *args: str) -> subprocess.Popen[str]:
    """The CLI itself (not SimulatorProcess): these tests check its signals and its output."""
    command = [sys.executable, "-m", "hubassoc_simulator", *args, "--ready-file", str(ready)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen[str], ready: Path) -> str:
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the simulator did not start"
        time.sleep(0.05)
    return ready.read_text().strip()


def test_cli_starts_serves_and_stops(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SimulatorState.generate(5, 7, 2).snapshot()))
    ready = tmp_path / "ready"
    proc = _start_cli(ready, "--port", "0", "--seed", str(seed), "--rate-limit", "190", "--reply-mode", "200")
    try:
        url = _wait_ready(proc, ready)
        assert url.startswith("http://127.0.0.1:")
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        labels = requests.get(
            f"{url}/crm/associations/2026-03/contacts/companies/labels", headers=headers, timeout=5
        )
        assert labels.headers["X-HubSpot-RateLimit-Max"] == "190"
        assert len(requests.get(f"{url}/_sim/state", timeout=5).json()["associations"]) == 7
        archive = requests.post(
            f"{url}/crm/v4/associations/contacts/companies/batch/archive",
            headers=headers,
            json={"inputs": [{"from": {"id": "1"}, "to": [{"id": "1000001"}]}]},
            timeout=5,
        )
        assert archive.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"HubSpot simulator listening on {url}" in out
    assert DEFAULT_TOKEN not in out + err


def test_cli_sigint_and_generate(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = _start_cli(ready, "--generate", "4", "6", "1")
    try:
        url = _wait_ready(proc, ready)
        assert len(requests.get(f"{url}/_sim/state", timeout=5).json()["associations"]) == 6
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_cli_refuses_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hubassoc_simulator", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr
