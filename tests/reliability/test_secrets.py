"""Secrets: never in logs, XComs, rendered fields, exceptions or reprs (the autouse `leak_scan`
checks every test here and in the matrix); plain HTTP refused off loopback; redirects never
followed, so the Authorization header (or the OAuth client secret) never reaches another host."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_hubassoc.client.errors import HubSpotConfigError, HubSpotError
from airflow_provider_hubassoc.hooks.hubspot import HubSpotHook, token_provider_for
from airflow_provider_hubassoc.operators.archive import HubSpotArchiveAssociationsOperator
from hubassoc_simulator import FaultPlan, TokenSpec
from tests.support.assertions import LeakScan
from tests.support.client_doubles import pairs
from tests.support.connections import CLIENT_SECRET, REFRESH_TOKEN, SECRETS, TOKEN, conn_json
from tests.support.operator_runs import run_operator
from tests.support.sim_states import FT, TT, MakeSim


def batch_op(**kwargs: Any) -> HubSpotArchiveAssociationsOperator:
    kwargs = {"task_id": "archive", "from_object_type": FT, "to_object_type": TT, **kwargs}
    kwargs.setdefault("inputs", [(1, 101), (1, 102), (2, 101)])
    return HubSpotArchiveAssociationsOperator(**kwargs)


def test_the_leak_scan_finds_a_planted_secret() -> None:
    from tests.support.assertions import LeakScan as Scan

    for secret in SECRETS:
        scan = Scan()
        scan.add("somewhere", f"prefix {secret} suffix")
        with pytest.raises(AssertionError, match="leaked into somewhere"):
            scan.check()


def test_operator_logs_are_captured_and_clean(
    rel_sim: MakeSim,
    leak_scan: LeakScan,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """The scan sees the operator's own log lines (stdout) and the client's retry warnings."""
    sim = rel_sim(faults=FaultPlan(schedule={1: "503"}))
    run = run_operator(batch_op(report_path=str(tmp_path / "r.jsonl")), sim, leak_scan, tmp_path / "r.jsonl")
    assert run.error is None
    out, err = capfd.readouterr()
    leak_scan.add("stdout (read early)", out + err)
    assert "HubSpot client ready" in out + err
    assert "retrying in" in caplog.text


@pytest.mark.parametrize("oauth", [False, True], ids=["private-app", "oauth"])
def test_hook_client_and_settings_reprs_hold_no_secret(
    rel_sim: MakeSim, leak_scan: LeakScan, oauth: bool
) -> None:
    rel_sim(oauth=oauth)
    hook = HubSpotHook()
    client = hook.get_conn()
    ok, message = hook.test_connection()
    assert ok, message
    for label, value in {
        "hook": repr(hook),
        "hook str": str(hook),
        "settings": repr(hook.settings),
        "client": repr(client),
        "provider": repr(token_provider_for(hook.settings)),
        "test_connection": message,
        "hook vars": repr(vars(hook)),
    }.items():
        leak_scan.add(label, value)


@pytest.mark.parametrize("oauth", [False, True], ids=["private-app", "oauth"])
def test_refused_credentials_leave_no_trace(
    rel_sim: MakeSim, leak_scan: LeakScan, monkeypatch: pytest.MonkeyPatch, oauth: bool
) -> None:
    """The simulator knows other secrets: the connection's token / client secret are refused."""
    sim = rel_sim(
        tokens={"pat-other-token-000": TokenSpec()},
        oauth_client_secret="a-different-secret",
        refresh_tokens=frozenset({"a-different-refresh"}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", conn_json(sim.url, oauth=oauth))
    run = run_operator(batch_op(), sim, leak_scan)
    assert isinstance(run.error, AirflowFailException)
    ok, message = HubSpotHook().test_connection()
    assert not ok
    leak_scan.add("test_connection", message)
    assert sim.state.edges(FT, TT) == run.before


# -- plain HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "http://api.hubapi.com",
        "http://example.com:8080",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "http://0.0.0.0:9",
        "http://10.0.0.1",
        "http://[::ffff:8.8.8.8]",
        "http://[fe80::1]",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused_before_any_request(
    leak_scan: LeakScan, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", conn_json(host))
    op = batch_op()
    with pytest.raises(AirflowFailException, match="plain HTTP") as caught:
        op.execute({})
    leak_scan.add_error("error", caught.value)
    assert isinstance(caught.value.__cause__, HubSpotConfigError)
    ok, message = HubSpotHook().test_connection()
    assert not ok
    assert "plain HTTP" in message


@pytest.mark.parametrize(
    "host", ["http://localhost:1", "http://127.0.0.1:1", "http://127.8.9.10:1", "http://[::1]:1"]
)
def test_plain_http_is_allowed_for_loopback(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", conn_json(host))
    assert HubSpotHook().settings.base_url == host


def test_credentials_in_the_base_url_are_refused_without_echoing_them(
    leak_scan: LeakScan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", conn_json(f"https://user:{TOKEN}@api.hubapi.com"))
    run_error: BaseException | None = None
    try:
        batch_op().execute({})
    except AirflowFailException as exc:
        run_error = exc
    assert run_error is not None
    assert "must not carry credentials" in str(run_error)
    leak_scan.add_error("error", run_error)


# -- redirects -------------------------------------------------------------------------------------


class _Recorder:
    """A loopback HTTP server; `reply(handler)` answers each request, every request is recorded."""

    def __init__(self, reply: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.requests.append((self.command, self.path, dict(self.headers), body))
                reply(self)

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _send(
    handler: BaseHTTPRequestHandler, status: int, body: Any = None, headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    if data:
        handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    handler.wfile.write(data)


@pytest.fixture
def servers() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], _Recorder]]:
    started: list[_Recorder] = []

    def make(reply: Callable[[BaseHTTPRequestHandler], None]) -> _Recorder:
        server = _Recorder(reply)
        started.append(server)
        return server

    yield make
    for server in started:
        server.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("oauth", [False, True], ids=["private-app", "oauth-token-endpoint"])
def test_redirects_are_never_followed(
    servers: Callable[..., _Recorder],
    leak_scan: LeakScan,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    oauth: bool,
) -> None:
    """A redirect (from the API or from the OAuth token endpoint) fails the task at once, and the
    redirect target receives nothing: no Authorization header, no client secret, no refresh token."""
    target = servers(lambda h: _send(h, 204))
    redirector = servers(lambda h: _send(h, status, headers={"Location": target.url + h.path}))
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", conn_json(redirector.url, oauth=oauth))
    with pytest.raises(AirflowFailException) as caught:
        batch_op().execute({})
    leak_scan.add_error("error", caught.value)
    assert target.requests == []
    assert len(redirector.requests) == 1, "a redirect is not retried either"
    method, path, _, _ = redirector.requests[0]
    assert (method, path.split("/")[1]) == ("POST", "oauth" if oauth else "crm")
    if not oauth:
        assert "redirects are never followed" in str(caught.value)


# -- secrets echoed back by the server -------------------------------------------------------------


def _echo_token(handler: BaseHTTPRequestHandler, status: int) -> None:
    seen = handler.headers.get("Authorization", "")
    if status == 207:
        body = {
            "status": "COMPLETE",
            "results": [],
            "startedAt": "2026-04-01T10:00:00Z",
            "completedAt": "2026-04-01T10:00:01Z",
            "numErrors": 1,
            "errors": [
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"input rejected for caller {seen}",
                    "context": {"fromId": ["1"]},
                }
            ],
        }
    else:
        body = {"status": "error", "category": "VALIDATION_ERROR", "message": f"bad request from {seen}"}
    _send(handler, status, body)


@pytest.mark.parametrize("status", [400, 207, 500])
def test_a_server_echoing_the_token_does_not_leak_it(
    servers: Callable[..., _Recorder],
    leak_scan: LeakScan,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    status: int,
) -> None:
    """Replies quoting the bearer token (in an error body or a per-input error of a 207) end up in
    exceptions, the report and XCom: the token must be redacted everywhere."""
    server = servers(lambda h: _echo_token(h, status))
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT", conn_json(server.url, max_retries=1, retry_total_timeout=5)
    )
    report = tmp_path / "r.jsonl"
    op = batch_op(report_path=str(report), on_error="fail")
    error: BaseException | None = None
    context: dict[str, Any] = {}
    try:
        op.execute(context)
    except AirflowException as exc:
        error = exc
    assert error is not None
    assert "Bearer" in str(error) or "***" in str(error) or status == 500
    leak_scan.add_error("error", error)
    leak_scan.add("report", report.read_text())
    assert server.requests
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h, _ in server.requests)
    assert CLIENT_SECRET not in report.read_text()
    assert REFRESH_TOKEN not in report.read_text()


def _client() -> Any:
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.client.auth import StaticTokenProvider
    from airflow_provider_hubassoc.client.retry import RetryPolicy

    retry = RetryPolicy(max_attempts=1)
    return HubSpotClient("https://api.hubapi.test", token_provider=StaticTokenProvider(TOKEN), retry=retry)


ARCHIVE = "https://api.hubapi.test/crm/associations/2026-03/contacts/companies/batch/archive"
BATCH = {
    "status": "COMPLETE",
    "results": [],
    "startedAt": "2026-04-01T10:00:00Z",
    "completedAt": "2026-04-01T10:00:01Z",
}


def _scan_error(leak_scan: LeakScan, error: BaseException) -> None:
    leak_scan.add_error("error", error)
    for name in ("category", "correlation_id", "hubspot_message", "policy_name"):
        leak_scan.add(name, str(getattr(error, name, "")))


def test_client_redacts_the_token_from_a_2xx_body(requests_mock: Any) -> None:
    """A 2xx body quoting the bearer token is redacted before it is parsed."""
    body = {
        **BATCH,
        "numErrors": 1,
        "errors": [{"status": "error", "category": "X", "message": f"token {TOKEN} refused", "context": {}}],
    }
    requests_mock.post(ARCHIVE, status_code=207, json=body)
    result = _client().archive_associations(FT, TT, pairs(("1", "2")))
    assert result.batch.errors[0].message == "token *** refused"


@pytest.mark.parametrize("field", ["category", "correlationId", "policyName", "errorType", "subCategory"])
def test_a_token_echoed_in_any_error_field_is_redacted(
    requests_mock: Any, leak_scan: LeakScan, field: str
) -> None:
    """Issue 18 item 7a: not only the message; category and correlationId reached the XCom keys."""
    body = {"status": "error", "message": "refused", "category": "VALIDATION_ERROR", field: f"echo {TOKEN}"}
    requests_mock.post(ARCHIVE, status_code=400, json=body)
    with pytest.raises(HubSpotError) as caught:
        _client().archive_associations(FT, TT, pairs(("1", "2")))
    _scan_error(leak_scan, caught.value)


def test_a_json_escaped_token_in_a_per_input_message_is_redacted(requests_mock: Any) -> None:
    """Issue 18 item 7b: the token spelled with \\uXXXX escapes survived a byte-level replace."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in TOKEN)
    text = (
        '{"status":"COMPLETE","results":[],"startedAt":"2026-04-01T10:00:00Z",'
        '"completedAt":"2026-04-01T10:00:01Z","numErrors":1,"errors":[{"status":"error",'
        f'"category":"X","message":"caller {escaped} refused","context":{{"{escaped}":["1"]}}}}]}}'
    )
    assert TOKEN not in text
    requests_mock.post(ARCHIVE, status_code=200, text=text, headers={"Content-Type": "application/json"})
    error = _client().archive_associations(FT, TT, pairs(("1", "2"))).batch.errors[0]
    assert error.message == "caller *** refused"
    assert list(error.context) == ["***"]


@pytest.mark.parametrize("filler", [150, 190, 195, 480, 495])
def test_a_long_html_page_is_redacted_before_it_is_cut(
    requests_mock: Any, leak_scan: LeakScan, filler: int
) -> None:
    """Issue 18 item 7c: cut first, redact second let most of a token through at the cut."""
    page = f"<html><body>{'x' * filler} Authorization: Bearer {TOKEN} {'y' * 2000}</body></html>"
    requests_mock.post(ARCHIVE, status_code=500, text=page)
    with pytest.raises(HubSpotError) as caught:
        _client().archive_associations(FT, TT, pairs(("1", "2")))
    _scan_error(leak_scan, caught.value)
    for text in (str(caught.value), caught.value.hubspot_message or ""):
        assert TOKEN[:8] not in text  # not even a prefix survives a cut
        assert len(text) <= 2000
