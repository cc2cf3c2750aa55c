"""HubSpot's non-2xx replies -> the typed errors, for the API client and the OAuth token refresh.

One mapping, so a 429 from the token endpoint honours Retry-After and DAILY exactly like one from
the associations API. Every field taken from a reply is redacted of the caller's secrets on the
decoded text (JSON escapes resolved), before anything is cut short.
"""

from __future__ import annotations

import email.utils
import html
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from airflow_provider_hubassoc.client.errors import (
    LOCKED_MIN_WAIT_S,
    HubSpotAuthError,
    HubSpotConfigError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotTryLaterError,
    HubSpotValidationError,
    redact,
    redact_json,
)
from airflow_provider_hubassoc.client.governor import HEADER_INTERVAL_MS
from airflow_provider_hubassoc.client.transport import Reply
from airflow_provider_hubassoc.models.responses import ErrorBody

# How much of HubSpot's message an error keeps (after redaction).
MESSAGE_LIMIT = 500


def _seconds(value: str | None) -> float | None:
    """A Retry-After value (seconds or an HTTP date) as seconds from now."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _http_date_seconds(value)
    return min(max(0.0, seconds), 86_400.0) if seconds == seconds else None


def _http_date_seconds(value: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), 86_400.0)


def rate_limit_wait(headers: Mapping[str, str]) -> float | None:
    """Retry-After when HubSpot sends it, else its window length, else None (back off)."""
    retry_after = _seconds(headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    interval_ms = _seconds(headers.get(HEADER_INTERVAL_MS))
    return interval_ms / 1000.0 if interval_ms is not None else None


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def error_body(content: bytes, secrets: tuple[str | None, ...]) -> ErrorBody:
    """The reply's error body, every string in it redacted; a non-JSON page becomes its message."""
    text = content.decode("utf-8", errors="replace")
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        return ErrorBody(message=_cut(redact(html.unescape(text), *secrets)))
    data = redact_json(data, *secrets)
    if not isinstance(data, dict):
        return ErrorBody(message=_cut(str(data)))
    try:
        return ErrorBody.model_validate(data)
    except ValidationError:
        # A shape we do not know (a gateway's {"message": null}, a dict message...): keep only
        # the plainly readable string fields, so the typed error (and its retry) still happens.
        readable = ("message", "correlationId", "category", "policyName", "errorType")
        return ErrorBody.model_validate({k: data[k] for k in readable if isinstance(data.get(k), str)})


def _scope_values(context: Mapping[str, Any] | None, keys: tuple[str, ...]) -> list[str]:
    values: list[str] = []
    for key in keys:
        found = (context or {}).get(key) or []
        values += [str(v) for v in (found if isinstance(found, list) else [found])]
    return values


def required_scopes(body: ErrorBody) -> list[str]:
    """Scope names from all three places HubSpot uses, each once, in order of appearance."""
    names = _scope_values(body.context, ("missingScopes", "requiredScopes", "requiredGranularScopes"))
    for detail in body.errors:
        names += _scope_values(detail.context, ("requiredScopes", "requiredGranularScopes"))
    return list(dict.fromkeys(names))


def _fields(reply: Reply, body: ErrorBody, secrets: tuple[str | None, ...]) -> dict[str, Any]:
    # OAuth replies name the error in `status` ({"status": "BAD_REFRESH_TOKEN", ...}).
    named_status = body.status if body.status and body.status != "error" else None
    category = body.category or body.error_type or named_status
    message = body.message or redact(reply.reason, *secrets) or "no message"
    return {
        "status": reply.status,
        "category": _cut(category) if category else None,
        "correlation_id": _cut(body.correlation_id) if body.correlation_id else None,
        "hubspot_message": _cut(message),
    }


def _redirect(reply: Reply, fields: dict[str, Any]) -> HubSpotError:
    target = urlsplit(reply.headers.get("Location", ""))
    return HubSpotConfigError(
        f"redirect refused: HubSpot answered {reply.status} redirecting to "
        f"{target.scheme or '?'}://{target.hostname or '?'}; redirects are never followed "
        "(the token would go along): check the base URL",
        **fields,
    )


