"""Apache Airflow provider that removes HubSpot CRM associations safely and at scale.

Importing this package is cheap: Airflow calls `get_provider_info()` at start-up.
"""

from __future__ import annotations

from typing import Any

# The one place the version is kept: pyproject.toml reads it, get_provider_info() returns it, and
# CHANGELOG.md names it (tests/test_version.py).
__version__ = "1.0.0"

CONN_TYPE = "hubspot"

HOOK_CLASS = "airflow_provider_hubassoc.hooks.hubspot.HubSpotHook"

# The port stays visible: Airflow 3's Test button sends `port: Number(stored port)`, which is 0
# for a connection without one, and the API then refuses the test ("host or port differs").
# A stored port (443 for HubSpot) makes the button work.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["schema", "login"],
    "relabeling": {"host": "Base URL", "password": "Access token (private app or service key)"},
    "placeholders": {
        "host": "https://api.hubapi.com (default); http:// only for loopback, e.g. the simulator",
        "port": "443 (set it: Airflow 3's Test button needs a stored port)",
        "password": "pat-na1-... (leave empty for OAuth)",
        "extra": '{"api_version": "2026-03", "rate_limit_tier": "professional"}',
    },
}

CONN_FIELDS: dict[str, Any] = {
    "api_version": {
        "label": "API version",
        "description": "Date version or v4 (legacy paths). Operators may override it.",
        "schema": {
            "type": ["string", "null"],
            "default": "2026-03",
            "enum": ["2025-09", "2026-03", "2026-09", "v4"],
        },
    },
    "rate_limit_tier": {
        "label": "Rate-limit tier",
        "description": "Requests per rolling 10 s: free/starter 100, professional/enterprise 190, "
        "limit_increase 250, oauth 110. Empty: oauth for an OAuth connection, else free.",
        "schema": {
            "type": ["string", "null"],
            "enum": ["free", "starter", "professional", "enterprise", "limit_increase", "oauth"],
        },
    },
    "rate_limit": {
        "label": "Requests per window (overrides the tier)",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "rate_limit_redis_conn_id": {
        "label": "Shared rate budget: Redis connection id",
        "description": "An Airflow connection of type redis (extra [redis]). Every task, DAG and "
        "worker on every machine calling this account then shares one request budget. Empty: the "
        "tasks of each machine share one budget in a local file (see the next field).",
        "schema": {"type": ["string", "null"]},
    },
    "rate_limit_local_dir": {
        "label": "Machine-local rate budget: directory",
        "description": "Where the budget every task on this machine shares is kept when no Redis "
        "connection is named (a SQLite file; a local disk every worker process can write). "
        "Empty: $AIRFLOW_HOME/hubassoc, or the system temp directory.",
        "schema": {"type": ["string", "null"]},
    },
    "rate_limit_account": {
        "label": "Shared rate budget: account key",
        "description": "Names the shared budget, e.g. the portal id. Empty: derived from the host "
        "and the credential, so connections with the same token share one budget.",
        "schema": {"type": ["string", "null"]},
    },
    "rate_limit_on_store_error": {
        "label": "Shared rate budget: when its store does not answer",
        "description": "fail (default): the task fails naming the Redis connection or the local "
        "directory. local: it goes on with its own rate window only, and says so in its log.",
        "schema": {"type": ["string", "null"], "default": "fail", "enum": ["fail", "local"]},
    },
    "max_batch_size": {
        "label": "Maximum inputs per archive request",
        "schema": {"type": ["integer", "null"], "default": 100, "minimum": 1},
    },
    "client_id": {"label": "OAuth client id", "schema": {"type": ["string", "null"]}},
    "client_secret": {
        "label": "OAuth client secret",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "refresh_token": {
        "label": "OAuth refresh token",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "connect_timeout": {
        "label": "Connect timeout (s)",
        "schema": {"type": ["number", "null"], "default": 10},
    },
    "read_timeout": {"label": "Read timeout (s)", "schema": {"type": ["number", "null"], "default": 60}},
    "max_retries": {"label": "Retries per request", "schema": {"type": ["integer", "null"], "default": 5}},
    "retry_total_timeout": {
        "label": "Time limit per request, retries included (s)",
        "schema": {"type": ["number", "null"], "default": 300},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Entry point read by Airflow's providers manager. No imports, no network."""
    return {
        "package-name": "airflow-provider-hubassoc",
        "name": "HubSpot Associations",
        "description": "Remove HubSpot CRM associations and association labels from Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "HubSpot",
                "external-doc-url": "https://developers.hubspot.com/docs/api/crm/associations",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": "HubSpot", "python-modules": ["airflow_provider_hubassoc.hooks.hubspot"]}
        ],
        "operators": [
            {
                "integration-name": "HubSpot",
                "python-modules": [
                    "airflow_provider_hubassoc.operators.archive",
                    "airflow_provider_hubassoc.operators.restore",
                    "airflow_provider_hubassoc.operators.sync",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "HubSpot",
                "python-modules": ["airflow_provider_hubassoc.sensors.batch_status"],
            }
        ],
        "triggers": [
            {
                "integration-name": "HubSpot",
                "python-modules": ["airflow_provider_hubassoc.triggers.batch_status"],
            }
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": HOOK_CLASS,
                "hook-name": "HubSpot",
                "ui-field-behaviour": {
                    "hidden-fields": UI_FIELD_BEHAVIOUR["hidden_fields"],
                    "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
                    "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
                },
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
