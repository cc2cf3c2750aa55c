"""The simulator's settings: tokens, fault plan, limits and per-version replies, changeable at run time.

Declared once as pydantic dataclasses: the types below are the whole coercion rule for values that
come from the admin endpoint as JSON (lists for sets, numbers perhaps as text). A value that cannot
be used raises ValueError naming its field, before anything changes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import field
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field
from pydantic.dataclasses import dataclass

from hubassoc_simulator.facts import (
    ARCHIVE_MAX_INPUTS,
    DEFAULT_ARCHIVE_REPLIES,
    DEFAULT_CREATE_REPLIES,
    DEFAULT_READ_REPLIES,
    READ_MAX_INPUTS,
    ArchiveReply,
    CreateReply,
    ReadReply,
    Version,
)

DEFAULT_TOKEN = "pat-sim-demo-token-0000"  # noqa: S105 (public demo value, loopback only)
DEFAULT_OAUTH_CLIENT_ID = "sim-client-id"
DEFAULT_OAUTH_CLIENT_SECRET = "sim-client-secret-0000"  # noqa: S105
DEFAULT_REFRESH_TOKEN = "sim-refresh-token-0000"  # noqa: S105

Endpoint = Literal[
    "batch_archive",
    "labels_archive",
    "batch_read",
    "labels",
    "batch_create",
    "oauth_token",
    "account_details",
]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)  # one list: a new endpoint is named once
API_ENDPOINTS: frozenset[Endpoint] = frozenset(ENDPOINTS) - {"oauth_token", "account_details"}
FaultKind = Literal[
    "500",
    "502",
    "503",
    "504",
    "521",
    "522",
    "524",
    "423",
    "477",
    "reset",
    "slow",
    "malformed",
    "429",
    "429-daily",
]
BatchStatus = Literal["PENDING", "PROCESSING", "CANCELED", "COMPLETE"]
_SETTINGS = ConfigDict(allow_inf_nan=False)


def _refuse_bool(value: Any) -> Any:
    """JSON `true` is not a number (pydantic would read it as 1)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


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


Int = Annotated[int, BeforeValidator(_refuse_bool)]
Positive = Annotated[int, BeforeValidator(_refuse_bool), Field(ge=1)]
Number = Annotated[float, BeforeValidator(_refuse_bool)]
Probability = Annotated[float, BeforeValidator(_refuse_bool), Field(ge=0.0, le=1.0)]
LoopbackHost = Annotated[str, AfterValidator(loopback_host)]


@dataclass(frozen=True, config=_SETTINGS)
class TokenSpec:
    """What a bearer token may do. `scopes=None` grants every scope; `expires_at` is epoch seconds."""

    scopes: frozenset[str] | None = None
    expires_at: Number | None = None
    oauth: bool = False


@dataclass(config=_SETTINGS)
class FaultPlan:
    """Injected trouble, so clients can be tested against the failures HubSpot really produces.

    `schedule` maps the 1-based number of an API request (the association endpoints, counted
    since start or the last `reset_counters`) to a fault kind. With `commit_on_error` the archive is
    applied before a 5xx/reset fault is sent (the ambiguous "did it happen?" case). Besides 5xx,
    HubSpot's "try again later" statuses: 423 Locked, 477 Migration in Progress (sent with
    `Retry-After: migration_retry_after_s`), and the CDN's 521/522/524 (an HTML page).
    """

    latency_ms: Number = 0.0
    jitter_ms: Number = 0.0
    error_rate: Probability = 0.0
    error_statuses: tuple[Int, ...] = (500, 502, 503, 504)
    reset_rate: Probability = 0.0
    slow_rate: Probability = 0.0
    slow_seconds: Number = 5.0
    malformed_rate: Probability = 0.0
    schedule: dict[Int, FaultKind] = field(default_factory=dict)
    migration_retry_after_s: Annotated[float, BeforeValidator(_refuse_bool), Field(ge=0.0)] = 1.0
    visibility_delay_s: Number = 0.0
    endpoints: frozenset[Endpoint] = API_ENDPOINTS
    commit_on_error: bool = False


def _default_tokens() -> dict[str, TokenSpec]:
    return {DEFAULT_TOKEN: TokenSpec()}


