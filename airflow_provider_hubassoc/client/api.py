"""HubSpotClient: the association endpoints over one pooled, rate-governed, retrying session.

Airflow-free on purpose: the hook, the triggers, the simulator tests and the benchmarks all use it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter

from airflow_provider_hubassoc import __version__
from airflow_provider_hubassoc.client.auth import TokenProvider
from airflow_provider_hubassoc.client.error_mapping import error_from_response
from airflow_provider_hubassoc.client.errors import (
    HubSpotAuthError,
    HubSpotConfigError,
    HubSpotError,
    HubSpotRateLimitError,
    HubSpotTransportError,
    redact,
)
from airflow_provider_hubassoc.client.governor import GovernorStats, RateGovernor
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.client.versions import (
    BATCH_ARCHIVE,
    BATCH_READ,
    LABELS,
    LABELS_ARCHIVE,
    READ_BATCH_LIMIT,
    ApiVersion,
    associations_path,
    parse_api_version,
)
from airflow_provider_hubassoc.models.associations import BatchArchiveInput, LabelArchiveInput
from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id
from airflow_provider_hubassoc.models.responses import (
    AssociatedRecord,
    AssociationLabel,
    AssociationReadResult,
    BatchErrorItem,
    BatchResponse,
    BatchResult,
)

log = logging.getLogger("airflow_provider_hubassoc.client")

DEFAULT_BASE_URL = "https://api.hubapi.com"
USER_AGENT = f"airflow-provider-hubassoc/{__version__}"
_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)


# ---------------------------------------------------------------------------------------------
# Base URL


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash; refuse plain HTTP to anything but loopback."""
    parts = urlsplit(url.strip())
    shown = f"{parts.scheme}://{parts.hostname or ''}"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise HubSpotConfigError(f"base URL {shown!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise HubSpotConfigError(f"base URL {shown!r} must not carry credentials")
    if parts.query or parts.fragment:
        raise HubSpotConfigError(f"base URL {shown!r} must not have a query or fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise HubSpotConfigError(
            f"base URL {shown!r} uses plain HTTP: the token would travel unencrypted. "
            "Use https:// (http:// is allowed only for loopback hosts such as the simulator)"
        )
    return url.strip().rstrip("/")


# ---------------------------------------------------------------------------------------------
# Counters


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of one client's counters (printed by the benchmarks)."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    auth_refreshes: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    governor: GovernorStats | None = None


class _Counters:
    """Thread-safe counters behind `HubSpotClient.stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.auth_refreshes = 0
        self.by_status: dict[int, int] = {}
        self.errors: dict[str, int] = {}

    def response(self, status: int) -> None:
        with self._lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if status == 429:
                self.rate_limited += 1

    def add(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def error(self, error: BaseException) -> None:
        with self._lock:
            key = type(error).__name__
            self.errors[key] = self.errors.get(key, 0) + 1

    def snapshot(self, governor: GovernorStats) -> ClientStats:
        with self._lock:
            return ClientStats(
                requests=self.requests,
                retries=self.retries,
                rate_limited=self.rate_limited,
                auth_refreshes=self.auth_refreshes,
                by_status=dict(self.by_status),
                errors=dict(self.errors),
                governor=governor,
            )


# ---------------------------------------------------------------------------------------------
# Reply parsing


class _Reply(NamedTuple):
    status: int
    body: Any | None  # parsed JSON, None for 204 / an empty body


class _ReadPage(NamedTuple):
    records: list[tuple[str, list[AssociatedRecord], str | None]]
    errors: list[BatchErrorItem]


def _parse_batch(reply: _Reply) -> BatchResult:
    if reply.body is None:
        return BatchResult(http_status=reply.status, batch=None)
    return BatchResult(http_status=reply.status, batch=BatchResponse.model_validate(reply.body))


def _parse_labels(reply: _Reply) -> list[AssociationLabel]:
    if reply.body is None:
        return []
    return [AssociationLabel.model_validate(item) for item in reply.body.get("results", [])]


def _parse_read_page(reply: _Reply) -> _ReadPage:
    if reply.body is None:
        return _ReadPage([], [])
    records = []
    for item in reply.body.get("results", []):
        from_id = str(item["from"]["id"])
        to = [AssociatedRecord.model_validate(record) for record in item.get("to", [])]
        after = ((item.get("paging") or {}).get("next") or {}).get("after")
        records.append((from_id, to, str(after) if after not in (None, "") else None))
    errors = [BatchErrorItem.model_validate(e) for e in reply.body.get("errors", [])]
    return _ReadPage(records, errors)


def _json_body(response: requests.Response, token: str) -> Any:
    """The reply's JSON; a reply quoting the token (e.g. in a per-input error message, which ends up
    in the report and XCom) has it replaced by '***' first."""
    secret = token.encode()
    if secret and secret in response.content:
        return json.loads(response.content.replace(secret, b"***"))
    return response.json()


class _Bearer(requests.auth.AuthBase):
    """Sets the Authorization header (and keeps ~/.netrc from replacing it)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(***)"


