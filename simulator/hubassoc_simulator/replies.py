"""HubSpot's reply shapes: top-level errors, batch bodies and per-input error items."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

_JSON = "application/json;charset=utf-8"


@dataclass
class Reply:
    """An HTTP reply before it is written: status, JSON-able body (None = no body), extra headers."""

    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes | None = None  # pre-encoded body (malformed-JSON faults)
    media_type: str = _JSON

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()

    @property
    def content_type(self) -> str:
        return self.media_type


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error(status: int, category: str, message: str, **extra: Any) -> Reply:
    """HubSpot's top-level error body."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    body.update(extra)
    return Reply(status, body)


def validation_error(message: str, where: str | None = None) -> Reply:
    details = [{"message": message, "in": where, "code": "INVALID"}] if where else []
    return error(400, "VALIDATION_ERROR", message, errors=details)


def invalid_auth() -> Reply:
    return error(
        401,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
        "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )


def expired_auth() -> Reply:
    return error(401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired.")


def missing_scopes(scopes: list[str]) -> Reply:
    return error(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. "
        "Read more about required scopes here: https://developers.hubspot.com/scopes.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredScopes": scopes, "requiredGranularScopes": scopes},
            }
        ],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


def not_found(category: str, message: str) -> Reply:
    return error(404, category, message)


def rate_limited(policy: str, retry_after_s: int | None) -> Reply:
    daily = policy == "DAILY"
    message = (
        "You have reached your daily limit." if daily else "You have reached your ten_secondly_rolling limit."
    )
    # HubSpot's rate-limit guide shows no `category`; its published Error requires one: send both.
    body = {
        "status": "error",
        "category": "RATE_LIMITS",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
    }
    headers = [("Retry-After", str(retry_after_s))] if retry_after_s is not None else []
    return Reply(429, body, headers)


def server_error(status: int) -> Reply:
    return error(status, "INTERNAL_ERROR", f"Simulated server error {status}. Please retry.")


def locked() -> Reply:
    """423: too many writes to the same records at once; HubSpot's error page says wait 2 s."""
    return error(423, "LOCKED", "The records are locked by other writes. Wait at least 2 seconds and retry.")


def migration_in_progress(retry_after_s: float) -> Reply:
    """477: the account is moving between data centres; HubSpot sends Retry-After."""
    reply = error(477, "MIGRATION_IN_PROGRESS", "This account is being migrated. Retry later.")
    reply.headers.append(("Retry-After", f"{retry_after_s:g}"))
    return reply


def cdn_error(status: int) -> Reply:
    """521/522/524 come from the CDN in front of HubSpot: its HTML page, not HubSpot's JSON."""
    titles = {521: "Web server is down", 522: "Connection timed out", 524: "A timeout occurred"}
    page = f"<!DOCTYPE html><html><head><title>{status}: {titles.get(status, 'Error')}</title></head>"
    page += f"<body><h1>Error {status}</h1><p>cdn</p></body></html>"
    return Reply(status, None, raw=page.encode(), media_type="text/html; charset=UTF-8")


def internal_error() -> Reply:
    """What HubSpot sends when something breaks on its side: a 500 with its usual error body."""
    return error(500, "INTERNAL_ERROR", "internal error")


def error_item(category: str, message: str, context: dict[str, list[str]], where: str) -> dict[str, Any]:
    """One per-input error of a batch body (HubSpot's StandardError: every field below is required)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [{"message": message, "in": where, "code": category, "context": context}],
        "links": {},
    }


def batch_body(
    status: str, results: list[Any], errors: list[dict[str, Any]], started_at: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "results": results,
        "requestedAt": started_at,
        "startedAt": started_at,
        "completedAt": now_iso(),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    else:
        body["numErrors"] = 0
    return body
