"""The CLI as a subprocess, and HubSpot's official SDK talking to the simulator."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from airflow_provider_hubassoc.simulator import DEFAULT_TOKEN, Simulator, SimulatorState
from tests.support import SimClient


def _start_cli(ready: Path, *args: str) -> subprocess.Popen[str]:
    """The CLI itself (not SimulatorProcess): these tests check its signals and its output."""
    command = [sys.executable, "-m", "airflow_provider_hubassoc.simulator", *args, "--ready-file", str(ready)]
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
        [sys.executable, "-m", "airflow_provider_hubassoc.simulator", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_official_sdk_archives_against_the_simulator(simulator_factory) -> None:
    from hubspot import HubSpot
    from hubspot.crm.associations.v4 import (
        AssociationSpec,
        BatchInputPublicAssociationMultiArchive,
        BatchInputPublicAssociationMultiPost,
        PublicAssociationMultiArchive,
        PublicAssociationMultiPost,
        PublicObjectId,
    )

    state = SimulatorState()
    state.add_association(
        "contacts", "1", "companies", "10", [("HUBSPOT_DEFINED", 279), ("HUBSPOT_DEFINED", 1)]
    )
    state.add_association("contacts", "2", "companies", "20")
    sim: Simulator = simulator_factory(None, state)
    api = HubSpot(access_token=DEFAULT_TOKEN, host=sim.url).crm.associations.v4.batch_api

    labels_input = BatchInputPublicAssociationMultiPost(
        inputs=[
            PublicAssociationMultiPost(
                _from=PublicObjectId(id="1"),
                to=PublicObjectId(id="10"),
                types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
            )
        ]
    )
    assert api.archive_labels("contacts", "companies", labels_input) is None
    assert state.labels_of("contacts", "1", "companies", "10") == {("HUBSPOT_DEFINED", 279)}

    archive_input = BatchInputPublicAssociationMultiArchive(
        inputs=[PublicAssociationMultiArchive(_from=PublicObjectId(id="2"), to=[PublicObjectId(id="20")])]
    )
    assert api.archive("contacts", "companies", archive_input) is None
    assert not state.has_association("contacts", "2", "companies", "20")
    assert [r.path for r in sim.request_log] == [
        "/crm/v4/associations/contacts/companies/batch/labels/archive",
        "/crm/v4/associations/contacts/companies/batch/archive",
    ]
    assert SimClient(sim).read(["1"]).json()["results"][0]["to"][0]["toObjectId"] == "10"
