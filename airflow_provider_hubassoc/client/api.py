"""HubSpotClient: the association endpoints over one pooled, rate-governed, retrying session.

Airflow-free on purpose: the hook builds it from a connection, and the triggers, the simulator
tests and the benchmarks use it directly. Adding an endpoint means one method here plus its
simulator route.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, NamedTuple, TypeVar
from urllib.parse import SplitResult, urlsplit

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

from airflow_provider_hubassoc import __version__
from airflow_provider_hubassoc.client.auth import TokenProvider
from airflow_provider_hubassoc.client.error_mapping import error_from_reply
from airflow_provider_hubassoc.client.errors import (
    HubSpotAuthError,
    HubSpotConfigError,
    HubSpotError,
    HubSpotNotFoundError,
    HubSpotRateLimitError,
    HubSpotTransportError,
    HubSpotTryLaterError,
    may_hold_secret,
    redact,
    redact_json,
)
from airflow_provider_hubassoc.client.governor import RateGovernor
from airflow_provider_hubassoc.client.retry import RetryPolicy
from airflow_provider_hubassoc.client.transport import Reply, exchange
from airflow_provider_hubassoc.client.versions import (
    BATCH_ARCHIVE,
    BATCH_CREATE,
    BATCH_READ,
    LABELS_ARCHIVE,
    READ_BATCH_LIMIT,
    ApiVersion,
    account_paths,
    associations_path,
    labels_paths,
    parse_api_version,
)
from airflow_provider_hubassoc.client.waits import StopSignal, WaitBounds
from airflow_provider_hubassoc.models.account import Account, AccountDetails
from airflow_provider_hubassoc.models.associations import Pair
from airflow_provider_hubassoc.models.identifiers import InputValidationError, parse_record_id
from airflow_provider_hubassoc.models.responses import (
    AssociationLabel,
    AssociationReadResult,
    BatchErrorItem,
    BatchResponse,
    BatchResult,
    Link,
    ReadError,
    error_record_ids,
    means_not_found,
)

log = logging.getLogger("airflow_provider_hubassoc.client")

DEFAULT_BASE_URL = "https://api.hubapi.com"
MIGRATION_STATUS = 477  # Migration in Progress: the whole account moves between data centres
USER_AGENT = f"airflow-provider-hubassoc/{__version__}"
# A connection test waits out a ten-secondly 429 only this long, then answers "busy".
TEST_CONNECTION_BOUND_S = 5.0
_T = TypeVar("_T")


# ---------------------------------------------------------------------------------------------
# Base URL


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_problem(scheme: str, host: str | None, has_credentials: bool, has_extras: bool) -> str | None:
    if scheme not in ("https", "http") or not host:
        return "is not an http(s) URL with a host"
    if has_credentials:
        return "must not carry credentials"
    if has_extras:
        # Not echoed: a path or query may hold a token pasted into the wrong field.
        return "must be scheme://host[:port] only: its path, query or fragment is refused (not shown)"
    if scheme == "http" and not _is_loopback(host):
        return (
            "uses plain HTTP: the token would travel unencrypted. Use https:// "
            "(http:// is allowed only for loopback hosts such as the simulator)"
        )
    return None


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        raise HubSpotConfigError(f"base URL of host {parts.hostname or '?'!r} has an invalid port") from None


def check_base_url(url: str) -> str:
    """Return `scheme://host[:port]`; refuse anything more, and plain HTTP to a remote host."""
    parts = urlsplit(url.strip())
    port = _port(parts)
    shown = f"{parts.scheme}://{parts.hostname or ''}" + (f":{port}" if port else "")
    has_extras = parts.path not in ("", "/") or any(mark in url for mark in "?#")
    problem = _url_problem(parts.scheme, parts.hostname, bool(parts.username or parts.password), has_extras)
    if problem:
        raise HubSpotConfigError(f"base URL {shown!r} {problem}")
    return f"{parts.scheme}://{parts.netloc}"


# ---------------------------------------------------------------------------------------------
# Request bodies and reply parsing


def _archive_body(pairs: Sequence[Pair]) -> dict[str, Any]:
    """One input per from id, listing its to ids: `{"from":{"id":"1"},"to":[{"id":"2"}]}`."""
    grouped: dict[str, dict[str, None]] = {}
    for pair in pairs:
        grouped.setdefault(pair.from_id, {})[pair.to_id] = None
    inputs = [{"from": {"id": f}, "to": [{"id": t} for t in tos]} for f, tos in grouped.items()]
    return {"inputs": inputs}


def _labels_body(pairs: Sequence[Pair]) -> dict[str, Any]:
    """One input per pair, with the labels to remove from it."""
    inputs = [
        {"from": {"id": p.from_id}, "to": {"id": p.to_id}, "types": [t.to_wire() for t in p.types]}
        for p in pairs
    ]
    return {"inputs": inputs}


class _ReadPage(NamedTuple):
    links: dict[str, tuple[Link, ...]]  # from id -> its associations on this page
    cursors: dict[str, str]  # from id -> the cursor of its next page
    errors: list[BatchErrorItem]


def _parse_batch(status: int, body: Any | None) -> BatchResult:
    batch = BatchResponse.model_validate(body) if body is not None else None
    return BatchResult(http_status=status, batch=batch)


def _parse_labels(status: int, body: Any | None) -> list[AssociationLabel]:
    if body is None:
        return []
    return [AssociationLabel.model_validate(item) for item in body.get("results", [])]


def _parse_account(status: int, body: Any | None) -> AccountDetails:
    return AccountDetails.model_validate(body)


def _next_cursor(item: dict[str, Any]) -> str | None:
    after = ((item.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None  # opaque: passed back as sent


def _parse_read_page(status: int, body: Any | None) -> _ReadPage:
    """A page decoded by `_decode_read_page`."""
    if body is None:
        return _ReadPage({}, {}, [])
    if not isinstance(body, _DecodedPage):
        raise TypeError("a batch-read reply that is not a page")
    if any(item is not None for item in body.data.get("results", [])):
        raise TypeError("a batch-read result is not a from record with its associations")
    errors = [BatchErrorItem.model_validate(e) for e in body.data.get("errors", [])]
    return _ReadPage(body.links, body.cursors, errors)


def _type_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise TypeError(f"typeId {value!r:.40} is not an integer")


def _link(obj: dict[str, Any]) -> Link:
    """`{"toObjectId":..,"associationTypes":[..]}` as one flat tuple (see `models.responses.Link`)."""
    values: list[str | int | None] = [str(obj["toObjectId"])]
    for t in obj.get("associationTypes") or ():
        if not isinstance(t, dict) or not isinstance(t.get("category"), str):
            raise TypeError(f"an association type of {obj['toObjectId']!r:.40} has no category")
        label = t.get("label")
        values += (t["category"], _type_id(t.get("typeId")), None if label is None else str(label))
    return tuple(values)


class _DecodedPage:
    """A batch-read page as it is decoded (`read_object`): each result goes straight into
    `links` (from id -> flat association tuples) and `cursors`, so the page keeps no object per
    result or per association that the garbage collector would have to track (that matters in
    the triggerer); `data` is the rest of the body (a `None` where each result was)."""

    def __init__(self) -> None:
        self.links: dict[str, tuple[Link, ...]] = {}
        self.cursors: dict[str, str] = {}
        self.data: dict[str, Any] = {}

    def read_object(self, pairs: list[tuple[str, Any]]) -> Any:
        obj = dict(pairs)  # an association type (strings and an int) is a dict the collector skips
        if isinstance(obj.get("toObjectId"), (str, int)):
            return _link(obj)
        if isinstance(obj.get("from"), dict) and "id" in obj["from"]:
            self._add_result(obj)
            return None
        return obj

    def _add_result(self, obj: dict[str, Any]) -> None:
        links = obj.get("to") or ()
        if not all(isinstance(link, tuple) for link in links):
            raise TypeError("a batch-read result's `to` holds something that is not an association")
        from_id = str(obj["from"]["id"])
        self.links[from_id] = self.links.get(from_id, ()) + tuple(links)
        after = _next_cursor(obj)
        if after is not None:
            self.cursors[from_id] = after


def _reply_text(reply: Reply) -> str:
    try:
        return reply.content.decode("utf-8")
    except ValueError:
        raise HubSpotTransportError(
            f"got an unreadable {reply.status} reply (not UTF-8)", status=reply.status
        ) from None


def _loads(
    text: str, status: int, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None
) -> Any:
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except ValueError:
        raise HubSpotTransportError(f"got an unreadable {status} reply (not JSON)", status=status) from None


def _decode(reply: Reply, token: str) -> Any | None:
    """The reply's JSON with the token redacted from every string (decoded, so escapes too)."""
    if reply.status == 204 or not reply.content.strip():
        return None
    text = _reply_text(reply)
    data = _loads(text, reply.status)
    return redact_json(data, token) if may_hold_secret(text, token) else data


