"""Helpers shared by the client tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from airflow_provider_hubassoc.client import HubSpotClient
from airflow_provider_hubassoc.models import BatchArchiveInput

BASE = "https://api.hubapi.test"
TOKEN = "pat-na1-11111111-SECRET-TOKEN-2222"
ARCHIVE_URL = f"{BASE}/crm/associations/2026-03/contacts/companies/batch/archive"
LABELS_ARCHIVE_URL = f"{BASE}/crm/associations/2026-03/contacts/companies/batch/labels/archive"
READ_URL = f"{BASE}/crm/associations/2026-03/contacts/companies/batch/read"
LABELS_URL = f"{BASE}/crm/associations/2026-03/contacts/companies/labels"

ClientFactory = Callable[..., HubSpotClient]


class FakeClock:
    """Monotonic time that only moves when someone sleeps: retries and refreshes without waiting."""

    def __init__(self) -> None:
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


def one_input() -> list[BatchArchiveInput]:
    return [BatchArchiveInput(from_id="1", to_ids=("2", "3"))]


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
