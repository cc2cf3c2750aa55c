"""Regression tests for the simulator review: label-archive cascades, error handling, limits, ghosts."""

from __future__ import annotations

import http.client
import json
import threading
import time
from types import TracebackType
from typing import Any

import pytest
import requests

from hubassoc_simulator import (
    DEFAULT_TOKEN,
    FaultPlan,
    SimulatorConfig,
    SimulatorState,
    TokenSpec,
    endpoints,
)
from hubassoc_simulator.ratelimit import RateLimiter, seconds_to_utc_midnight
from tests.support.sim_client import SimClient

H = "HUBSPOT_DEFINED"
U = "USER_DEFINED"


def _seeded_one_way() -> SimulatorState:
    """Only companies 5 -> contacts 7, as seed files and `generate` store it (no mirrored edge)."""
    state = SimulatorState()
    state.define_label("companies", "contacts", U, 9, "Billing")
    state.add_association("companies", "5", "contacts", "7", [(H, 280), (H, 2), (U, 9)])
    return state


# ----- B5: label archive must not wipe a reverse edge whose forward edge never existed -------------
def test_label_archive_keeps_a_reverse_edge_that_was_never_mirrored() -> None:
    state = _seeded_one_way()
    state.archive_labels("contacts", "7", "companies", "5", {(H, 1)})
    assert state.labels_of("companies", "5", "contacts", "7") == {(H, 280), (U, 9)}, (
        "only the inverse label 2 goes"
    )
    assert not state.has_association("contacts", "7", "companies", "5")


def test_label_archive_over_http_keeps_the_other_labels(simulator_factory) -> None:
    sim = simulator_factory(None, _seeded_one_way())
    response = SimClient(sim).archive_labels("7", "5", [(H, 1)])
    assert response.status_code == 200
    assert sim.state.labels_of("companies", "5", "contacts", "7") == {(H, 280), (U, 9)}


def test_label_archive_still_cascades_when_the_forward_edge_empties() -> None:
    state = SimulatorState()
    state.add_association("contacts", "1", "companies", "2", [(H, 1)])
    state.add_association("companies", "2", "contacts", "1", [(H, 2), (U, 9)])
    state.archive_labels("contacts", "1", "companies", "2", {(H, 1)})
    assert state.association_count() == 0, "the forward edge existed and is gone: the reverse goes too"


def test_unlabeled_type_still_removes_every_label_of_an_unmirrored_pair() -> None:
    state = _seeded_one_way()
    state.archive_labels("contacts", "7", "companies", "5", {(H, 279)})
    assert state.association_count() == 0, "HubSpot: archiving the unlabeled type removes every label"


