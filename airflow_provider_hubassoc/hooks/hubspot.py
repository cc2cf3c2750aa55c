"""HubSpotHook: turns an Airflow `hubspot` connection into a configured HubSpotClient.

The hook reads configuration and builds the client; every API method and HTTP concern lives in
the Airflow-free client (`hook.get_conn().archive_associations(...)`). The Connection object is
never logged or repr'd: Airflow's Connection.__repr__ prints the password.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_hubassoc import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_hubassoc.client.api import DEFAULT_BASE_URL, HubSpotClient, check_base_url
from airflow_provider_hubassoc.client.auth import OAuthTokenProvider, StaticTokenProvider, TokenProvider
from airflow_provider_hubassoc.client.budget import RateBudget
from airflow_provider_hubassoc.client.errors import (
    HubSpotConfigError,
    HubSpotError,
    HubSpotRateStoreError,
    redact,
)
from airflow_provider_hubassoc.client.governor import DEFAULT_INTERVAL_S, RateGovernor, tier_limit
from airflow_provider_hubassoc.client.local_budget import LocalRateBudget
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.client.shared_budget import SharedRateBudget
from airflow_provider_hubassoc.client.versions import OAUTH_TOKEN_PATH, ApiVersion, parse_api_version
from airflow_provider_hubassoc.models.identifiers import InputValidationError, short_repr

_OAUTH_KEYS = ("client_id", "client_secret", "refresh_token")
_STORE_TIMEOUT_S = 5.0
_DEFAULT_PORTS = {"https": 443, "http": 80}
_LOCAL_DIR_NAME = "hubassoc"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Bound:
    default: float
    minimum: float
    maximum: float
    integer: bool = False


# Numeric extras: default, and the range a sane connection stays in (1e308 s is a typo, not a wish).
_NUMBERS: dict[str, _Bound] = {
    "rate_limit_interval_ms": _Bound(DEFAULT_INTERVAL_S * 1000, 1, 3_600_000),
    "max_batch_size": _Bound(100, 1, 1000, integer=True),
    "connect_timeout": _Bound(10.0, 0.001, 600),
    "read_timeout": _Bound(60.0, 0.001, 3600),
    "max_retries": _Bound(5, 0, 100, integer=True),
    "retry_total_timeout": _Bound(300.0, 0.001, 86_400),
}
_RATE_LIMIT = _Bound(0, 1, 100_000, integer=True)  # default: the tier's limit


def _extra(extras: Mapping[str, Any], key: str) -> Any:
    """An extra by its plain key or the `extra__hubspot__` prefixed one older forms write."""
    for name in (key, f"extra__hubspot__{key}"):
        value = extras.get(name)
        if value is not None and value != "":
            return value
    return None


def _number(extras: Mapping[str, Any], key: str, bound: _Bound, default: float | None = None) -> float:
    """A numeric extra (the form may store it as a string), refused naming it when out of range."""
    raw = _extra(extras, key)
    if raw is None:
        return bound.default if default is None else default
    try:
        value = math.nan if isinstance(raw, bool) else float(raw)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    in_range = math.isfinite(value) and bound.minimum <= value <= bound.maximum
    if not in_range or (bound.integer and not value.is_integer()):
        kind = "an integer" if bound.integer else "a number"
        raise HubSpotConfigError(
            f"connection extra {key!r} must be {kind} from {bound.minimum:g} to {bound.maximum:g}, "
            f"got {short_repr(raw, 60)}"
        )
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
    rate_budget: SharedBudgetSettings = field(default_factory=lambda: SharedBudgetSettings())

    @property
    def token_url(self) -> str:
        return self.base_url + OAUTH_TOKEN_PATH

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.token, *(self.oauth or ())) if s]

    @property
    def account_key(self) -> str:
        """Names the account's rate budget without revealing the credential: a hash of the API host
        and the token (or the OAuth app and install), so every connection with it shares one."""
        credential = self.token or "\n".join((self.oauth or ("", "", ""))[::2])
        return hashlib.sha256(f"{budget_host(self.base_url)}\n{credential}".encode()).hexdigest()[:24]

    @property
    def budget_account(self) -> str:
        """The account's budget name: `rate_limit_account` when set, else `account_key`."""
        return self.rate_budget.account or self.account_key


