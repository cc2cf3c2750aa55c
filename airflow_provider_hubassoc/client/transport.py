"""One HTTP exchange that ends by a hard deadline, for the API client and the OAuth token refresh.

`requests`' read timeout bounds each socket read, not the reply: a server that sends one byte
every half second keeps a plain `session.request` alive forever. Here the body is streamed and
every read is bounded by what is left of the attempt's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from airflow_provider_hubassoc.client.errors import HubSpotTransportError

# A reply larger than this is not HubSpot's: refuse it rather than fill the worker's memory.
MAX_REPLY_BYTES = 64 * 1024 * 1024
_READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """A whole HTTP reply: status, headers and the raw body (empty for a 204)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes


def exchange(
    session: requests.Session,
    method: str,
    url: str,
    *,
    connect_timeout: float,
    deadline: float,
    **kwargs: Any,
) -> Reply:
    """Send one request and read its whole reply by `deadline` (on `time.monotonic`).

    Redirects are never followed (the token would go along). Every failure is a
    HubSpotTransportError that names the method, never the URL's secrets or the body.
    """
    remaining = _remaining(deadline, method)
    try:
        response = session.request(
            method,
            url,
            timeout=(min(connect_timeout, remaining), remaining),
            allow_redirects=False,
            stream=True,
            **kwargs,
        )
    except requests.Timeout:
        raise HubSpotTransportError(f"{method} timed out before HubSpot answered") from None
    except requests.RequestException as exc:
        raise HubSpotTransportError(f"{method} failed: {type(exc).__name__} reaching HubSpot") from None
    with response:
        content = _read_body(response, method, deadline)
    return Reply(response.status_code, response.reason or "", response.headers, content)


def _remaining(deadline: float, method: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise HubSpotTransportError(f"{method} ran out of time: the attempt's deadline passed")
    return left


def _read_body(response: requests.Response, method: str, deadline: float) -> bytes:
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    body = bytearray()
    while True:
        left = _remaining(deadline, method)
        if sock is not None:
            sock.settimeout(left)  # one slow read may not outlive the deadline either
        try:
            chunk = raw.read1(_READ_SIZE, decode_content=True)
        except Exception as exc:  # urllib3 wraps socket timeouts and resets in several types
            if deadline - time.monotonic() <= 0:
                raise HubSpotTransportError(
                    f"{method} reply was still arriving when the attempt's deadline passed"
                ) from None
            raise HubSpotTransportError(f"{method} reply broke off: {type(exc).__name__}") from None
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > MAX_REPLY_BYTES:
            raise HubSpotTransportError(f"{method} reply is larger than {MAX_REPLY_BYTES} bytes")