# ----- D1/B6: no request may kill the handler thread --------------------------------------------------
def test_unexpected_error_is_a_recorded_hubspot_500(
    simulator_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator_factory(None, _seeded_one_way())

    def boom(*args: Any, **kwargs: Any) -> endpoints.Outcome:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(endpoints, "labels", boom)
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    conn.request("GET", "/crm/v4/associations/contacts/companies/labels", headers=headers)
    failed = conn.getresponse()
    body = json.loads(failed.read())
    assert failed.status == 500
    assert (body["status"], body["category"]) == ("error", "INTERNAL_ERROR")
    assert body["correlationId"]
    assert "simulated bug" not in json.dumps(body), "no internals in the reply"
    conn.request(
        "POST", "/crm/v4/associations/contacts/companies/batch/read", body=b'{"inputs":[]}', headers=headers
    )
    after = conn.getresponse()
    after.read()
    assert after.status == 200, "the same keep-alive connection still works"
    conn.close()
    assert sim.counters()["by_status"] == {"500": 1, "200": 1}
    assert sim.counters()["by_endpoint"]["labels"] == 1
    first = sim.request_log[0]
    assert (first.status, first.endpoint, first.api_version) == (500, "labels", "v4")


@pytest.mark.parametrize(
    ("suffix", "body"),
    [
        (
            "batch/labels/archive",
            {
                "inputs": [
                    {
                        "from": {"id": "7"},
                        "to": {"id": "5"},
                        "types": [{"associationCategory": ["X"], "associationTypeId": 1}],
                    }
                ]
            },
        ),
        (
            "batch/labels/archive",
            {
                "inputs": [
                    {
                        "from": {"id": "7"},
                        "to": {"id": "5"},
                        "types": [{"associationCategory": {"a": 1}, "associationTypeId": 1}],
                    }
                ]
            },
        ),
        ("batch/read", {"inputs": [{"id": "7", "after": "\u00b2"}]}),
        ("batch/read", {"inputs": [{"id": "7", "after": "\u0661"}]}),
        ("batch/read", {"inputs": [{"id": "7", "after": ""}]}),
        ("batch/archive", b"[" * 100_000 + b"]" * 100_000),
        ("batch/read", b'{"inputs":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("batch/labels/archive", b"[" * 100_000 + b"]" * 100_000),
    ],
)
def test_hostile_bodies_are_400_validation_errors(simulator_factory, suffix: str, body: object) -> None:
    state = _seeded_one_way()
    sim = simulator_factory(None, state)
    response = SimClient(sim).post("contacts", "companies", suffix, body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert sim.state.labels_of("companies", "5", "contacts", "7") == {(H, 280), (H, 2), (U, 9)}


def test_admin_config_view_serializes_sets(simulator_factory) -> None:
    sim = simulator_factory()
    sim.configure(oauth_scopes=frozenset({"crm.objects.deals.read", "crm.objects.contacts.read"}))
    view = requests.get(sim.url + "/_sim/config", timeout=5)
    assert view.status_code == 200
    assert view.json()["oauth_scopes"] == ["crm.objects.contacts.read", "crm.objects.deals.read"]


def test_admin_config_changes_are_coerced_to_the_field_types(simulator_factory) -> None:
    sim = simulator_factory(None, _seeded_one_way())
    url = sim.url + "/_sim/config"
    changed = requests.post(
        url, json={"rate_limit": "50", "retry_after": "false", "oauth_scopes": ["b", "a"]}, timeout=5
    )
    assert changed.status_code == 200
    assert changed.json()["rate_limit"] == 50
    assert changed.json()["oauth_scopes"] == ["a", "b"]
    assert (sim.config.rate_limit, sim.config.retry_after) == (50, False)
    assert sim.config.oauth_scopes == frozenset({"a", "b"})
    limited = SimClient(sim).labels()
    assert limited.status_code == 200
    assert limited.headers["X-HubSpot-RateLimit-Max"] == "50"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rate_limit": "fifty"}, "rate_limit"),
        ({"rate_limit": True}, "rate_limit"),
        ({"rate_limit": 2.5}, "rate_limit"),
        ({"rate_limit": None}, "rate_limit"),
        ({"daily_limit": "lots"}, "daily_limit"),
        ({"retry_after": "maybe"}, "retry_after"),
        ({"host": 127}, "host"),
        ({"oauth_scopes": "crm.objects.contacts.read"}, "oauth_scopes"),
        ({"refresh_tokens": [1, 2]}, "refresh_tokens"),
        ({"faults": {"latency_ms": "slow"}}, "latency_ms"),
        ({"faults": {"error_statuses": "500"}}, "error_statuses"),
        ({"faults": {"schedule": {"one": "500"}}}, "schedule"),
        ({"faults": {"commit_on_error": 3}}, "commit_on_error"),
        ({"faults": "none"}, "faults"),
    ],
)
def test_unusable_admin_config_changes_are_refused(
    simulator_factory, change: dict[str, Any], field: str
) -> None:
    sim = simulator_factory(None, _seeded_one_way())
    before = sim.config
    refused = requests.post(sim.url + "/_sim/config", json=change, timeout=5)
    assert refused.status_code == 400
    assert refused.json()["category"] == "VALIDATION_ERROR"
    assert field in refused.json()["message"]
    assert sim.config is before, "a refused change leaves the config alone"
    assert SimClient(sim).labels().status_code == 200


def test_configure_coerces_and_refuses_like_the_admin_endpoint(simulator_factory) -> None:
    sim = simulator_factory()
    assert sim.configure(rate_limit="7", oauth_scopes={"x"}).rate_limit == 7
    assert isinstance(sim.config.oauth_scopes, frozenset)
    assert sim.configure(faults=FaultPlan(latency_ms=1)).faults.latency_ms == 1
    assert sim.configure(faults={"latency_ms": 0, "schedule": {"3": "502"}}).faults.schedule == {3: "502"}
    with pytest.raises(ValueError, match="rate_limit"):
        sim.configure(rate_limit="many")


# ----- B7: the scheduled 429-daily fault looks like the daily limiter's refusal --------------------
def _close_to_midnight(value: str) -> bool:
    expected = seconds_to_utc_midnight(time.time())
    return min(abs(int(value) - expected), 86_400 - abs(int(value) - expected)) <= 2


def test_scheduled_daily_429_matches_the_daily_limiter(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(daily_limit=1, faults=FaultPlan(schedule={1: "429-daily"})), None)
    client = SimClient(sim)
    fault = client.labels()
    assert (fault.status_code, fault.json()["policyName"]) == (429, "DAILY")
    assert _close_to_midnight(fault.headers["Retry-After"])
    assert fault.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    real = client.labels()
    assert (real.status_code, real.json()["policyName"]) == (429, "DAILY")
    assert _close_to_midnight(real.headers["Retry-After"])
    assert real.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_scheduled_daily_429_without_retry_after(simulator_factory) -> None:
    plan = FaultPlan(schedule={1: "429-daily"})
    sim = simulator_factory(SimulatorConfig(retry_after=False, faults=plan), None)
    fault = SimClient(sim).labels()
    assert fault.status_code == 429
    assert "Retry-After" not in fault.headers
    assert fault.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_scheduled_daily_429_for_oauth_has_no_daily_headers(simulator_factory) -> None:
    sim = simulator_factory(SimulatorConfig(faults=FaultPlan(schedule={1: "429-daily"})), None)
    sim.add_token("oauth-token", TokenSpec(oauth=True))
    fault = SimClient(sim, token="oauth-token").labels()
    assert fault.status_code == 429
    assert "X-HubSpot-RateLimit-Daily-Remaining" not in fault.headers


# ----- ghosts of archived pairs are pruned without being read -----------------------------------
def test_expired_ghosts_are_pruned_on_later_archives() -> None:
    state = SimulatorState()
    for i in range(1, 101):
        state.add_association("contacts", str(i), "companies", "1000", mirror=True)
    soon = time.monotonic() + 0.05
    for i in range(1, 101):
        state.archive_pair("contacts", str(i), "companies", "1000", ghost_until=soon)
    assert state.ghost_count() == 200, "both directions of 100 pairs are still visible to reads"
    assert [tid for tid, _ in state.read("contacts", "companies", "1")] == ["1000"]
    time.sleep(0.1)
    state.add_association("contacts", "1", "companies", "1001")
    state.archive_pair("contacts", "1", "companies", "1001")  # no delay: still sweeps
    assert state.ghost_count() == 0
    assert state.read("contacts", "companies", "1") == []


def test_a_renewed_ghost_is_not_pruned_early() -> None:
    state = SimulatorState()
    state.add_association("contacts", "1", "companies", "2", [(H, 279), (H, 1)])
    now = time.monotonic()
    state.archive_labels("contacts", "1", "companies", "2", {(H, 1)}, ghost_until=now + 0.05)
    state.archive_labels("contacts", "1", "companies", "2", {(H, 279)}, ghost_until=now + 60)
    time.sleep(0.1)
    state.archive_pair("contacts", "9", "companies", "9")
    assert state.ghost_count() == 1
    assert state.read("contacts", "companies", "1") == [("2", {(H, 1), (H, 279)})]


# ----- hot path ---------------------------------------------------------------------------------
class _CountingLock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.acquired = 0

    def __enter__(self) -> bool:
        self._lock.acquire()
        self.acquired += 1
        return True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()


@pytest.mark.parametrize("reply_mode", ["204", "alternate"])
def test_counters_lock_is_taken_once_per_api_request(simulator_factory, reply_mode: str) -> None:
    sim = simulator_factory(SimulatorConfig(reply_mode=reply_mode), _seeded_one_way())
    counting = _CountingLock()
    sim._counters.lock = counting  # type: ignore[assignment]
    client = SimClient(sim)
    assert client.labels().status_code == 200
    assert client.archive([("7", ["5"])]).status_code == 204
    assert counting.acquired == 2
    assert len(sim.request_bodies()) == 2, "the bodies are kept under that same single lock"


def test_daily_budget_resets_at_utc_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    import hubassoc_simulator.ratelimit as ratelimit

    limiter = RateLimiter()
    midnight = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    clock = [midnight - 0.5]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    assert limiter.check("k", 100, 10_000, 1, oauth=False).allowed
    refused = limiter.check("k", 100, 10_000, 1, oauth=False)
    assert (refused.allowed, refused.policy, refused.retry_after_s) == (False, "DAILY", 1)
    clock[0] = midnight
    again = limiter.check("k", 100, 10_000, 1, oauth=False)
    assert again.allowed
    assert again.daily_remaining == 0


# ----- the simulator keeps its own facts: it imports nothing from the provider ---------------------
def test_the_simulator_imports_nothing_from_the_provider() -> None:
    """A wrong fact in the provider must be caught by the simulator, not confirmed by it (issue 12)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import hubassoc_simulator.__main__\n"
        "import hubassoc_simulator.process\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'airflow_provider_hubassoc'))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_object_type_ids_come_from_the_simulators_own_table() -> None:
    from hubassoc_simulator import facts, state

    assert facts.OBJECT_TYPE_IDS["0-1"] == "contacts"
    assert facts.OBJECT_TYPE_IDS["0-2"] == "companies"
    assert all(state.canonical_type(type_id) == name for type_id, name in facts.OBJECT_TYPE_IDS.items())
    assert state.canonical_type("p1234_MyObject") == "p1234_MyObject", "either case in custom names"
    assert facts.DEFAULT_TYPE_IDS[("companies", "tickets")] == 340