@dataclass(config=_SETTINGS)
class SimulatorConfig:
    """Every knob of the simulator; `Simulator.configure(**changes)` swaps it atomically at run time.

    Replies per version default to what HubSpot describes today (`facts.DEFAULT_*_REPLIES`);
    `archive_replies`, `read_replies` and `create_replies` select the flipped variants per version,
    and `reply_mode` (when set) gives every version the same archive reply. `silent_drops` lists
    (from id, to id) pairs that archive and labels archive leave in place while answering success.
    `create_adds_unlabeled` selects the other answer to an UNSETTLED point: batch create of a labeled
    type also creates the pair's unlabeled one.
    """

    port: Int = 0
    host: LoopbackHost = "127.0.0.1"
    max_inputs: Positive = ARCHIVE_MAX_INPUTS
    read_max_inputs: Positive = READ_MAX_INPUTS
    read_page_size: Positive = 500
    reply_mode: ArchiveReply | None = None
    archive_replies: dict[Version, ArchiveReply] = field(default_factory=DEFAULT_ARCHIVE_REPLIES.copy)
    read_replies: dict[Version, ReadReply] = field(default_factory=DEFAULT_READ_REPLIES.copy)
    create_replies: dict[Version, CreateReply] = field(default_factory=DEFAULT_CREATE_REPLIES.copy)
    batch_status: BatchStatus = "COMPLETE"
    read_empty_as_error: bool = False  # v4 quirk: records without associations come back as errors
    # From ids whose batch read fails with a per-input error other than not-found (INTERNAL_ERROR).
    read_failures: frozenset[str] = frozenset()
    silent_drops: frozenset[tuple[str, str]] = frozenset()
    create_adds_unlabeled: bool = False  # UNSETTLED: creating a label also creates the unlabeled type
    # Association limits set by an admin (HubSpot's `maxToObjectIds` per type id): key
    # "<from type>/<to type>/<CATEGORY>:<typeId>" (canonical type names, e.g.
    # "contacts/companies/HUBSPOT_DEFINED:279" caps the companies one contact may have, and
    # "contacts/companies/USER_DEFINED:36" those it may have with that label) -> the most to records
    # one from record may hold with that type. A create past a cap fails for that input (207).
    association_limits: dict[str, Positive] = field(default_factory=dict)
    rate_limit: Positive = 100
    rate_interval_ms: Positive = 10_000
    daily_limit: Annotated[int, BeforeValidator(_refuse_bool), Field(ge=0)] | None = None
    retry_after: bool = True
    oauth_expires_in: Int = 1800
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID
    oauth_client_secret: str = DEFAULT_OAUTH_CLIENT_SECRET
    refresh_tokens: frozenset[str] = frozenset({DEFAULT_REFRESH_TOKEN})
    oauth_scopes: frozenset[str] | None = None  # scopes of issued OAuth access tokens (None = all)
    tokens: dict[str, TokenSpec] = field(default_factory=_default_tokens)
    faults: FaultPlan = field(default_factory=FaultPlan)
    seed: Int = 0
    # The account the tokens belong to (`portalId` of the account-details endpoints), and whether
    # those endpoints refuse the tokens (UNSETTLED for private apps without extra scopes).
    portal_id: Positive = 62_000_001
    account_info_forbidden: bool = False
    request_log_size: Positive = 1000

    def archive_reply(self, version: Version) -> ArchiveReply:
        return self.reply_mode or self.archive_replies.get(version) or DEFAULT_ARCHIVE_REPLIES[version]

    def read_reply(self, version: Version) -> ReadReply:
        return self.read_replies.get(version) or DEFAULT_READ_REPLIES[version]

    def create_reply(self, version: Version) -> CreateReply:
        return self.create_replies.get(version) or DEFAULT_CREATE_REPLIES[version]


# Fields whose JSON object is merged into the current value rather than replacing it.
_MERGED = ("archive_replies", "read_replies", "create_replies")


def apply_changes(config: SimulatorConfig, changes: dict[str, Any]) -> SimulatorConfig:
    """Return a new config with `changes` applied, each coerced to its field's type or refused.

    `faults` and the per-version reply tables may be given in part: `{"faults": {"latency_ms": 5}}`
    keeps the other fault settings, `{"archive_replies": {"v4": "200"}}` the other versions.
    """
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(SimulatorConfig)})
    if unknown:
        raise ValueError(f"unknown config fields {unknown}")
    merged = dict(changes)
    faults = changes.get("faults")
    if isinstance(faults, dict):
        fault_fields = {f.name for f in dataclasses.fields(FaultPlan)}
        if set(faults) - fault_fields:
            raise ValueError(f"unknown fault plan fields {sorted(set(faults) - fault_fields)}")
        merged["faults"] = dataclasses.replace(config.faults, **faults)
    for name in _MERGED:
        if isinstance(changes.get(name), dict):
            merged[name] = {**getattr(config, name), **changes[name]}
    return dataclasses.replace(config, **merged)


_HIDDEN = frozenset({"tokens", "faults", "refresh_tokens", "oauth_client_secret"})


def _plain(value: Any) -> Any:
    """JSON-able: sets become sorted lists (of lists, for pairs)."""
    if isinstance(value, (set, frozenset)):
        return sorted(list(v) if isinstance(v, tuple) else v for v in value)
    return value


def describe(config: SimulatorConfig) -> dict[str, Any]:
    """The config as JSON for the admin endpoint: never a token or a secret."""
    shown = [f.name for f in dataclasses.fields(config) if f.name not in _HIDDEN]
    out = {name: _plain(getattr(config, name)) for name in shown}
    faults = {f.name: _plain(getattr(config.faults, f.name)) for f in dataclasses.fields(config.faults)}
    faults["schedule"] = {str(k): v for k, v in config.faults.schedule.items()}
    out["faults"] = faults
    out["token_count"] = len(config.tokens)
    return out