def _decode_read_page(reply: Reply, token: str) -> _DecodedPage | None:
    """As `_decode`, into a `_DecodedPage` (flat association tuples), redacted first."""
    if reply.status == 204 or not reply.content.strip():
        return None
    text = _reply_text(reply)
    if may_hold_secret(text, token):  # rare: redact the decoded strings, then read that text
        text = json.dumps(redact_json(_loads(text, reply.status), token))
    page = _DecodedPage()
    try:
        data = _loads(text, reply.status, page.read_object)
        if not isinstance(data, dict):
            raise TypeError("the reply is not an object")
    except (KeyError, TypeError, AttributeError) as exc:
        shape = redact(str(exc), token)[:300]
        raise HubSpotTransportError(
            f"POST got a {reply.status} batch-read reply of an unexpected shape: {shape}", status=reply.status
        ) from None
    page.data = data
    return page


def _sort_read_errors(result: AssociationReadResult, page: _ReadPage, asked: set[str]) -> None:
    """Each per-input error of a read page: not found, or the named ids' associations unknown."""
    answered = set(page.links)
    for item in page.errors:
        named = error_record_ids(item) & asked
        if means_not_found(item):
            result.not_found.update(named)
            continue
        reason = ReadError.of(item)
        for from_id in sorted(named or asked - answered):
            result.failed.setdefault(from_id, reason)


