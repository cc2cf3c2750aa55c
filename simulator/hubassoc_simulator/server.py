"""The HTTP side: a keep-alive stdlib server, routing, auth, rate limits, faults, counters, admin."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import json
import logging
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

from hubassoc_simulator import endpoints, replies
from hubassoc_simulator.config import (
    ENDPOINTS,
    SimulatorConfig,
    TokenSpec,
    apply_changes,
    describe,
)
from hubassoc_simulator.facts import Version
from hubassoc_simulator.faults import FaultInjector, status_reply
from hubassoc_simulator.ratelimit import RateLimiter, seconds_to_utc_midnight
from hubassoc_simulator.replies import Reply
from hubassoc_simulator.state import SimulatorState

# Date versions and the legacy /crm/v4/associations paths; the current v4 labels path is
# /crm/associations/v4/{from}/{to}/labels (labels only: `_route` refuses other actions there).
_API_PATH = re.compile(
    r"^/crm/(?:associations/(?P<version>2025-09|2026-03|2026-09|v4)|(?P<v4>v4)/associations)"
    r"/(?P<from>[^/]+)/(?P<to>[^/]+)"
    r"/(?P<action>batch/archive|batch/labels/archive|batch/read|batch/create|labels)/?$"
)
_ACTIONS = {
    "batch/archive": ("batch_archive", "POST"),
    "batch/labels/archive": ("labels_archive", "POST"),
    "batch/read": ("batch_read", "POST"),
    "batch/create": ("batch_create", "POST"),
    "labels": ("labels", "GET"),
}
OAUTH_PATH = "/oauth/v1/token"
# Which account a token belongs to: the dated (or v3) account-info page, or the legacy one.
_ACCOUNT_PATH = re.compile(r"^/(?:account-info/(?:v3|2025-09|2026-03|2026-09)/details|integrations/v1/me)/?$")


def _route(path: str) -> re.Match[str] | None:
    """The API route of a path, or None (404)."""
    match = _API_PATH.match(path)
    if match is None or (match["version"] == "v4" and match["action"] != "labels"):
        return None
    return match


def _version(match: re.Match[str]) -> Version:
    return cast(Version, match["version"] or "v4")  # the pattern admits only the four versions


MAX_BODY = 16 * 1024 * 1024
_MALFORMED = b'{"status":"COMPLETE","results":[{"from":{"id":'
_PHRASES = {s.value: s.phrase for s in HTTPStatus}
_DAILY_REMAINING = "X-HubSpot-RateLimit-Daily-Remaining"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the log keeps it. Never the token, never the body."""

    method: str
    path: str
    endpoint: str | None
    api_version: str | None
    status: int  # 0 when the connection was reset without a reply
    inputs_count: int
    at: float


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so `stop()` can close idle keep-alive sockets at once."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HubSpotSimulator/1.0"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # One write per reply plus no Nagle: no 40 ms delayed-ACK stalls on keep-alive.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: per-request logging to stderr would cost throughput (and could leak paths)."""

    def do_GET(self) -> None:
        self.server.sim._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.sim._handle(self, "POST")

    def do_PUT(self) -> None:
        self.server.sim._handle(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.sim._handle(self, "DELETE")

    def do_PATCH(self) -> None:
        self.server.sim._handle(self, "PATCH")

    def read_body(self) -> bytes | None:
        """The request body, or None when Content-Length is unusable (the connection is then closed)."""
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def send(self, reply: Reply) -> None:
        """Status line, headers and body in one write; Content-Length always set."""
        data = reply.encode()
        lines = [
            f"HTTP/1.1 {reply.status} {_PHRASES.get(reply.status, 'Unknown')}",
            "Server: HubSpotSimulator/1.0",
            f"Content-Length: {len(data)}",
        ]
        if data:
            lines.append(f"Content-Type: {reply.content_type}")
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + data)
        except OSError:
            self.close_connection = True

    def reset(self) -> None:
        """Drop the connection with a TCP RST and no reply."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class _Counters:
    def __init__(self, log_size: int) -> None:
        self.lock = threading.Lock()
        self.log: collections.deque[RequestRecord] = collections.deque(maxlen=log_size)
        # (endpoint, version, raw body) of API requests, never OAuth ones (they carry secrets).
        self.bodies: collections.deque[tuple[str, str | None, bytes]] = collections.deque(maxlen=log_size)
        self.clear()

    def clear(self) -> None:
        self.requests = 0
        # Numbering without the lock: next() on itertools.count is atomic under the GIL, so each
        # request takes `lock` once (in `count`). Both restart at 1 on `reset_counters`.
        self.api_numbers = itertools.count(1)
        self.archive_numbers = itertools.count(1)
        self.by_endpoint: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
        self.by_status: dict[str, int] = {}
        self.rate_limited = 0
        self.archived_pairs = 0  # pairs archive requests applied (answered 2xx)
        self.dropped_pairs = 0  # pairs answered as archived but left in place (`silent_drops`)
        self.created_pairs = 0
        self.archive_inputs = 0

    def count(self, record: RequestRecord, outcome: endpoints.Outcome, body: bytes) -> None:
        """Count one request: the only place that takes the lock per request."""
        endpoint, status = record.endpoint, record.status
        with self.lock:
            self.requests += 1
            if endpoint is not None:
                self.by_endpoint[endpoint] += 1
            key = str(status) if status else "reset"
            self.by_status[key] = self.by_status.get(key, 0) + 1
            if status == 429:
                self.rate_limited += 1
            if 200 <= status < 300:
                self._add_pairs(endpoint, outcome)
            if endpoint in endpoints.ARCHIVE_ENDPOINTS:
                self.archive_inputs += outcome.inputs
            self.log.append(record)
            if endpoint is not None and endpoint != "oauth_token":
                self.bodies.append((endpoint, record.api_version, body))

    def _add_pairs(self, endpoint: str | None, outcome: endpoints.Outcome) -> None:
        """Count the pairs of a 2xx reply (lock held)."""
        if endpoint == "batch_create":
            self.created_pairs += outcome.pairs
        elif endpoint in endpoints.ARCHIVE_ENDPOINTS:
            self.archived_pairs += outcome.pairs
            self.dropped_pairs += outcome.dropped


class Simulator:
    """A running (or startable) simulated HubSpot associations API on loopback.

    Thread safe: tests may change the config, tokens and state while clients are mid-run.
    """

    def __init__(self, config: SimulatorConfig | None = None, state: SimulatorState | None = None) -> None:
        base = config if config is not None else SimulatorConfig()
        self._config = dataclasses.replace(base, tokens=dict(base.tokens))
        self.state = state if state is not None else SimulatorState()
        self._config_lock = threading.Lock()
        self._limiter = RateLimiter()
        self._faults = FaultInjector(self._config.seed)
        self._counters = _Counters(self._config.request_log_size)
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle ----------------------------------------------------------------------
    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _HTTPServer((self._config.host, self._config.port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="hubspot-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._config.host}:{self.port}"

    # ----- configuration and tokens -------------------------------------------------------
    @property
    def config(self) -> SimulatorConfig:
        return self._config

    def configure(self, **changes: Any) -> SimulatorConfig:
        """Swap in a changed config (validated); requests already running keep the old one."""
        with self._config_lock:
            self._config = apply_changes(self._config, changes)
            if "seed" in changes:
                self._faults.reseed(self._config.seed)
            return self._config

    def add_token(self, token: str, spec: TokenSpec) -> None:
        with self._config_lock:
            tokens = {**self._config.tokens, token: spec}
            self._config = dataclasses.replace(self._config, tokens=tokens)

    def _update_token(self, token: str, **changes: Any) -> None:
        with self._config_lock:
            spec = self._config.tokens.get(token)
            if spec is None:
                raise KeyError("unknown token")  # never echo the token itself
            tokens = {**self._config.tokens, token: dataclasses.replace(spec, **changes)}
            self._config = dataclasses.replace(self._config, tokens=tokens)

    def expire_token(self, token: str) -> None:
        self._update_token(token, expires_at=time.time() - 1)

    def set_scopes(self, token: str, scopes: set[str] | frozenset[str] | None) -> None:
        self._update_token(token, scopes=None if scopes is None else frozenset(scopes))

    def reset_rate_limits(self) -> None:
        self._limiter.reset()

    # ----- counters -----------------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        c = self._counters
        with c.lock:
            return {
                "requests": c.requests,
                "by_endpoint": dict(c.by_endpoint),
                "by_status": dict(c.by_status),
                "rate_limited": c.rate_limited,
                "archived_pairs": c.archived_pairs,
                "dropped_pairs": c.dropped_pairs,
                "created_pairs": c.created_pairs,
                "archive_inputs": c.archive_inputs,
            }

    def reset_counters(self) -> None:
        """Zero the counters, empty the log, restart request numbering (`faults.schedule` counts from 1)."""
        with self._counters.lock:
            self._counters.clear()
            self._counters.log.clear()
            self._counters.bodies.clear()

    def request_bodies(self, endpoint: str | None = None) -> list[tuple[str | None, Any]]:
        """(API version, decoded JSON body) of the last API requests, optionally of one endpoint.

        For contract tests of what clients send; a body that is not JSON comes back as None.
        """
        with self._counters.lock:
            kept = list(self._counters.bodies)
        return [(version, _decoded(raw)) for name, version, raw in kept if endpoint in (None, name)]

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._counters.lock:
            return list(self._counters.log)

    # ----- request handling ---------------------------------------------------------------
    def _handle(self, handler: _Handler, method: str) -> None:
        try:
            body = handler.read_body()
        except OSError:
            handler.close_connection = True  # the client went away mid-body: nobody to answer
            return
        path = handler.path.split("?", 1)[0]
        if body is None:
            handler.close_connection = True
            handler.send(replies.validation_error("Invalid Content-Length"))
            return
        if path.startswith("/_sim/"):
            try:
                reply = self._admin(method, path, body)
                reply.raw = reply.encode()
            except Exception:
                log.exception("simulator: unexpected error in %s %s", method, path)
                reply = replies.internal_error()
            handler.send(reply)
            return
        config = self._config
        try:
            endpoint, version, outcome, fault = self._process(handler, method, path, body, config)
        except Exception:
            # A bug must not kill the connection's thread (the client would see a bare disconnect)
            # nor go unrecorded: answer like HubSpot's own 500 and count it.
            log.exception("simulator: unexpected error in %s %s", method, path)
            endpoint, version = _endpoint_of(path)
            outcome, fault = endpoints.Outcome(replies.internal_error()), None
        if fault == "reset":
            self._record(method, path, endpoint, version, 0, outcome, body)
            handler.reset()
            return
        # Counted before the reply leaves, so a client that reads the counters next sees its request.
        self._record(method, path, endpoint, version, outcome.reply.status, outcome, body)
        if fault == "slow":
            self._stopping.wait(config.faults.slow_seconds)
        handler.send(outcome.reply)

    def _process(
        self, handler: _Handler, method: str, path: str, body: bytes, config: SimulatorConfig
    ) -> tuple[str | None, str | None, endpoints.Outcome, str | None]:
        """Route and run one non-admin request: (endpoint, API version, outcome, fault kind).

        The reply comes back encoded (`raw` set), so nothing after this can fail on the body.
        """
        endpoint: str | None = None
        version: str | None = None
        outcome = endpoints.Outcome(replies.not_found("RESOURCE_NOT_FOUND", f"No route for {method} {path}"))
        fault: str | None = None
        if path == OAUTH_PATH:
            endpoint = "oauth_token"
            if method != "POST":
                outcome = endpoints.Outcome(replies.error(405, "VALIDATION_ERROR", "Use POST"))
            else:
                fault = self._pick_fault(config, endpoint, None)
                reply, token, spec = endpoints.oauth_token(config, body)
                if token is not None and spec is not None:
                    self.add_token(token, spec)
                outcome = endpoints.Outcome(reply)
        elif (account := _ACCOUNT_PATH.match(path)) is not None:
            endpoint = "account_details"
            outcome, fault = self._account(handler, method, config, account, body)
        else:
            match = _route(path)
            if match is not None:
                endpoint, wanted = _ACTIONS[match["action"]]
                version = _version(match)
                number = next(self._counters.api_numbers)
                if method != wanted:
                    outcome = endpoints.Outcome(replies.error(405, "VALIDATION_ERROR", f"Use {wanted}"))
                else:
                    outcome, fault = self._api(handler, config, endpoint, match, body, number)
        if fault is not None and fault != "reset":
            self._apply_fault(fault, outcome, config)
        outcome.reply.raw = outcome.reply.encode()
        return endpoint, version, outcome, fault

    def _account(
        self, handler: _Handler, method: str, config: SimulatorConfig, match: re.Match[str], body: bytes
    ) -> tuple[endpoints.Outcome, str | None]:
        """The account-details pages: authenticated and rate limited like the API, but not
        numbered (a fault schedule counts the association endpoints only)."""
        if method != "GET":
            return endpoints.Outcome(replies.error(405, "VALIDATION_ERROR", "Use GET")), None
        return self._api(handler, config, "account_details", match, body, 0)

    def _pick_fault(self, config: SimulatorConfig, endpoint: str, number: int | None) -> str | None:
        plan = config.faults
        if endpoint not in plan.endpoints:
            return None
        delay = self._faults.delay_s(plan)
        if delay:
            self._stopping.wait(delay)
        if number is None:
            return self._faults.choose(dataclasses.replace(plan, schedule={}), 0)
        return self._faults.choose(plan, number)

    def _api(
        self,
        handler: _Handler,
        config: SimulatorConfig,
        endpoint: str,
        match: re.Match[str],
        body: bytes,
        number: int,
    ) -> tuple[endpoints.Outcome, str | None]:
        """Auth, rate limit, fault choice, object types, scopes, then the endpoint itself."""
        token, spec, refusal = _authenticate(handler, config)
        if spec is None:
            return endpoints.Outcome(refusal), None
        decision = self._limiter.check(
            "oauth" if spec.oauth else token,
            config.rate_limit,
            config.rate_interval_ms,
            config.daily_limit,
            spec.oauth,
        )
        rate_headers = decision.headers()
        if not decision.allowed:
            assert decision.policy is not None
            reply = replies.rate_limited(
                decision.policy, decision.retry_after_s if config.retry_after else None
            )
            reply.headers.extend(rate_headers)
            return endpoints.Outcome(reply), None
        fault = self._pick_fault(config, endpoint, number)
        if fault in ("429", "429-daily"):
            return endpoints.Outcome(_rate_fault(fault, config, rate_headers)), fault
        if fault not in (None, "slow", "malformed") and not config.faults.commit_on_error:
            return endpoints.Outcome(replies.server_error(500)), fault  # replaced by _apply_fault
        outcome = self._execute(config, endpoint, match, body, spec)
        outcome.reply.headers.extend(rate_headers)
        return outcome, fault

    def _execute(
        self, config: SimulatorConfig, endpoint: str, match: re.Match[str], body: bytes, spec: TokenSpec
    ) -> endpoints.Outcome:
        if endpoint == "account_details":
            return endpoints.account_details(config, legacy=match.group(0).startswith("/integrations"))
        state = self.state
        ft, tt = state.resolve_type(match["from"]), state.resolve_type(match["to"])
        if ft is None or tt is None:
            unknown = match["from"] if ft is None else match["to"]
            return endpoints.Outcome(
                replies.not_found("OBJECT_NOT_FOUND", f"Unable to infer object type from: {unknown}")
            )
        if spec.scopes is not None:
            missing = [s for s in endpoints.required_scopes(endpoint, ft, tt) if s not in spec.scopes]
            if missing:
                return endpoints.Outcome(replies.missing_scopes(missing))
        return self._run_endpoint(config, endpoint, _version(match), ft, tt, body)

    def _run_endpoint(
        self, config: SimulatorConfig, endpoint: str, version: Version, ft: str, tt: str, body: bytes
    ) -> endpoints.Outcome:
        """The endpoint itself, with the reply its version sends (`SimulatorConfig.*_reply`)."""
        state = self.state
        if endpoint == "labels":
            return endpoints.labels(state, ft, tt, version)
        if endpoint == "batch_read":
            return endpoints.batch_read(state, config, ft, tt, body, config.read_reply(version))
        if endpoint == "batch_create":
            return endpoints.batch_create(state, config, ft, tt, body, config.create_reply(version))
        delay = config.faults.visibility_delay_s
        ghost_until = time.monotonic() + delay if delay > 0 else 0.0
        archive = endpoints.batch_archive if endpoint == "batch_archive" else endpoints.labels_archive
        return archive(state, config, ft, tt, body, self._archive_mode(config, version), ghost_until)

    def _archive_mode(self, config: SimulatorConfig, version: Version) -> str:
        """The version's archive reply; "alternate" flips between 204 and 200 on each archive request."""
        mode = config.archive_reply(version)
        if mode != "alternate":
            return mode
        return "200" if next(self._counters.archive_numbers) % 2 == 0 else "204"

    def _apply_fault(self, fault: str, outcome: endpoints.Outcome, config: SimulatorConfig) -> None:
        """Turn the outcome into the fault's reply (a status or unparseable JSON); 429s are already built."""
        if fault.isdigit() and fault != "429":
            outcome.reply = status_reply(int(fault), config.faults)
            outcome.pairs = 0
        elif fault == "malformed":
            status = outcome.reply.status if outcome.reply.status in (200, 201, 207) else 200
            outcome.reply = Reply(status, None, outcome.reply.headers, raw=_MALFORMED)

    def _record(
        self,
        method: str,
        path: str,
        endpoint: str | None,
        version: str | None,
        status: int,
        outcome: endpoints.Outcome,
        body: bytes,
    ) -> None:
        record = RequestRecord(method, path, endpoint, version, status, outcome.inputs, time.time())
        self._counters.count(record, outcome, body)

    # ----- admin --------------------------------------------------------------------------
    def _admin(self, method: str, path: str, body: bytes) -> Reply:
        """Unauthenticated, uncounted, never rate limited or faulted: for tests and the demo."""
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_sim/state"):
            return Reply(200, self.state.snapshot())
        if route == ("GET", "/_sim/counters"):
            return Reply(200, self.counters())
        if route == ("POST", "/_sim/reset-counters"):
            self.reset_counters()
            return Reply(200, self.counters())
        if route == ("GET", "/_sim/config"):
            return Reply(200, describe(self._config))
        if route == ("POST", "/_sim/config"):
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of config changes")
                return Reply(200, describe(self.configure(**changes)))
            except (ValueError, TypeError) as exc:
                return replies.validation_error(f"Bad config change: {exc}")
        return replies.not_found("RESOURCE_NOT_FOUND", f"No admin route {method} {path}")


