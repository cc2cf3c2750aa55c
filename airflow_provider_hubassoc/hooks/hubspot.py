"""HubSpotHook: turns an Airflow `hubspot` connection into a configured HubSpotClient.

The hook only reads configuration and delegates; every HTTP concern lives in the client. The
Connection object is never logged or repr'd: Airflow's Connection.__repr__ prints the password.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_hubassoc import UI_FIELD_BEHAVIOUR
from airflow_provider_hubassoc.client.api import DEFAULT_BASE_URL, ClientStats, HubSpotClient, check_base_url
from airflow_provider_hubassoc.client.auth import (
    OAuthTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)
from airflow_provider_hubassoc.client.errors import HubSpotConfigError, HubSpotError, redact
from airflow_provider_hubassoc.client.governor import DEFAULT_INTERVAL_S, RateGovernor, tier_limit
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.client.versions import OAUTH_TOKEN_PATH, ApiVersion, parse_api_version
from airflow_provider_hubassoc.models.associations import BatchArchiveInput, LabelArchiveInput
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from airflow_provider_hubassoc.models.responses import (
    AssociationLabel,
    AssociationReadResult,
    BatchResult,
)

_OAUTH_KEYS = ("client_id", "client_secret", "refresh_token")


def _extra(extras: Mapping[str, Any], key: str) -> Any:
    """An extra by its plain key or the `extra__hubspot__` prefixed one the UI may write."""
    for name in (key, f"extra__hubspot__{key}"):
        value = extras.get(name)
        if value is not None and value != "":
            return value
    return None


def _number(extras: Mapping[str, Any], key: str, default: float, *, integer: bool, minimum: float) -> float:
    """A numeric extra (the UI may store it as a string), refused with its name when unusable."""
    raw = _extra(extras, key)
    if raw is None:
        return default
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < minimum or (integer and not value.is_integer()):
        kind = "an integer" if integer else "a number"
        raise HubSpotConfigError(f"connection extra {key!r} must be {kind} >= {minimum}, got {raw!r}")
    return value


@dataclass(frozen=True)
class HubSpotSettings:
    """Everything the client needs, read from one connection. Secrets are kept out of the repr."""

    base_url: str
    api_version: ApiVersion
    rate_limit: int
    rate_limit_interval_s: float
    rate_limit_share: float
    max_batch_size: int
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    retry_total_timeout_s: float
    token: str | None = field(default=None, repr=False)
    oauth: tuple[str, str, str] | None = field(default=None, repr=False)

    @property
    def token_url(self) -> str:
        return self.base_url + OAUTH_TOKEN_PATH


def _base_url(host: str | None, port: int | None, extras: Mapping[str, Any]) -> str:
    url = str(_extra(extras, "base_url") or host or DEFAULT_BASE_URL).strip()
    if "://" not in url:
        url = f"https://{url}"
        if port and ":" not in url.split("://", 1)[1]:
            url = f"{url.rstrip('/')}:{port}"
    return check_base_url(url)


def settings_from_connection(
    host: str | None,
    port: int | None,
    password: str | None,
    extras: Mapping[str, Any],
    *,
    api_version: str | ApiVersion | None = None,
    rate_limit_share: float | None = None,
) -> HubSpotSettings:
    """Map connection fields and extras to settings (argument > extra > default for the version)."""
    oauth_values = {key: _extra(extras, key) for key in _OAUTH_KEYS}
    present = [key for key, value in oauth_values.items() if value]
    oauth: tuple[str, str, str] | None = None
    if present and len(present) < len(_OAUTH_KEYS):
        missing = [key for key in _OAUTH_KEYS if key not in present]
        raise HubSpotConfigError(f"OAuth connection is missing extra(s): {', '.join(missing)}")
    if present:
        oauth = (
            str(oauth_values["client_id"]),
            str(oauth_values["client_secret"]),
            str(oauth_values["refresh_token"]),
        )
    elif not password:
        raise HubSpotConfigError(
            "the connection has no access token (password) and no OAuth extras "
            "(client_id, client_secret, refresh_token)"
        )
    tier = _extra(extras, "rate_limit_tier") or ("oauth" if oauth else "free")
    rate_limit = int(_number(extras, "rate_limit", tier_limit(str(tier)), integer=True, minimum=1))
    interval_ms = _number(
        extras, "rate_limit_interval_ms", DEFAULT_INTERVAL_S * 1000, integer=False, minimum=1
    )
    max_retries = int(_number(extras, "max_retries", 5, integer=True, minimum=0))
    return HubSpotSettings(
        base_url=_base_url(host, port, extras),
        api_version=parse_api_version(api_version or _extra(extras, "api_version")),
        rate_limit=rate_limit,
        rate_limit_interval_s=interval_ms / 1000.0,
        rate_limit_share=1.0 if rate_limit_share is None else rate_limit_share,
        max_batch_size=int(_number(extras, "max_batch_size", 100, integer=True, minimum=1)),
        connect_timeout=_number(extras, "connect_timeout", 10.0, integer=False, minimum=0.001),
        read_timeout=_number(extras, "read_timeout", 60.0, integer=False, minimum=0.001),
        max_attempts=max_retries + 1,
        retry_total_timeout_s=_number(extras, "retry_total_timeout", 300.0, integer=False, minimum=0.001),
        token=None if oauth else password,
        oauth=oauth,
    )


def _mask_secret(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


def token_provider_for(settings: HubSpotSettings) -> TokenProvider:
    """OAuth when the connection has OAuth extras, else the password as a fixed token."""
    if settings.oauth is not None:
        client_id, client_secret, refresh_token = settings.oauth
        return OAuthTokenProvider(
            client_id, client_secret, refresh_token, settings.token_url, on_new_token=_mask_secret
        )
    return StaticTokenProvider(settings.token or "")


class HubSpotHook(BaseHook):
    """Interact with HubSpot CRM associations through a `hubspot` Airflow connection.

    :param hubspot_conn_id: the connection to use.
    :param api_version: overrides the connection's `api_version` extra (default 2026-03).
    :param rate_limit_share: this hook's share (0 < share <= 1) of the account's request budget,
        e.g. 1/N for each of N mapped tasks calling the same account.
    """

    conn_name_attr = "hubspot_conn_id"
    default_conn_name = "hubspot_default"
    conn_type = "hubspot"
    hook_name = "HubSpot"

    def __init__(
        self,
        hubspot_conn_id: str = default_conn_name,
        api_version: str | None = None,
        rate_limit_share: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hubspot_conn_id = hubspot_conn_id
        # Refuse a bad version or share now, before any connection lookup or request.
        self._api_version_arg = parse_api_version(api_version) if api_version else None
        if rate_limit_share is not None and not 0 < rate_limit_share <= 1:
            raise HubSpotConfigError(f"rate_limit_share must be in (0, 1], got {rate_limit_share}")
        self.rate_limit_share = rate_limit_share
        self._lock = threading.Lock()
        self._settings: HubSpotSettings | None = None
        self._client: HubSpotClient | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form for Airflow 3.0/3.1 (3.2+ reads it from provider info)."""
        return copy.deepcopy(UI_FIELD_BEHAVIOUR)

    # -- configuration -------------------------------------------------------------------------

    @property
    def settings(self) -> HubSpotSettings:
        """The connection's settings, read once."""
        with self._lock:
            return self._load_settings()

    def _load_settings(self) -> HubSpotSettings:
        if self._settings is None:
            conn = self.get_connection(self.hubspot_conn_id)
            self._settings = settings_from_connection(
                conn.host,
                conn.port,
                conn.password,
                conn.extra_dejson,
                api_version=self._api_version_arg,
                rate_limit_share=self.rate_limit_share,
            )
        return self._settings

    @property
    def api_version(self) -> ApiVersion:
        """The argument, else the connection's `api_version` extra, else 2026-03."""
        if self._api_version_arg is not None:
            return self._api_version_arg
        return self.settings.api_version

    @property
    def max_batch_size(self) -> int:
        return self.settings.max_batch_size

    @property
    def client_stats(self) -> ClientStats:
        return self.get_conn().stats

    def close(self) -> None:
        """Close the client's pooled connections, if it was built; the next call builds anew."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def get_conn(self) -> HubSpotClient:
        """The client, built once per hook (thread safe)."""
        with self._lock:
            if self._client is None:
                settings = self._load_settings()
                self._client = HubSpotClient(
                    settings.base_url,
                    token_provider=token_provider_for(settings),
                    api_version=settings.api_version,
                    governor=RateGovernor(
                        settings.rate_limit, settings.rate_limit_interval_s, share=settings.rate_limit_share
                    ),
                    retry=RetryPolicy(
                        max_attempts=settings.max_attempts, total_timeout_s=settings.retry_total_timeout_s
                    ),
                    connect_timeout=settings.connect_timeout,
                    read_timeout=settings.read_timeout,
                    max_batch_size=settings.max_batch_size,
                )
                self.log.info("HubSpot client ready: %r", self._client)
            return self._client

    # -- delegated operations ------------------------------------------------------------------

    def archive_associations(
        self,
        from_type: str,
        to_type: str,
        inputs: Sequence[BatchArchiveInput],
        *,
        api_version: str | ApiVersion | None = None,
    ) -> BatchResult:
        return self.get_conn().archive_associations(from_type, to_type, inputs, api_version=api_version)

    def archive_labels(
        self,
        from_type: str,
        to_type: str,
        inputs: Sequence[LabelArchiveInput],
        *,
        api_version: str | ApiVersion | None = None,
    ) -> BatchResult:
        return self.get_conn().archive_labels(from_type, to_type, inputs, api_version=api_version)

    def list_labels(
        self, from_type: str, to_type: str, *, api_version: str | ApiVersion | None = None
    ) -> list[AssociationLabel]:
        return self.get_conn().list_labels(from_type, to_type, api_version=api_version)

    def read_associations(
        self,
        from_type: str,
        to_type: str,
        ids: Iterable[str | int],
        *,
        api_version: str | ApiVersion | None = None,
    ) -> AssociationReadResult:
        return self.get_conn().read_associations(from_type, to_type, ids, api_version=api_version)

    def test_connection(self) -> tuple[bool, str]:
        """(True, "OK ...") or (False, the reason): bad token, missing scopes, unreachable host..."""
        try:
            return self.get_conn().test_connection()
        except (HubSpotError, InputValidationError) as exc:
            return False, str(exc)
        except Exception as exc:  # the UI wants a reason, not a traceback
            settings = self._settings
            secrets = [settings.token, *(settings.oauth or ())] if settings else []
            return False, redact(f"{type(exc).__name__}: {exc}", *secrets)

    def __repr__(self) -> str:
        version = self._api_version_arg.value if self._api_version_arg else "from connection"
        return (
            f"HubSpotHook(hubspot_conn_id={self.hubspot_conn_id!r}, api_version={version!r}, "
            f"rate_limit_share={self.rate_limit_share!r})"
        )
