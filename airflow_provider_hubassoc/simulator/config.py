"""The simulator's settings: tokens, fault plan and limits. Plain dataclasses, changeable at run time."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_TOKEN = "pat-sim-demo-token-0000"  # noqa: S105 (public demo value, loopback only)
DEFAULT_OAUTH_CLIENT_ID = "sim-client-id"
DEFAULT_OAUTH_CLIENT_SECRET = "sim-client-secret-0000"  # noqa: S105
DEFAULT_REFRESH_TOKEN = "sim-refresh-token-0000"  # noqa: S105

ReplyMode = Literal["204", "200", "alternate"]
REPLY_MODES = ("204", "200", "alternate")
BATCH_STATUSES = ("PENDING", "PROCESSING", "CANCELED", "COMPLETE")

API_ENDPOINTS = frozenset({"batch_archive", "labels_archive", "batch_read", "labels"})
ENDPOINTS = ("batch_archive", "labels_archive", "batch_read", "labels", "oauth_token")
FAULT_KINDS = frozenset({"500", "502", "503", "504", "reset", "slow", "malformed", "429", "429-daily"})


@dataclass(frozen=True)
class TokenSpec:
    """What a bearer token may do. `scopes=None` grants every scope; `expires_at` is epoch seconds."""

    scopes: frozenset[str] | None = None
    expires_at: float | None = None
    oauth: bool = False


@dataclass
class FaultPlan:
    """Injected trouble, so clients can be tested against the failures HubSpot really produces.

    `schedule` maps the 1-based number of an API request (the four association endpoints, counted
    since start or the last `reset_counters`) to a fault kind. With `commit_on_error` the archive is
    applied before a 5xx/reset fault is sent (the ambiguous "did it happen?" case).
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    malformed_rate: float = 0.0
    schedule: dict[int, str] = field(default_factory=dict)
    visibility_delay_s: float = 0.0
    endpoints: frozenset[str] = API_ENDPOINTS
    commit_on_error: bool = False

    def __post_init__(self) -> None:
        self.schedule = {int(k): str(v) for k, v in self.schedule.items()}
        bad = sorted(set(self.schedule.values()) - FAULT_KINDS)
        if bad:
            raise ValueError(f"unknown fault kinds {bad}: expected some of {sorted(FAULT_KINDS)}")
        self.endpoints = frozenset(self.endpoints)
        unknown = sorted(self.endpoints - set(ENDPOINTS))
        if unknown:
            raise ValueError(f"unknown endpoints {unknown}: expected some of {list(ENDPOINTS)}")
        self.error_statuses = tuple(int(s) for s in self.error_statuses)
        for name in ("error_rate", "reset_rate", "slow_rate", "malformed_rate"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} {value} is not a probability")


def _default_tokens() -> dict[str, TokenSpec]:
    return {DEFAULT_TOKEN: TokenSpec()}


