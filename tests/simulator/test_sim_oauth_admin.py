"""OAuth refresh, counters, the request log and the admin endpoints."""

from __future__ import annotations

import time

import pytest
import requests

from hubassoc_simulator import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TOKEN,
    Simulator,
    SimulatorConfig,
    SimulatorState,
)
from tests.support.sim_client import SimClient

GOOD = {
    "grant_type": "refresh_token",
    "client_id": DEFAULT_OAUTH_CLIENT_ID,
    "client_secret": DEFAULT_OAUTH_CLIENT_SECRET,
    "refresh_token": DEFAULT_REFRESH_TOKEN,
}


@pytest.fixture
def sim(simulator_factory) -> Simulator:
    return simulator_factory(SimulatorConfig(oauth_expires_in=1), SimulatorState.generate(10, 10, 1))


def test_oauth_refresh_issues_expiring_tokens(sim: Simulator) -> None:
    reply = requests.post(sim.url + "/oauth/v1/token", data=GOOD, timeout=5)
    assert reply.status_code == 200
    body = reply.json()
    assert body["expires_in"] == 1
    assert body["token_type"] == "bearer"
    assert body["token_use"] == "access_token"
    assert body["refresh_token"] == DEFAULT_REFRESH_TOKEN
    token = body["access_token"]
    labels = SimClient(sim, token=token).labels()
    assert labels.status_code == 200
    assert "X-HubSpot-RateLimit-Max" in labels.headers
    assert "X-HubSpot-RateLimit-Daily" not in labels.headers, "OAuth calls carry no daily headers"
    time.sleep(1.05)
    expired = SimClient(sim, token=token).labels()
    assert expired.status_code == 401
    assert expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    again = requests.post(sim.url + "/oauth/v1/token", data=GOOD, timeout=5).json()["access_token"]
    assert again != token
    assert SimClient(sim, token=again).labels().status_code == 200
    assert sim.counters()["by_endpoint"]["oauth_token"] == 2


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("refresh_token", "nope", "BAD_REFRESH_TOKEN"),
        ("client_id", "nope", "BAD_CLIENT_ID"),
        ("client_secret", "nope", "BAD_CLIENT_SECRET"),
        ("grant_type", "password", "BAD_GRANT_TYPE"),
    ],
)
def test_oauth_bad_values(sim: Simulator, field: str, value: str, status: str) -> None:
    reply = requests.post(sim.url + "/oauth/v1/token", data={**GOOD, field: value}, timeout=5)
    assert reply.status_code == 400
    assert reply.json()["status"] == status
    assert reply.json()["category"] == status
    assert reply.json()["correlationId"]


def test_client_credentials_grant_issues_a_token_without_refresh_token(sim: Simulator) -> None:
    form = {k: v for k, v in GOOD.items() if k != "refresh_token"} | {"grant_type": "client_credentials"}
    reply = requests.post(sim.url + "/oauth/v1/token", data=form, timeout=5)
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_use"] == "client_credentials"
    assert "refresh_token" not in body
    assert SimClient(sim, token=body["access_token"]).labels().status_code == 200
    refused = requests.post(sim.url + "/oauth/v1/token", data={**form, "client_secret": "nope"}, timeout=5)
    assert refused.json()["category"] == "BAD_CLIENT_SECRET"


def test_request_bodies_keep_api_bodies_never_oauth_secrets(sim: Simulator) -> None:
    requests.post(sim.url + "/oauth/v1/token", data=GOOD, timeout=5)
    SimClient(sim).archive([("1", ["1000001"])])
    SimClient(sim, version="v4").read(["1"])
    assert sim.request_bodies() == [
        ("2026-03", {"inputs": [{"from": {"id": "1"}, "to": [{"id": "1000001"}]}]}),
        ("v4", {"inputs": [{"id": "1"}]}),
    ]
    assert sim.request_bodies("batch_read") == [("v4", {"inputs": [{"id": "1"}]})]
    assert DEFAULT_OAUTH_CLIENT_SECRET not in repr(sim.request_bodies())
    sim.reset_counters()
    assert sim.request_bodies() == []


def test_counters_and_request_log(sim: Simulator) -> None:
    client = SimClient(sim)
    client.archive([("1", ["1000001", "1000002"]), ("2", ["1000001"])])
    client.archive_labels("1", "1000003", [("HUBSPOT_DEFINED", 1)])
    client.read(["1"])
    client.labels()
    SimClient(sim, token=None).labels()
    counters = sim.counters()
    assert counters["requests"] == 5
    assert counters["by_endpoint"] == {
        "batch_archive": 1,
        "labels_archive": 1,
        "batch_read": 1,
        "labels": 2,
        "batch_create": 0,
        "oauth_token": 0,
        "account_details": 0,
    }
    assert counters["by_status"] == {"200": 4, "401": 1}
    assert counters["archive_inputs"] == 3
    assert counters["archived_pairs"] == 4
    log = sim.request_log
    assert [r.endpoint for r in log] == ["batch_archive", "labels_archive", "batch_read", "labels", "labels"]
    assert log[0].inputs_count == 2
    assert log[0].method == "POST"
    assert log[0].api_version == "2026-03"
    assert all(DEFAULT_TOKEN not in repr(r) for r in log)
    sim.reset_counters()
    assert sim.counters()["requests"] == 0
    assert sim.request_log == []


def test_admin_endpoints(sim: Simulator) -> None:
    SimClient(sim).labels()
    counters = requests.get(sim.url + "/_sim/counters", timeout=5).json()
    assert counters["requests"] == 1
    snapshot = requests.get(sim.url + "/_sim/state", timeout=5).json()
    assert snapshot == sim.state.snapshot()
    assert len(snapshot["associations"]) == 10
    changed = requests.post(
        sim.url + "/_sim/config", json={"reply_mode": "200", "faults": {"schedule": {"2": "503"}}}, timeout=5
    )
    assert changed.status_code == 200
    assert changed.json()["reply_mode"] == "200"
    assert DEFAULT_TOKEN not in changed.text
    assert sim.config.reply_mode == "200"
    assert sim.config.faults.schedule == {2: "503"}
    assert requests.post(sim.url + "/_sim/config", json={"nope": 1}, timeout=5).status_code == 400
    assert requests.post(sim.url + "/_sim/config", json={"reply_mode": "x"}, timeout=5).status_code == 400
    assert SimClient(sim).labels().status_code == 503
    reset = requests.post(sim.url + "/_sim/reset-counters", timeout=5)
    assert reset.json()["requests"] == 0
    assert sim.counters()["requests"] == 0, "admin calls are not counted"


def test_configure_rejects_unknown_fields(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown config fields"):
        sim.configure(bogus=1)
    with pytest.raises(KeyError):
        sim.expire_token("never-issued")


def test_stop_closes_idle_keep_alive_connections(simulator_factory) -> None:
    sim = simulator_factory()
    session, url = requests.Session(), sim.url
    assert session.get(url + "/_sim/counters", timeout=5).status_code == 200
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/_sim/counters", timeout=2)


def test_plugin_fixtures(hubspot_simulator: Simulator, hubspot_conn: str) -> None:
    """The shared fixtures: a seeded simulator and the connection the hook's test_connection uses."""
    import os

    assert hubspot_simulator.state.association_count("contacts", "companies") == 100
    conn = os.environ["AIRFLOW_CONN_" + hubspot_conn.upper()]
    assert hubspot_simulator.url in conn
    assert SimClient(hubspot_simulator).labels().status_code == 200