def budget_host(base_url: str) -> str:
    """The API host as the budget knows it: one spelling per host, so one token gets one budget
    (`https://API.hubapi.com.:443` is `https://api.hubapi.com`)."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").rstrip(".")  # urlsplit lower-cases the host name
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None  # check_base_url has refused it already
    shown_port = "" if port in (None, _DEFAULT_PORTS.get(parts.scheme)) else f":{port}"
    return f"{parts.scheme}://{host}{shown_port}"


_ON_STORE_ERROR = ("fail", "local")


@dataclass(frozen=True)
class SharedBudgetSettings:
    """Where the account's shared rate budget lives (connection extras `rate_limit_redis_conn_id`,
    `rate_limit_local_dir`, `rate_limit_account`, `rate_limit_on_store_error`).

    With a Redis connection, in Redis (every machine); else in a SQLite file in `local_dir` (every
    process of this machine; None: the default directory, see `default_local_dir`).
    """

    redis_conn_id: str | None = None
    account: str | None = None
    fallback_local: bool = False
    local_dir: str | None = None


def _shared_budget(extras: Mapping[str, Any]) -> SharedBudgetSettings:
    redis_conn_id = _extra(extras, "rate_limit_redis_conn_id")
    local_dir = _extra(extras, "rate_limit_local_dir")
    on_error = str(_extra(extras, "rate_limit_on_store_error") or "fail").strip().lower()
    if on_error not in _ON_STORE_ERROR:
        raise HubSpotConfigError(
            f"connection extra 'rate_limit_on_store_error' must be 'fail' or 'local', "
            f"got {short_repr(on_error, 40)}"
        )
    account = _extra(extras, "rate_limit_account")
    return SharedBudgetSettings(
        redis_conn_id=str(redis_conn_id).strip() if redis_conn_id is not None else None,
        account=(str(account).strip() or None) if account is not None else None,
        fallback_local=on_error == "local",
        local_dir=(str(local_dir).strip() or None) if local_dir is not None else None,
    )


def _base_url(host: str | None, port: int | None, extras: Mapping[str, Any]) -> str:
    """The base URL from the host (a bare host means https) and the port field, if set."""
    url = str(_extra(extras, "base_url") or host or DEFAULT_BASE_URL).strip()
    if "://" not in url:
        url = f"https://{url}"
    if not port:
        return check_base_url(url)
    if not 0 < port < 65536:
        raise HubSpotConfigError(f"connection port {port} is not a TCP port (1-65535)")
    parts = urlsplit(url)
    try:
        url_port = parts.port
    except ValueError:
        url_port = None  # check_base_url names it
    if url_port is not None and url_port != port:
        raise HubSpotConfigError(
            f"connection port {port} differs from the port in the host URL ({url_port}): set one of them"
        )
    if url_port is None:
        url = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))
    return check_base_url(url)


def _oauth(extras: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The OAuth triple, all three or none."""
    values = [_extra(extras, key) for key in _OAUTH_KEYS]
    missing = [key for key, value in zip(_OAUTH_KEYS, values, strict=True) if not value]
    if len(missing) == len(_OAUTH_KEYS):
        return None
    if missing:
        raise HubSpotConfigError(f"OAuth connection is missing extra(s): {', '.join(missing)}")
    client_id, client_secret, refresh_token = (str(v) for v in values)
    return client_id, client_secret, refresh_token


def _rate_limit(extras: Mapping[str, Any], oauth: bool) -> int:
    """The extra `rate_limit`, else the chosen tier's, else the auth method's (oauth 110, free 100)."""
    tier = _extra(extras, "rate_limit_tier") or ("oauth" if oauth else "free")
    return int(_number(extras, "rate_limit", _RATE_LIMIT, default=tier_limit(str(tier))))