# ---------------------------------------------------------------------------------------------
# The client


class HubSpotClient:
    """HubSpot CRM associations: archive, label archive, labels and batch read.

    Thread safe: chunks may be sent concurrently; they share one connection pool, one rate
    governor and one token provider.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token_provider: TokenProvider,
        api_version: str | ApiVersion | None = None,
        governor: RateGovernor | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_batch_size: int = 100,
        pool_size: int = 32,
    ) -> None:
        if max_batch_size < 1:
            raise HubSpotConfigError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if pool_size < 1:
            raise HubSpotConfigError(f"pool_size must be at least 1, got {pool_size}")
        self.base_url = check_base_url(base_url)
        self.api_version = parse_api_version(api_version)
        self.max_batch_size = max_batch_size
        self._tokens = token_provider
        self._governor = governor if governor is not None else RateGovernor()
        self._retry = retry if retry is not None else RetryPolicy()
        self._timeout = (connect_timeout, read_timeout)
        self._counters = _Counters()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})

    # -- public API ----------------------------------------------------------------------------

    def archive_associations(
        self,
        from_type: str,
        to_type: str,
        inputs: Sequence[BatchArchiveInput],
        *,
        api_version: str | ApiVersion | None = None,
    ) -> BatchResult:
        """Remove every association between each input's pairs (one request)."""
        path = self._path(api_version, from_type, to_type, BATCH_ARCHIVE)
        body = self._batch_body(inputs, BatchArchiveInput, "archive_associations")
        return self._send("POST", path, body, _parse_batch)

    def archive_labels(
        self,
        from_type: str,
        to_type: str,
        inputs: Sequence[LabelArchiveInput],
        *,
        api_version: str | ApiVersion | None = None,
    ) -> BatchResult:
        """Remove the given labels between each input's pair (one request)."""
        path = self._path(api_version, from_type, to_type, LABELS_ARCHIVE)
        body = self._batch_body(inputs, LabelArchiveInput, "archive_labels")
        return self._send("POST", path, body, _parse_batch)

    def list_labels(
        self, from_type: str, to_type: str, *, api_version: str | ApiVersion | None = None
    ) -> list[AssociationLabel]:
        """The labels defined from `from_type` to `to_type` (to resolve a label name to its type id)."""
        path = self._path(api_version, from_type, to_type, LABELS)
        return self._send("GET", path, None, _parse_labels)

    def read_associations(
        self,
        from_type: str,
        to_type: str,
        ids: Iterable[str | int],
        *,
        api_version: str | ApiVersion | None = None,
    ) -> AssociationReadResult:
        """Read back every association of `ids`, following each result's paging.

        Every requested id gets a key in `.associations` (an empty list when nothing links it);
        per-input errors of 207 replies are gathered in `.errors`.
        """
        path = self._path(api_version, from_type, to_type, BATCH_READ)
        unique = list(dict.fromkeys(parse_record_id(i, field="read_associations id") for i in ids))
        if not unique:
            raise InputValidationError("read_associations needs at least one id")
        result = AssociationReadResult(associations={i: [] for i in unique})
        pending: list[tuple[str, str | None]] = [(i, None) for i in unique]
        followed: set[tuple[str, str]] = set()
        while pending:
            chunk, pending = pending[:READ_BATCH_LIMIT], pending[READ_BATCH_LIMIT:]
            inputs = [{"id": i, "after": after} if after else {"id": i} for i, after in chunk]
            page = self._send("POST", path, {"inputs": inputs}, _parse_read_page)
            for from_id, records, after in page.records:
                result.associations.setdefault(from_id, []).extend(records)
                if after is None:
                    continue
                if (from_id, after) in followed:
                    log.warning("HubSpot repeated paging cursor for id %s; stopping there", from_id)
                    continue
                followed.add((from_id, after))
                pending.append((from_id, after))
            result.errors.extend(page.errors)
        return result

    def test_connection(self) -> tuple[bool, str]:
        """One labels read (contacts -> companies): proves URL, token and version, in one request."""
        version = self.api_version.value
        try:
            path = associations_path(self.api_version, "contacts", "companies", LABELS)
            labels = self._send("GET", path, None, _parse_labels, retry=RetryPolicy(max_attempts=1))
        except HubSpotError as exc:
            return False, f"HubSpot connection failed (API version {version}, {self.base_url}): {exc}"
        return True, (
            f"OK: HubSpot API version {version} at {self.base_url} answered "
            f"({len(labels)} contacts->companies labels)"
        )

    @property
    def stats(self) -> ClientStats:
        return self._counters.snapshot(self._governor.stats())

    @property
    def governor(self) -> RateGovernor:
        return self._governor

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"HubSpotClient(base_url={self.base_url!r}, api_version={self.api_version.value!r}, "
            f"max_batch_size={self.max_batch_size}, governor={self._governor!r})"
        )

    # -- request building ----------------------------------------------------------------------

    def _path(self, api_version: str | ApiVersion | None, from_type: str, to_type: str, suffix: str) -> str:
        version = self.api_version if api_version is None else parse_api_version(api_version)
        return associations_path(version, from_type, to_type, suffix)

    def _batch_body(self, inputs: Sequence[Any], model: type[_M], method: str) -> dict[str, Any]:
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
            raise InputValidationError(f"{method} inputs must be a sequence of {model.__name__}")
        if not inputs:
            raise InputValidationError(f"{method} needs at least one input (got none)")
        if len(inputs) > self.max_batch_size:
            raise InputValidationError(
                f"{method} got {len(inputs)} inputs, more than max_batch_size {self.max_batch_size}: "
                "split them into chunks"
            )
        wire = []
        for index, item in enumerate(inputs):
            if not isinstance(item, model):
                try:
                    item = model.model_validate(item)
                except ValidationError as exc:
                    raise InputValidationError(f"{method} input {index} is invalid: {exc}") from None
            wire.append(item.to_wire())  # type: ignore[attr-defined]
        return {"inputs": wire}

    # -- the request loop ----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        parse: Callable[[_Reply], _T],
        *,
        retry: RetryPolicy | None = None,
    ) -> _T:
        """Send one logical request: governed, retried per policy, one OAuth refresh on a 401."""
        policy = retry or self._retry
        url = self.base_url + path
        started = policy.clock()
        failures = 0
        refreshed = False
        while True:
            token: str | None = None
            try:
                token = self._tokens.get_token()
                with self._governor.slot():
                    return self._attempt(method, url, body, token, parse)
            except HubSpotError as error:
                self._counters.error(error)
                if isinstance(error, HubSpotAuthError) and error.status == 401:
                    if self._tokens.is_oauth and not refreshed and token is not None:
                        refreshed = True
                        self._tokens.invalidate(token)
                        self._counters.add("auth_refreshes")
                        log.info("HubSpot refused the OAuth access token; refreshing it once")
                        continue
                    raise
                failures += 1
                if not policy.is_retryable(error):
                    raise
                wait = policy.wait_for(error, failures)
                elapsed = policy.clock() - started
                if failures >= policy.max_attempts or elapsed + wait > policy.total_timeout_s:
                    log.warning(
                        "HubSpot %s %s gave up after %d attempt(s), %.1f s: %s",
                        method,
                        path,
                        failures,
                        elapsed,
                        type(error).__name__,
                    )
                    raise
                if isinstance(error, HubSpotRateLimitError):
                    self._governor.pause(wait)  # every thread of this client holds, not just this one
                self._counters.add("retries")
                log.warning(
                    "HubSpot %s %s attempt %d/%d failed (%s); retrying in %.2f s",
                    method,
                    path,
                    failures,
                    policy.max_attempts,
                    error,
                    wait,
                )
                policy.sleep(wait)

    def _attempt(
        self, method: str, url: str, body: dict[str, Any] | None, token: str, parse: Callable[[_Reply], _T]
    ) -> _T:
        """One HTTP exchange; every failure comes out as a HubSpotError."""
        self._counters.add("requests")
        try:
            response = self._session.request(
                method,
                url,
                json=body,
                auth=_Bearer(token),
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise HubSpotTransportError(f"{method} timed out (timeouts {self._timeout})") from None
        except requests.RequestException as exc:
            raise HubSpotTransportError(f"{method} failed: {type(exc).__name__} reaching HubSpot") from None
        self._counters.response(response.status_code)
        self._governor.observe(response.headers)
        if not 200 <= response.status_code < 300:
            raise error_from_response(response, token)
        reply = _Reply(response.status_code, None)
        if response.status_code != 204 and response.content.strip():
            try:
                reply = _Reply(response.status_code, _json_body(response, token))
            except ValueError:
                raise HubSpotTransportError(
                    f"{method} got an unreadable {response.status_code} reply (not JSON)",
                    status=response.status_code,
                ) from None
        try:
            return parse(reply)
        except (ValidationError, KeyError, TypeError, AttributeError) as exc:
            raise HubSpotTransportError(
                f"{method} got a {response.status_code} reply of an unexpected shape: "
                f"{redact(str(exc), token)[:300]}",
                status=response.status_code,
            ) from None