def _waits_out_a_busy_account(error: BaseException) -> bool:
    """A connection test retries only a ten-secondly 429: anything else is its answer."""
    return isinstance(error, HubSpotRateLimitError) and error.retryable


class _Sent:
    """How many requests one call has let leave this machine (its errors carry the count)."""

    count = 0


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
    governor and one token provider. Each attempt ends by `connect_timeout + read_timeout`
    (the whole reply, not each byte), and each call by the retry policy's total timeout.
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
        self._stop = StopSignal()
        self._connect_timeout = connect_timeout
        self._attempt_timeout = connect_timeout + read_timeout
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})

    # -- public API ----------------------------------------------------------------------------

    def archive_associations(self, from_type: str, to_type: str, pairs: Sequence[Pair]) -> BatchResult:
        """Remove every association between each pair's records (one request)."""
        self._check_pairs(pairs, "archive_associations", labelled=False)
        path = associations_path(self.api_version, from_type, to_type, BATCH_ARCHIVE)
        return self._send("POST", path, _archive_body(pairs), _parse_batch)

    def archive_labels(self, from_type: str, to_type: str, pairs: Sequence[Pair]) -> BatchResult:
        """Remove each pair's given labels (one request)."""
        self._check_pairs(pairs, "archive_labels", labelled=True)
        path = associations_path(self.api_version, from_type, to_type, LABELS_ARCHIVE)
        return self._send("POST", path, _labels_body(pairs), _parse_batch)

    def create_associations(self, from_type: str, to_type: str, pairs: Sequence[Pair]) -> BatchResult:
        """Create each pair's given types (one request; the undo of an archive).

        HubSpot answers 201, or 200 since its August 2025 change, or 207 with per-input errors
        (e.g. a record that no longer exists): all are 2xx, parsed alike. Creating what already
        exists succeeds, so a replayed chunk is safe to send again.
        """
        self._check_pairs(pairs, "create_associations", labelled=True)
        path = associations_path(self.api_version, from_type, to_type, BATCH_CREATE)
        return self._send("POST", path, _labels_body(pairs), _parse_batch)

    def account(self) -> Account:
        """The account this token belongs to. A token that may not read it (a missing scope,
        an old endpoint gone) gives an unknown account with the reason, never a failed run."""
        reasons = []
        for path in account_paths(self.api_version):
            try:
                details = self._send("GET", path, None, _parse_account)
            except HubSpotError as err:
                if isinstance(err, HubSpotAuthError):
                    raise  # a refused token fails the run at its first request anyway: say it now
                reasons.append(f"{path}: {type(err).__name__}: {str(err)[:200]}")
                continue
            return Account(details.portal_id)
        return Account(None, "; ".join(reasons))

    def list_labels(self, from_type: str, to_type: str) -> list[AssociationLabel]:
        """The labels defined from `from_type` to `to_type` (to resolve a label name to its type id)."""
        return self._labels(from_type, to_type, self._retry)

    def read_associations(
        self, from_type: str, to_type: str, ids: Iterable[str | int]
    ) -> AssociationReadResult:
        """Read back every association of `ids`, following each result's paging.

        Every requested id gets a key in `.links` (empty when nothing links it). Per-input errors
        are gathered in `.errors` and sorted per id: a not-found error (the record or its
        associations do not exist) puts the id in `.not_found`; any other puts it in `.failed`
        with the error, since it says nothing about the record's associations. An error naming
        none of the request's ids marks every id the page did not answer as failed.
        """
        path = associations_path(self.api_version, from_type, to_type, BATCH_READ)
        unique = list(dict.fromkeys(parse_record_id(i, field="read_associations id") for i in ids))
        if not unique:
            raise InputValidationError("read_associations needs at least one id")
        result = AssociationReadResult(links=dict.fromkeys(unique, ()))
        pending: list[tuple[str, str | None]] = [(i, None) for i in unique]
        followed: set[tuple[str, str]] = set()
        while pending:
            chunk, pending = pending[:READ_BATCH_LIMIT], pending[READ_BATCH_LIMIT:]
            inputs = [{"id": i, "after": after} if after else {"id": i} for i, after in chunk]
            page = self._send("POST", path, {"inputs": inputs}, _parse_read_page, decode=_decode_read_page)
            pending += self._collect(result, page, followed)
            _sort_read_errors(result, page, {i for i, _ in chunk})
        return result

    def test_connection(self) -> tuple[bool, str]:
        """One labels read (contacts -> companies): proves URL, token and version.

        A ten-secondly 429 is waited out for a few seconds at most; still refused, the answer is
        "busy, try again", not a broken connection.
        """
        version = self.api_version.value
        policy = RetryPolicy(
            max_attempts=3,
            total_timeout_s=TEST_CONNECTION_BOUND_S,
            sleep=self._retry.sleep,
            clock=self._retry.clock,
            retry_on=_waits_out_a_busy_account,
        )
        try:
            labels = self._labels("contacts", "companies", policy)
        except HubSpotRateLimitError as exc:
            if exc.fatal:
                return False, f"HubSpot connection failed (API version {version}, {self.base_url}): {exc}"
            return False, (
                f"HubSpot is busy, try again in a few seconds: the account is rate limited "
                f"({exc.policy_name or 'no policy named'}); nothing else is known to be wrong with "
                f"the connection (API version {version}, {self.base_url})"
            )
        except HubSpotError as exc:
            return False, f"HubSpot connection failed (API version {version}, {self.base_url}): {exc}"
        return True, (
            f"OK: HubSpot API version {version} at {self.base_url} answered "
            f"({len(labels)} contacts->companies labels)"
        )

    @property
    def governor(self) -> RateGovernor:
        return self._governor

    def interrupt(self, reason: str) -> None:
        """Stop this client: every wait in progress (rate window, account budget, back-off between
        attempts) ends within about 0.1 s, and it and every later call raise HubSpotInterruptedError
        without sending. For the task's on_kill or the run's stop; a request already on the wire
        still ends by its attempt's deadline."""
        self._stop.set(reason)

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

    # -- helpers -------------------------------------------------------------------------------

    def _check_pairs(self, pairs: Sequence[Pair], method: str, *, labelled: bool) -> None:
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence) or not pairs:
            raise InputValidationError(f"{method} needs a non-empty sequence of Pair")
        if len(pairs) > self.max_batch_size:
            raise InputValidationError(
                f"{method} got {len(pairs)} pairs, more than max_batch_size {self.max_batch_size}: "
                "split them into chunks"
            )
        for index, pair in enumerate(pairs):
            if not isinstance(pair, Pair) or bool(pair.types) != labelled:
                need = "with its types (labels)" if labelled else "without labels (types=())"
                raise InputValidationError(f"{method} pair {index} must be a Pair {need}")

    def _labels(self, from_type: str, to_type: str, policy: RetryPolicy) -> list[AssociationLabel]:
        *older, last = labels_paths(self.api_version, from_type, to_type)
        for path in older:
            try:
                return self._send("GET", path, None, _parse_labels, policy)
            except HubSpotNotFoundError:
                log.info("HubSpot has no labels at %s; trying the older path %s", path, last)
        return self._send("GET", last, None, _parse_labels, policy)

    @staticmethod
    def _collect(
        result: AssociationReadResult, page: _ReadPage, followed: set[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Add a page's records to `result`; return the cursors still to follow."""
        more: list[tuple[str, str]] = []
        for from_id, links in page.links.items():
            result.links[from_id] = result.links.get(from_id, ()) + links
        for from_id, after in page.cursors.items():
            if (from_id, after) in followed:
                log.warning("HubSpot repeated paging cursor for id %s; stopping there", from_id)
                continue
            followed.add((from_id, after))
            more.append((from_id, after))
        result.errors.extend(page.errors)
        return more

    # -- sending -------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        parse: Callable[[int, Any | None], _T],
        policy: RetryPolicy | None = None,
        decode: Callable[[Reply, str], Any | None] | None = None,
    ) -> _T:
        """One logical request: governed, retried by tenacity, ended by the policy's total time."""
        policy = policy or self._retry
        self._stop.raise_if_set()
        deadline = policy.clock() + policy.total_timeout_s
        bounds = WaitBounds(self._stop, deadline, policy.clock)
        # Tenacity's back-off sleeps end when the client is interrupted, too.
        retrying = replace(policy, sleep=self._stop.interruptible(policy.sleep)).retrying(
            deadline, self._pause
        )
        sent = _Sent()
        try:
            result: _T = retrying(
                self._attempt, method, self.base_url + path, body, parse, bounds, decode or _decode, sent
            )
        except HubSpotError as error:
            error.requests_sent = sent.count
            if error.retryable:  # the others are answers, not outages: the caller reports them
                log.warning("HubSpot %s %s gave up: %s", method, path, type(error).__name__)
            raise
        return result

    def _pause(self, seconds: float, error: BaseException | None) -> None:
        """Hold back before a retry. A 429, or a 477 (the whole account is being migrated), holds
        back every caller of the account; a 423 concerns only the records this request wrote."""
        migrating = isinstance(error, HubSpotTryLaterError) and error.status == MIGRATION_STATUS
        self._governor.pause(seconds, account_wide=isinstance(error, HubSpotRateLimitError) or migrating)

    def _attempt(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        parse: Callable[[int, Any | None], _T],
        bounds: WaitBounds,
        decode: Callable[[Reply, str], Any | None],
        sent: _Sent,
    ) -> _T:
        """One attempt: at most one OAuth token refresh when HubSpot refuses the token."""
        token = self._tokens.get_token()
        reply = self._exchange(method, url, body, token, bounds, sent)
        if reply.status == 401 and self._tokens.is_oauth:
            log.info("HubSpot refused the OAuth access token; refreshing it once")
            self._tokens.invalidate(token)
            token = self._tokens.get_token()
            reply = self._exchange(method, url, body, token, bounds, sent)
        if not 200 <= reply.status < 300:
            raise error_from_reply(reply, token)
        data = decode(reply, token)
        try:
            return parse(reply.status, data)
        except (ValidationError, KeyError, TypeError, AttributeError) as exc:
            shape = redact(str(exc), token)[:300]
            raise HubSpotTransportError(
                f"{method} got a {reply.status} reply of an unexpected shape: {shape}", status=reply.status
            ) from None

    def _exchange(
        self, method: str, url: str, body: dict[str, Any] | None, token: str, bounds: WaitBounds, sent: _Sent
    ) -> Reply:
        with self._governor.slot(bounds):
            # The attempt's clock starts once the governor lets it go: waiting for a slot is
            # not HubSpot being slow (it still counts against the call's total time).
            self._stop.raise_if_set()
            sent.count += 1
            deadline = time.monotonic() + min(self._attempt_timeout, max(bounds.time_left() or 0.0, 0.0))
            reply = exchange(
                self._session,
                method,
                url,
                connect_timeout=self._connect_timeout,
                deadline=deadline,
                json=body,
                auth=_Bearer(token),
            )
        self._governor.observe(reply.headers)
        return reply