def _forbidden(reply: Reply, body: ErrorBody, fields: dict[str, Any]) -> HubSpotError:
    scopes = required_scopes(body)
    message = fields["hubspot_message"]
    if fields["category"] == "MISSING_SCOPES" or scopes:
        listed = ", ".join(scopes) if scopes else "not named by HubSpot"
        return HubSpotMissingScopesError(
            f"the token lacks scopes: {_cut(listed)}. HubSpot said: {message}",
            required_scopes=scopes,
            **fields,
        )
    return HubSpotAuthError(f"HubSpot refused access: {message}", **fields)


def _rate_limited(reply: Reply, body: ErrorBody, fields: dict[str, Any]) -> HubSpotError:
    policy = _cut(body.policy_name) if body.policy_name else None
    message = fields["hubspot_message"]
    if policy == "DAILY":
        return HubSpotDailyLimitError(
            f"the account's daily API budget is spent (resets at midnight, account time): {message}",
            policy_name=policy,
            **fields,
        )
    return HubSpotRateLimitError(
        f"rate limited ({policy or 'no policy named'}): {message}",
        policy_name=policy,
        retry_after=rate_limit_wait(reply.headers),
        **fields,
    )


def _try_later(reply: Reply, body: ErrorBody, fields: dict[str, Any]) -> HubSpotError:
    """423 and 477: HubSpot asks to come back later; Retry-After when sent, at least 2 s after a 423."""
    asked = _seconds(reply.headers.get("Retry-After"))
    if reply.status == 423:
        why, least = "the records are locked by other writes (423 Locked)", LOCKED_MIN_WAIT_S
        asked = max(asked or 0.0, least)
    else:
        why = "the account is being migrated between data centres (477 Migration in Progress)"
    return HubSpotTryLaterError(
        f"HubSpot asked to try again later: {why}: {fields['hubspot_message']}", retry_after=asked, **fields
    )


# The CDN's own statuses: its page is HTML about the CDN, not worth quoting.
_CDN_STATUS_MEANING = {
    521: "HubSpot's CDN found HubSpot down (521)",
    522: "HubSpot's CDN could not connect to HubSpot (522)",
    524: "HubSpot's CDN timed out waiting for HubSpot's reply (524)",
}


def _server_error(reply: Reply, fields: dict[str, Any]) -> HubSpotError:
    said = _CDN_STATUS_MEANING.get(reply.status) or fields["hubspot_message"]
    return HubSpotServerError(f"HubSpot server error: {said}", **fields)


def _simple(
    kind: type[HubSpotError], prefix: str
) -> Callable[[Reply, ErrorBody, dict[str, Any]], HubSpotError]:
    def build(reply: Reply, body: ErrorBody, fields: dict[str, Any]) -> HubSpotError:
        return kind(f"{prefix}: {fields['hubspot_message']}", **fields)

    return build


_BY_STATUS: dict[int, Callable[[Reply, ErrorBody, dict[str, Any]], HubSpotError]] = {
    400: _simple(HubSpotValidationError, "HubSpot refused the request"),
    401: _simple(HubSpotAuthError, "HubSpot refused the token"),
    403: _forbidden,
    404: _simple(HubSpotNotFoundError, "not found"),
    409: _simple(HubSpotValidationError, "HubSpot refused the request"),
    422: _simple(HubSpotValidationError, "HubSpot refused the request"),
    423: _try_later,
    429: _rate_limited,
    477: _try_later,
}


def error_from_reply(reply: Reply, *secrets: str | None) -> HubSpotError:
    """Map a non-2xx reply to its typed error, keeping HubSpot's category, message and correlation id."""
    body = error_body(reply.content, secrets)
    fields = _fields(reply, body, secrets)
    if 300 <= reply.status < 400:
        return _redirect(reply, fields)
    if reply.status >= 500:
        return _server_error(reply, fields)
    build = _BY_STATUS.get(reply.status)
    if build is None:
        return HubSpotError(f"HubSpot answered {reply.status}: {fields['hubspot_message']}", **fields)
    return build(reply, body, fields)
