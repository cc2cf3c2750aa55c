"""One small hierarchy of typed HubSpot errors. None of them ever carries a token.

Each error says whether another attempt could help (`retryable`) and whether going on with the
run is pointless (`fatal`): the retry policy and the operators read these, nothing else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

# 521/522/524: HubSpot's CDN could not reach (521), connect to (522) or hear back from (524) HubSpot.
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504, 521, 522, 524})
LOCKED_MIN_WAIT_S = 2.0  # HubSpot's error page: after a 423, wait at least 2 s before retrying


def redact(text: str, *secrets: str | None) -> str:
    """Replace each secret in `text` with '***', also in its URL-encoded form.

    Callers pass decoded text (JSON escapes resolved) and cut it short only afterwards, so an
    escaped or truncated copy of a secret cannot slip through.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
            encoded = quote(secret, safe="")
            if encoded != secret:
                text = text.replace(encoded, "***")
    return text


def may_hold_secret(raw: str, *secrets: str | None) -> bool:
    """Whether JSON text could hold a secret once decoded: literally, URL-encoded, or behind escapes.

    Without a backslash, decoding changes no string, so a secret absent from the raw text is absent
    from every decoded string: the reply need not be walked (most replies, and the big ones).
    """
    if "\\" in raw:
        return True
    return any(s and (s in raw or quote(s, safe="") in raw) for s in secrets)


def redact_json(value: Any, *secrets: str | None) -> Any:
    """`value` (parsed JSON) with every string in it, keys included, redacted."""
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, list):
        return [redact_json(item, *secrets) for item in value]
    if isinstance(value, dict):
        return {redact(str(k), *secrets): redact_json(v, *secrets) for k, v in value.items()}
    return value


class HubSpotError(Exception):
    """Base of every error the client raises after a request was attempted.

    `fatal` errors make going on pointless (bad token, missing scopes, day's budget spent):
    operators stop at once and fail the task without Airflow retries.
    """

    fatal: bool = False
    # How many requests of the call left this machine before it failed (set by the client): 0
    # means HubSpot never saw it (stopped or out of time while waiting for a slot).
    requests_sent: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
        hubspot_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.correlation_id = correlation_id
        self.hubspot_message = hubspot_message

    @property
    def retryable(self) -> bool:
        """Whether another attempt of the same request could succeed."""
        return False

    @property
    def may_have_applied(self) -> bool:
        """Whether HubSpot may have applied the request although it never answered 2xx (an outage
        after the work was done): its pairs are then neither done nor certainly untouched."""
        return False

    def __str__(self) -> str:
        parts = [super().__str__()]
        meta = [
            f"status={self.status}" if self.status is not None else None,
            f"category={self.category}" if self.category else None,
            f"correlationId={self.correlation_id}" if self.correlation_id else None,
        ]
        shown = [m for m in meta if m]
        if shown:
            parts.append(f"({', '.join(shown)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class HubSpotConfigError(HubSpotError, ValueError):
    """A connection or argument is unusable (plain HTTP to a remote host, unknown version...)."""

    fatal = True


class HubSpotAuthError(HubSpotError):
    """401: the token is missing, invalid or expired and could not be refreshed."""

    fatal = True


class HubSpotMissingScopesError(HubSpotError):
    """403 MISSING_SCOPES: the app lacks scopes; `required_scopes` lists what HubSpot named."""

    fatal = True

    def __init__(self, message: str, *, required_scopes: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.required_scopes = list(required_scopes or [])


class HubSpotRateLimitError(HubSpotError):
    """429 TEN_SECONDLY_ROLLING; `retry_after` is the wait HubSpot asked for, when it said."""

    def __init__(
        self,
        message: str,
        *,
        policy_name: str | None = None,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.policy_name = policy_name
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True


class HubSpotDailyLimitError(HubSpotRateLimitError):
    """429 DAILY: the account's budget for the day is spent; retrying before midnight is pointless."""

    fatal = True

    @property
    def retryable(self) -> bool:
        return False


class HubSpotRateStoreError(HubSpotError):
    """The account's shared rate budget (its Redis) did not answer. Worth retrying: usually a blip;
    not fatal, so Airflow's retries apply when it lasts."""

    @property
    def retryable(self) -> bool:
        return True


class HubSpotInterruptedError(HubSpotError):
    """The run was stopped (`HubSpotClient.interrupt`, e.g. from the task's on_kill) while this
    request waited or before it was sent. Not retryable: nothing is worth another attempt now;
    not fatal: the task's own retry may run it again."""


class HubSpotValidationError(HubSpotError):
    """400: HubSpot refused the request body."""


class HubSpotNotFoundError(HubSpotError):
    """404: unknown object type or path.

    Fatal: the path is the same for every chunk of a run (unknown record ids come back as
    per-input errors), so going on would only repeat the 404 for every chunk.
    """

    fatal = True


class HubSpotServerError(HubSpotError):
    """5xx; 500/502/503/504 and the CDN's 521/522/524 are worth another attempt, the others (501,
    505...) are not. No 5xx says whether the request was applied."""

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_SERVER_STATUSES

    @property
    def may_have_applied(self) -> bool:
        return True


class HubSpotTryLaterError(HubSpotError):
    """423 Locked (too many writes to the same records at once) or 477 Migration in Progress (the
    account is moving between data centres): HubSpot asks to try again later.

    `retry_after` is the least wait before the next attempt: Retry-After when HubSpot sent it, and
    at least `LOCKED_MIN_WAIT_S` after a 423. The call's deadline still bounds it (a migration can
    last a day). Neither status says whether the write was applied.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True

    @property
    def may_have_applied(self) -> bool:
        return True


class HubSpotTransportError(HubSpotError):
    """Connection reset, timeout, a reply slower than the deadline, or an unreadable reply."""

    @property
    def retryable(self) -> bool:
        return True

    @property
    def may_have_applied(self) -> bool:
        return True  # the request may have reached HubSpot before the connection failed
