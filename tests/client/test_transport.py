"""A hard deadline per attempt: a reply trickled one byte at a time cannot hold a request forever.

`requests`' read timeout bounds each socket read, so a server that sends a byte every 0.2 s never
trips it. These tests use a real loopback socket server that does exactly that.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_hubassoc.client.api import HubSpotClient
from airflow_provider_hubassoc.client.auth import StaticTokenProvider
from airflow_provider_hubassoc.client.errors import HubSpotTransportError
from airflow_provider_hubassoc.client.retry import RetryPolicy
from tests.support.client_doubles import ARCHIVE_URL, CLIENT_BASE, pairs


class TrickleServer:
    """Answers every request with a 200 whose body arrives one byte every `interval` seconds."""

    def __init__(
        self, interval: float = 0.2, body: bytes = b'{"status":"COMPLETE","results":[]}' + b" " * 40
    ):
        self.interval = interval
        self.body = body
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)  # the request (small enough for one read)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\n\r\n"
            try:
                conn.sendall(head.encode())
                for byte in self.body:
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:  # the client gave up and closed: that is the point
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.listener.close()


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    server = TrickleServer()
    yield server
    server.close()


def _client(url: str, *, read_timeout: float, total_timeout_s: float = 300.0) -> HubSpotClient:
    return HubSpotClient(
        url,
        token_provider=StaticTokenProvider("pat-na1-trickle-test"),
        retry=RetryPolicy(max_attempts=1, total_timeout_s=total_timeout_s),
        connect_timeout=0.5,
        read_timeout=read_timeout,
    )


def test_a_trickled_reply_ends_at_the_attempt_deadline(trickle: TrickleServer) -> None:
    """Each read arrives within the 1 s read timeout, yet the whole reply may take only 1.5 s."""
    started = time.monotonic()
    with _client(trickle.url, read_timeout=1.0) as client, pytest.raises(HubSpotTransportError) as caught:
        client.archive_associations("contacts", "companies", pairs())
    elapsed = time.monotonic() - started
    assert "deadline" in str(caught.value)
    assert caught.value.retryable
    assert elapsed < 1.5 + 1.5, f"the trickle held the request for {elapsed:.1f} s"  # 15 s without the fix


def test_the_total_retry_time_also_bounds_an_attempt(trickle: TrickleServer) -> None:
    started = time.monotonic()
    with (
        _client(trickle.url, read_timeout=60.0, total_timeout_s=1.0) as client,
        pytest.raises(HubSpotTransportError, match="deadline"),
    ):
        client.archive_associations("contacts", "companies", pairs())
    assert time.monotonic() - started < 1.0 + 1.5


def test_waiting_for_the_governor_does_not_use_up_the_attempt(requests_mock: Any) -> None:
    """The attempt's deadline starts when the governor lets the request go, not before."""
    requests_mock.post(ARCHIVE_URL, status_code=204)
    client = HubSpotClient(
        CLIENT_BASE,
        token_provider=StaticTokenProvider("pat-na1-governed-test"),
        retry=RetryPolicy(max_attempts=1),
        connect_timeout=0.05,
        read_timeout=0.05,
    )
    client.governor.pause(0.3)  # longer than the whole 0.1 s attempt
    with client:
        assert client.archive_associations("contacts", "companies", pairs()).http_status == 204