def settings_from_connection(
    host: str | None,
    port: int | None,
    password: str | None,
    extras: Mapping[str, Any],
    *,
    api_version: str | ApiVersion | None = None,
    rate_limit_share: float | None = None,
) -> HubSpotSettings:
    """Map connection fields and extras to settings (argument > extra > default)."""
    oauth = _oauth(extras)
    if oauth is None and not password:
        raise HubSpotConfigError(
            "the connection has no access token (password) and no OAuth extras "
            "(client_id, client_secret, refresh_token)"
        )
    numbers = {key: _number(extras, key, bound) for key, bound in _NUMBERS.items()}
    return HubSpotSettings(
        base_url=_base_url(host, port, extras),
        api_version=parse_api_version(api_version or _extra(extras, "api_version")),
        rate_limit=_rate_limit(extras, oauth is not None),
        rate_limit_interval_s=numbers["rate_limit_interval_ms"] / 1000.0,
        rate_limit_share=1.0 if rate_limit_share is None else rate_limit_share,
        max_batch_size=int(numbers["max_batch_size"]),
        connect_timeout=numbers["connect_timeout"],
        read_timeout=numbers["read_timeout"],
        max_attempts=int(numbers["max_retries"]) + 1,
        retry_total_timeout_s=numbers["retry_total_timeout"],
        token=None if oauth else password,
        oauth=oauth,
        rate_budget=_shared_budget(extras),
    )


def _extras_of(extra: str | None) -> dict[str, Any]:
    """The connection's extras, parsed here rather than through `extra_dejson`.

    `extra_dejson` hands every extra value to Airflow's masker, and short ones ("v4", "free")
    make every task log warn "Skipping masking for a secret as it's too short". The real
    secrets are masked on their own (the password by Airflow, the OAuth ones below).
    """
    if not extra:
        return {}
    try:
        extras = json.loads(extra)
    except ValueError:
        raise HubSpotConfigError("the connection's extra is not valid JSON") from None
    if not isinstance(extras, dict):
        raise HubSpotConfigError("the connection's extra must be a JSON object")
    return extras


def _mask_secret(secret: str) -> None:
    from airflow.providers.common.compat.sdk import mask_secret

    mask_secret(secret)


def token_provider_for(settings: HubSpotSettings) -> TokenProvider:
    """OAuth when the connection has OAuth extras, else the password as a fixed token."""
    if settings.oauth is not None:
        client_id, client_secret, refresh_token = settings.oauth
        return OAuthTokenProvider(
            client_id, client_secret, refresh_token, settings.token_url, on_new_token=_mask_secret
        )
    return StaticTokenProvider(settings.token or "")


def shared_budget_for(settings: HubSpotSettings) -> RateBudget | None:
    """The account's budget: in the Redis server the connection names (checked with a PING), else
    in this machine's local store. None: the task's own window only (a store that cannot be used,
    when the connection allows it)."""
    if settings.rate_budget.redis_conn_id is None:
        return local_budget_for(settings)
    return redis_budget_for(settings)


