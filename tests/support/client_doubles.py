"""For tests of the HTTP client and the hook: fixed URLs, a fake clock, reply bodies, Pair builders
and a client on the fake clock (retries and refreshes without waiting). Airflow-free."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CLIENT_BASE = "https://api.hubapi.test"
CLIENT_TOKEN = "pat-na1-11111111-SECRET-TOKEN-2222"
ARCHIVE_URL = f"{CLIENT_BASE}/crm/associations/2026-03/contacts/companies/batch/archive"
LABELS_ARCHIVE_URL = f"{CLIENT_BASE}/crm/associations/2026-03/contacts/companies/batch/labels/archive"
READ_URL = f"{CLIENT_BASE}/crm/associations/2026-03/contacts/companies/batch/read"
LABELS_URL = f"{CLIENT_BASE}/crm/associations/2026-03/contacts/companies/labels"
TOKEN_URL = f"{CLIENT_BASE}/oauth/v1/token"


ClientFactory = Callable[..., Any]  # the `make_client` fixture of tests/client: a HubSpotClient factory


class FakeClock:
    """Monotonic time that only moves when someone sleeps: retries and refreshes without waiting."""

    def __init__(self) -> None:
        import threading

        self.t = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.t += seconds


def pairs(*items: tuple[str, str]) -> list[Any]:
    """Batch-archive pairs (no labels); `pairs()` is one from id with two to ids."""
    from airflow_provider_hubassoc.models.associations import Pair

    return [Pair(f, t) for f, t in (items or (("1", "2"), ("1", "3")))]


def label_pair(
    from_id: str = "1", to_id: str = "2", category: str = "USER_DEFINED", type_id: int = 36
) -> Any:
    """A labels-archive pair with one label."""
    from airflow_provider_hubassoc.models.associations import AssociationType, Pair

    return Pair(from_id, to_id, (AssociationType(associationCategory=category, associationTypeId=type_id),))


def batch_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": [],
        "startedAt": "2026-04-01T10:00:00.000Z",
        "completedAt": "2026-04-01T10:00:01.000Z",
    }
    body.update(overrides)
    return body


def error_body(category: str, message: str = "boom", **extra: Any) -> dict[str, Any]:
    body = {
        "status": "error",
        "message": message,
        "correlationId": "3f1c9a2e-0000-4000-8000-000000000001",
        "category": category,
    }
    body.update(extra)
    return body


def fake_clock_client(clock: FakeClock, **kwargs: Any) -> Any:
    """A client on `clock` (no jitter: waits are exact); `max_attempts`/`total_timeout_s` set retries."""
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.client.auth import StaticTokenProvider
    from airflow_provider_hubassoc.client.governor import RateGovernor
    from airflow_provider_hubassoc.client.retry import RetryPolicy

    retry = RetryPolicy(
        max_attempts=kwargs.pop("max_attempts", 6),
        total_timeout_s=kwargs.pop("total_timeout_s", 300.0),
        jitter=False,
        sleep=clock.sleep,
        clock=clock.now,
    )
    return HubSpotClient(
        kwargs.pop("base_url", CLIENT_BASE),
        token_provider=kwargs.pop("token_provider", None) or StaticTokenProvider(CLIENT_TOKEN),
        governor=kwargs.pop("governor", None) or RateGovernor(100, 10.0, clock=clock.now),
        retry=retry,
        **kwargs,
    )