@dataclass
class SimulatorConfig:
    """Every knob of the simulator; `Simulator.configure(**changes)` swaps it atomically at run time."""

    port: int = 0
    host: str = "127.0.0.1"
    max_inputs: int = 100
    read_max_inputs: int = 1000
    read_page_size: int = 500
    reply_mode: ReplyMode = "204"
    batch_status: str = "COMPLETE"
    read_empty_as_error: bool = False  # v4 quirk: records without associations come back as errors
    rate_limit: int = 100
    rate_interval_ms: int = 10_000
    daily_limit: int | None = None
    retry_after: bool = True
    oauth_expires_in: int = 1800
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID
    oauth_client_secret: str = DEFAULT_OAUTH_CLIENT_SECRET
    refresh_tokens: frozenset[str] = frozenset({DEFAULT_REFRESH_TOKEN})
    oauth_scopes: frozenset[str] | None = None  # scopes of issued OAuth access tokens (None = all)
    tokens: dict[str, TokenSpec] = field(default_factory=_default_tokens)
    faults: FaultPlan = field(default_factory=FaultPlan)
    seed: int = 0
    request_log_size: int = 1000

    def __post_init__(self) -> None:
        if self.reply_mode not in REPLY_MODES:
            raise ValueError(f"reply_mode {self.reply_mode!r}: expected one of {REPLY_MODES}")
        if self.batch_status not in BATCH_STATUSES:
            raise ValueError(f"batch_status {self.batch_status!r}: expected one of {BATCH_STATUSES}")
        for name in ("max_inputs", "read_max_inputs", "read_page_size", "rate_limit", "rate_interval_ms"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.daily_limit is not None and self.daily_limit < 0:
            raise ValueError("daily_limit must be None or non-negative")
        self.host = loopback_host(self.host)
        self.refresh_tokens = frozenset(self.refresh_tokens)


def loopback_host(host: str) -> str:
    """Refuse anything but IPv4 loopback: the simulator accepts any demo token, so it must stay local."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host {host!r} is not a loopback address") from None
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"host {host!r} is not an IPv4 loopback address (127.0.0.0/8)")
    return host


def _token_from_json(value: Any) -> TokenSpec:
    if isinstance(value, TokenSpec):
        return value
    if not isinstance(value, dict):
        raise ValueError("a token spec must be an object with scopes, expires_at, oauth")
    return TokenSpec(
        scopes=_coerce("tokens.scopes", frozenset[str] | None, value.get("scopes")),
        expires_at=_coerce("tokens.expires_at", float | None, value.get("expires_at")),
        oauth=_coerce("tokens.oauth", bool, value.get("oauth", False)),
    )


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """`value` as the type `hint` names (JSON has no sets or tuples; numbers may come as text)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(name, inner, value)
    if origin is Literal:
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        if text not in args:
            raise ValueError(f"{name} {value!r}: expected one of {list(args)}")
        return text
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(f"{name} {value!r}: expected true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value)
        raise ValueError(f"{name} {value!r}: expected an integer")
    if hint is float:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is None or not math.isfinite(number):
            raise ValueError(f"{name} {value!r}: expected a number")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} {value!r}: expected a string")
        return value
    if origin in (frozenset, set, tuple):
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple, set, frozenset)):
            raise ValueError(f"{name} {value!r}: expected a list")
        item = args[0]
        items = [_coerce(name, item, v) for v in value]
        return tuple(items) if origin is tuple else frozenset(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{name} {value!r}: expected an object")
        key_hint, value_hint = args
        if value_hint is TokenSpec:
            return {_coerce(name, key_hint, k): _token_from_json(v) for k, v in value.items()}
        return {_coerce(name, key_hint, k): _coerce(name, value_hint, v) for k, v in value.items()}
    return value


def _coerced_changes(cls: type[Any], current: Any, changes: dict[str, Any], what: str) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"unknown {what} fields {unknown}")
    out: dict[str, Any] = {}
    for name, value in changes.items():
        hint = hints[name]
        if hint is FaultPlan:
            if isinstance(value, dict):
                value = dataclasses.replace(
                    current.faults, **_coerced_changes(FaultPlan, current.faults, value, "fault plan")
                )
            elif not isinstance(value, FaultPlan):
                raise ValueError(f"faults {value!r}: expected an object of fault plan fields")
            out[name] = value
        else:
            out[name] = _coerce(name, hint, value)
    return out


def apply_changes(config: SimulatorConfig, changes: dict[str, Any]) -> SimulatorConfig:
    """Return a new config with `changes` applied, each coerced to its field's type or refused.

    The admin endpoint passes JSON: lists for sets, objects for `faults`/`tokens`, perhaps numbers
    as text. A value that cannot be used raises ValueError naming the field, before anything changes.
    """
    return dataclasses.replace(config, **_coerced_changes(SimulatorConfig, config, changes, "config"))


def describe(config: SimulatorConfig) -> dict[str, Any]:
    """A JSON-safe view of the config for the admin endpoint; token values are never shown."""
    faults = dataclasses.asdict(config.faults)
    faults["endpoints"] = sorted(config.faults.endpoints)
    faults["error_statuses"] = list(config.faults.error_statuses)
    faults["schedule"] = {str(k): v for k, v in config.faults.schedule.items()}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.name in ("tokens", "faults", "refresh_tokens", "oauth_client_secret"):
            continue
        value = getattr(config, f.name)
        out[f.name] = sorted(value) if isinstance(value, (set, frozenset)) else value
    out["faults"] = faults
    out["token_count"] = len(config.tokens)
    return out