def redis_budget_for(settings: HubSpotSettings) -> SharedRateBudget | None:
    """The account's budget in the Redis server the connection names, checked with a PING.

    A named store that does not answer fails here, naming its connection, unless the connection
    asks to go on with unshared limits (`rate_limit_on_store_error: local`).
    """
    budget = settings.rate_budget
    assert budget.redis_conn_id is not None
    store_name = f"Redis connection {budget.redis_conn_id!r}"
    redis_hook = _redis_hook(budget.redis_conn_id)
    try:
        redis_conn = redis_hook.get_connection(budget.redis_conn_id)
    except Exception as exc:  # not defined, or the secrets backend refused it: a setup error
        reason = redact(f"{type(exc).__name__}: {exc}", *settings.secrets)[:300]
        raise HubSpotConfigError(f"the shared rate budget's {store_name} cannot be used: {reason}") from None
    secrets = tuple(s for s in (redis_conn.password, *settings.secrets) if s)
    try:
        store = redis_hook.get_conn()
        _bound_waits(store)
        store.ping()
    except Exception as exc:  # whatever the store raised
        reason = redact(f"{type(exc).__name__}: {exc}", *secrets)[:300]
        if not budget.fallback_local:
            raise HubSpotRateStoreError(
                f"the shared rate budget's store ({store_name}) is unreachable: {reason}"
            ) from None
        log.warning(
            "The shared rate budget's store (%s) is unreachable (%s); going on with this task's own "
            "rate window only, as the connection asks (rate_limit_on_store_error=local).",
            store_name,
            reason,
        )
        return None
    return SharedRateBudget(
        store,
        settings.budget_account,
        store_name=store_name,
        fallback_local=budget.fallback_local,
        secrets=secrets,
    )


def _airflow_home() -> str:
    return os.environ.get("AIRFLOW_HOME", "").strip()


def default_local_dir() -> Path:
    """$AIRFLOW_HOME/hubassoc, or (no Airflow home) a directory of this user's in the temp dir."""
    home = _airflow_home()
    if home:
        return Path(home).expanduser() / _LOCAL_DIR_NAME
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"{_LOCAL_DIR_NAME}-{user}"


def local_budget_for(settings: HubSpotSettings) -> LocalRateBudget | None:
    """The account's budget in this machine's local store, opened (and created) now.

    A directory the connection names that cannot be used fails here, naming it, unless the
    connection allows going on without (`rate_limit_on_store_error: local`); the default directory
    only warns: a task that asked for nothing keeps its own window, as before.
    """
    budget = settings.rate_budget
    named = budget.local_dir is not None
    directory = Path(budget.local_dir).expanduser() if budget.local_dir else default_local_dir()
    local = LocalRateBudget(directory, settings.budget_account, fallback_local=budget.fallback_local)
    try:
        _check_owner(directory, named)
        return local.open()
    except Exception as exc:  # an unwritable directory, a full disk, a damaged file
        reason = redact(f"{type(exc).__name__}: {exc}", *settings.secrets)[:300]
        if named and not budget.fallback_local:
            raise HubSpotConfigError(
                f"the machine-local rate budget in rate_limit_local_dir {str(directory)!r} "
                f"cannot be used: {reason}"
            ) from None
        log.warning(
            "The machine-local rate budget in %s cannot be used (%s); going on with this task's own "
            "rate window only: set rate_limit_local_dir to a writable local directory to share one",
            directory,
            reason,
        )
        return None


def _check_owner(directory: Path, named: bool) -> None:
    """A default directory in the shared temp dir must be ours: another user could have made it."""
    if named or not hasattr(os, "getuid") or _airflow_home():
        return
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to another user")


def _redis_hook(redis_conn_id: str) -> Any:
    try:
        from airflow.providers.redis.hooks.redis import RedisHook
    except ImportError:
        raise HubSpotConfigError(
            f"the connection names a shared rate budget store ({redis_conn_id!r}), which needs "
            "apache-airflow-providers-redis: pip install 'airflow-provider-hubassoc[redis]'"
        ) from None
    return RedisHook(redis_conn_id=redis_conn_id)


