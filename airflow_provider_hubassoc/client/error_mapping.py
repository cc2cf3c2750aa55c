"""HubSpot's non-2xx replies -> the typed errors, for the API client and the OAuth token refresh.

One mapping, so a 429 from the token endpoint honours Retry-After and DAILY exactly like one from
the associations API; every message is redacted of the secrets the caller names.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import ValidationError

from airflow_provider_hubassoc.client.errors import (
    HubSpotAuthError,
    HubSpotConfigError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotValidationError,
    redact,
)
from airflow_provider_hubassoc.client.governor import HEADER_INTERVAL_MS
from airflow_provider_hubassoc.models.responses import ErrorBody


def _seconds(value: str | None) -> float | None:
    """A Retry-After value (seconds or an HTTP date) as seconds from now."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _rate_limit_wait(headers: Mapping[str, str]) -> float | None:
    """Retry-After when HubSpot sends it, else its window length, else None (back off)."""
    retry_after = _seconds(headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    interval_ms = _seconds(headers.get(HEADER_INTERVAL_MS))
    return interval_ms / 1000.0 if interval_ms is not None else None


def _error_body(text: str) -> ErrorBody:
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        return ErrorBody(message=" ".join(text.split())[:200])
    if not isinstance(data, dict):
        return ErrorBody(message=str(data)[:200])
    try:
        return ErrorBody.model_validate(data)
    except ValidationError:
        # A shape we do not know (a gateway's {"message": null}, a dict message...): keep only
        # the plainly readable string fields, so the typed error (and its retry) still happens.
        readable = ("message", "correlationId", "category", "policyName")
        return ErrorBody.model_validate({k: data[k] for k in readable if isinstance(data.get(k), str)})


def _required_scopes(body: ErrorBody) -> list[str]:
    contexts: list[Mapping[str, Any]] = [body.context]
    contexts += [d.context for d in body.errors if d.context]
    scopes: list[str] = []
    for context in contexts:
        for key in ("requiredScopes", "requiredGranularScopes"):
            values = context.get(key) or []
            for scope in values if isinstance(values, list) else [values]:
                if str(scope) not in scopes:
                    scopes.append(str(scope))
    return scopes


def error_from_response(response: requests.Response, *secrets: str | None) -> HubSpotError:
    """Map a non-2xx reply to its typed error, keeping HubSpot's category, message and correlation id."""
    status = response.status_code
    body = _error_body(response.text)
    message = redact(body.message or response.reason or "no message", *secrets)
    # OAuth replies name the error in `status` ({"status": "BAD_REFRESH_TOKEN", ...}).
    named_status = body.status if body.status and body.status != "error" else None
    category = body.category or body.error_type or named_status
    fields: dict[str, Any] = {
        "status": status,
        "category": category,
        "correlation_id": body.correlation_id,
        "hubspot_message": message,
    }
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("Location", ""))
        return HubSpotConfigError(
            f"HubSpot answered {status} redirecting to {target.scheme}://{target.hostname or '?'}: "
            "redirects are never followed (the token would go along); check the base URL",
            **fields,
        )
    if status == 401:
        return HubSpotAuthError(f"HubSpot refused the token: {message}", **fields)
    if status == 403:
        scopes = _required_scopes(body)
        if category == "MISSING_SCOPES" or scopes:
            listed = ", ".join(scopes) if scopes else "not named by HubSpot"
            return HubSpotMissingScopesError(
                f"the token lacks scopes: {listed}. HubSpot said: {message}", required_scopes=scopes, **fields
            )
        return HubSpotAuthError(f"HubSpot refused access: {message}", **fields)
    if status == 404:
        return HubSpotNotFoundError(f"not found: {message}", **fields)
    if status == 429:
        policy = body.policy_name
        if policy == "DAILY":
            return HubSpotDailyLimitError(
                f"the account's daily API budget is spent (resets at midnight, account time): {message}",
                policy_name=policy,
                **fields,
            )
        return HubSpotRateLimitError(
            f"rate limited ({policy or 'no policy named'}): {message}",
            policy_name=policy,
            retry_after=_rate_limit_wait(response.headers),
            **fields,
        )
    if status >= 500:
        return HubSpotServerError(f"HubSpot server error: {message}", **fields)
    if status in (400, 409, 422):
        return HubSpotValidationError(f"HubSpot refused the request: {message}", **fields)
    return HubSpotError(f"HubSpot answered {status}: {message}", **fields)
