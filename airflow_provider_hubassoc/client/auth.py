"""Where the bearer token comes from: a fixed token, or OAuth access tokens refreshed ahead of expiry.

Tokens never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests

from airflow_provider_hubassoc.client.errors import (
    HubSpotAuthError,
    HubSpotConfigError,
    HubSpotError,
    HubSpotRateLimitError,
    HubSpotServerError,
)
from airflow_provider_hubassoc.client.transport import Reply, exchange

log = logging.getLogger("airflow_provider_hubassoc.client")

TOKEN_TIMEOUT = (10.0, 30.0)


@runtime_checkable
class TokenProvider(Protocol):
    """Gives the client a bearer token; told when HubSpot rejected one."""

    @property
    def is_oauth(self) -> bool: ...

    def get_token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


class StaticTokenProvider:
    """A private-app access token or service key; nothing to refresh."""

    is_oauth = False

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise HubSpotConfigError("no HubSpot access token configured (connection password is empty)")
        self._token = token.strip()

    def get_token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        """A fixed token cannot be replaced; the caller reports the 401."""

    def __repr__(self) -> str:
        return "StaticTokenProvider(token=***)"


class OAuthTokenProvider:
    """OAuth access tokens from a refresh token, cached until `expires_in - refresh_margin_s`.

    One refresh at a time (a lock), so concurrent chunks do not stampede the token endpoint.
    `on_new_token` sees every secret the endpoint hands out (Airflow's `mask_secret`).
    """

    is_oauth = True

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_url: str,
        session: requests.Session | None = None,
        on_new_token: Callable[[str], None] | None = None,
        refresh_margin_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: tuple[float, float] = TOKEN_TIMEOUT,
    ) -> None:
        missing = [
            name
            for name, value in (
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("refresh_token", refresh_token),
            )
            if not value
        ]
        if missing:
            raise HubSpotConfigError(f"OAuth needs {', '.join(missing)} (missing from the connection)")
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._token_url = token_url
        self._session = session if session is not None else requests.Session()
        self._on_new_token = on_new_token
        self._margin = refresh_margin_s
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        for secret in (client_secret, refresh_token):
            self._announce(secret)

    def _announce(self, secret: str) -> None:
        if self._on_new_token is not None:
            self._on_new_token(secret)

    def get_token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (HubSpot refused it); a newer token another thread fetched is kept."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _lifetime(self, expires_in: float) -> float:
        # A lifetime shorter than twice the margin would refresh on every call: use half of it.
        if expires_in > 2 * self._margin:
            return expires_in - self._margin
        return expires_in / 2

    def _refresh(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        connect, read = self._timeout
        reply = exchange(
            self._session,
            "POST",
            self._token_url,
            connect_timeout=connect,
            deadline=time.monotonic() + connect + read,
            data=form,
        )
        if reply.status != 200:
            raise self._error(reply)
        body = self._json(reply)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise HubSpotAuthError("OAuth token reply has no access_token", status=reply.status)
        self._announce(token)
        self._rotate(body.get("refresh_token"))
        expires_in = self._expires_in(body)
        self._token = token
        self._expires_at = self._clock() + self._lifetime(expires_in)
        log.info("HubSpot OAuth access token refreshed (valid for %.0f s)", expires_in)

    def _rotate(self, rotated: Any) -> None:
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            self._announce(rotated)
            self._refresh_token = rotated

    @staticmethod
    def _expires_in(body: dict[str, Any]) -> float:
        try:
            value = float(body.get("expires_in", 1800))
        except (TypeError, ValueError):
            return 1800.0
        return value if math.isfinite(value) and value > 0 else 1800.0

    @staticmethod
    def _json(reply: Reply) -> dict[str, Any]:
        try:
            body = json.loads(reply.content)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _error(self, reply: Reply) -> HubSpotError:
        """The shared mapping; a refusal that is neither a rate limit nor a server error means the
        client credentials or the refresh token are unusable: an auth error."""
        from airflow_provider_hubassoc.client.error_mapping import error_from_reply

        error = error_from_reply(reply, self._client_secret, self._refresh_token, self._token)
        if isinstance(error, (HubSpotRateLimitError, HubSpotServerError)):
            return error
        if 300 <= reply.status < 400:
            return HubSpotAuthError(
                f"OAuth token refresh: redirect refused ({urlsplit(self._token_url).hostname or '?'} "
                f"answered {reply.status}); redirects are never followed, check the base URL. "
                f"{error.hubspot_message}",
                status=reply.status,
            )
        return HubSpotAuthError(
            f"OAuth token refresh refused: {error.hubspot_message}",
            status=error.status,
            category=error.category,
            correlation_id=error.correlation_id,
            hubspot_message=error.hubspot_message,
        )

    def __repr__(self) -> str:
        return f"OAuthTokenProvider(client_id={self._client_id!r}, token_url={self._token_url!r}, secret=***)"
