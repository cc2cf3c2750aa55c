"""Airflow connections as `AIRFLOW_CONN_*` JSON pointing at a simulator, with distinctive secrets
(a leak anywhere is found by a plain substring search). Plain JSON: no Airflow import."""

from __future__ import annotations

import json
from typing import Any

# Distinctive values: a leak anywhere is found by a plain substring search.
TOKEN = "pat-SECRET-abc123xyz"
CLIENT_ID = "client-id-reliability"
CLIENT_SECRET = "client-SECRET-987zyx"
REFRESH_TOKEN = "refresh-SECRET-555qqq"
SECRETS = (TOKEN, CLIENT_SECRET, REFRESH_TOKEN)

MAX_RETRIES = 3
# Short timeouts and a short simulator window keep the whole matrix fast.
FAST_EXTRA: dict[str, Any] = {
    "max_retries": MAX_RETRIES,
    "connect_timeout": 1,
    "read_timeout": 2,
    "retry_total_timeout": 30,
    "rate_limit": 10_000,
}


def conn_json(url: str, *, oauth: bool = False, **extra: Any) -> str:
    conn: dict[str, Any] = {"conn_type": "hubspot", "host": url, "extra": {**FAST_EXTRA, **extra}}
    if oauth:
        conn["extra"].update(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    else:
        conn["password"] = TOKEN
    return json.dumps(conn)


def point_hubspot_default_at(sim: Any, monkeypatch: Any) -> None:
    """`hubspot_default` (read by the example DAGs) pointing at `sim` with its default token."""
    from hubassoc_simulator import DEFAULT_TOKEN

    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps({"conn_type": "hubspot", "host": sim.url, "password": DEFAULT_TOKEN}),
    )