def _authenticate(handler: _Handler, config: SimulatorConfig) -> tuple[str, TokenSpec | None, Reply]:
    """(token, its spec, the 401 to send when the spec is None)."""
    auth = handler.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    spec = config.tokens.get(token) if token else None
    if spec is None:
        return token, None, replies.invalid_auth()
    if spec.expires_at is not None and time.time() >= spec.expires_at:
        return token, None, replies.expired_auth()
    return token, spec, Reply(200)


def _rate_fault(fault: str, config: SimulatorConfig, rate_headers: list[tuple[str, str]]) -> Reply:
    """A scheduled 429 that looks like the limiter's own: the rolling window, or the day's budget."""
    if fault == "429":
        retry = max(1, config.rate_interval_ms // 1000) if config.retry_after else None
        reply = replies.rate_limited("TEN_SECONDLY_ROLLING", retry)
        reply.headers.extend(rate_headers)
        return reply
    # As the daily limiter refuses: come back at UTC midnight, nothing left today.
    retry = seconds_to_utc_midnight(time.time()) if config.retry_after else None
    reply = replies.rate_limited("DAILY", retry)
    reply.headers.extend((name, "0" if name == _DAILY_REMAINING else value) for name, value in rate_headers)
    return reply


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None


def _endpoint_of(path: str) -> tuple[str | None, str | None]:
    """(endpoint, API version) of a path, as `_process` names them; for requests that failed in it."""
    if path == OAUTH_PATH:
        return "oauth_token", None
    match = _route(path)
    if match is None:
        return None, None
    return _ACTIONS[match["action"]][0], _version(match)
