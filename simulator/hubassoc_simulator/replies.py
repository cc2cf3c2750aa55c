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

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()

    @property
    def content_type(self) -> str:
        return _JSON


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