def _bound_waits(store: Any) -> None:
    """Give the Redis client connect and read timeouts (RedisHook sets none): a store that hangs
    must fail the request, not hold it for ever."""
    pool = getattr(store, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if isinstance(kwargs, dict):
        for name in ("socket_connect_timeout", "socket_timeout"):
            if kwargs.get(name) is None:
                kwargs[name] = _STORE_TIMEOUT_S


_BUDGETS_LOGGED: set[tuple[int, str]] = set()


def log_budget_once(budget: RateBudget | None, logger: logging.Logger | Any) -> None:
    """Say in the task's log, once per process and budget, which rate budget its requests take."""
    where = budget.description if budget is not None else "this task's own rate window only"
    key = (os.getpid(), where)
    if key not in _BUDGETS_LOGGED:
        _BUDGETS_LOGGED.add(key)
        logger.info("HubSpot rate budget: %s", where)


def client_for(settings: HubSpotSettings) -> HubSpotClient:
    """A client configured from the connection's settings."""
    return HubSpotClient(
        settings.base_url,
        token_provider=token_provider_for(settings),
        api_version=settings.api_version,
        governor=RateGovernor(
            settings.rate_limit,
            settings.rate_limit_interval_s,
            share=settings.rate_limit_share,
            shared=shared_budget_for(settings),
        ),
        retry=RetryPolicy(max_attempts=settings.max_attempts, total_timeout_s=settings.retry_total_timeout_s),
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_batch_size=settings.max_batch_size,
    )


class HubSpotHook(BaseHook):
    """Interact with HubSpot CRM associations through a `hubspot` Airflow connection.

    `get_conn()` returns the HubSpotClient, built once per hook; call its methods
    (`archive_associations`, `archive_labels`, `list_labels`, `read_associations`).

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
        # A bad version is refused now, before any connection lookup.
        self._api_version = parse_api_version(api_version) if api_version else None
        self.rate_limit_share = rate_limit_share
        self._lock = threading.Lock()
        self._settings: HubSpotSettings | None = None
        self._client: HubSpotClient | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form for Airflow 2.11-3.1 (3.2+ reads it from the provider info)."""
        return copy.deepcopy(UI_FIELD_BEHAVIOUR)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form on Airflow 2.11-3.1 (Flask AppBuilder widgets).

        2.11 renders them itself; 3.0 and 3.1 call this too (when WTForms is installed) and turn
        the fields into the React form's JSON schema; 3.2+ draws the same fields from `conn-fields`.
        """
        from flask_appbuilder.fieldwidgets import (  # type: ignore[import-not-found]
            BS3PasswordFieldWidget,
            BS3TextFieldWidget,
        )
        from flask_babel import lazy_gettext  # type: ignore[import-not-found]
        from wtforms import PasswordField, StringField  # type: ignore[import-untyped]

        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            secret = spec["schema"].get("format") == "password"
            kind, widget = (
                (PasswordField, BS3PasswordFieldWidget) if secret else (StringField, BS3TextFieldWidget)
            )
            widgets[name] = kind(
                lazy_gettext(spec["label"]), widget=widget(), description=spec.get("description")
            )
        return widgets

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
                _extras_of(conn.extra),
                api_version=self._api_version,
                rate_limit_share=self.rate_limit_share,
            )
        return self._settings

    def get_conn(self) -> HubSpotClient:
        """The client, built once per hook (thread safe)."""
        with self._lock:
            if self._client is None:
                self._client = client_for(self._load_settings())
                self.log.info("HubSpot client ready: %r", self._client)
                log_budget_once(self._client.governor.shared, self.log)
            return self._client

    def close(self) -> None:
        """Close the client's pooled connections, if it was built; the next call builds anew."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def test_connection(self) -> tuple[bool, str]:
        """(True, "OK ...") or (False, the reason): bad token, missing scopes, busy account..."""
        try:
            return self.get_conn().test_connection()
        except (HubSpotError, InputValidationError) as exc:
            return False, str(exc)
        except Exception as exc:  # the UI wants a reason, not a traceback
            secrets = self._settings.secrets if self._settings else []
            return False, redact(f"{type(exc).__name__}: {exc}", *secrets)[:2000]

    def __repr__(self) -> str:
        return (
            f"HubSpotHook(hubspot_conn_id={self.hubspot_conn_id!r}, "
            f"api_version={self._api_version.value if self._api_version else 'from connection'!r}, "
            f"rate_limit_share={self.rate_limit_share!r})"
        )
