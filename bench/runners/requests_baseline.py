"""Baseline (b): the loop a careful user writes in a PythonOperator with plain `requests`.

One session, chunks of `batch_size`, sequential, sleeping `Retry-After` on 429 and giving up on
a chunk after a few attempts. No client-side pacing: it learns about the limit from 429s.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from bench.common import FROM_TYPE, TO_TYPE, chunks, emit, read_pairs, rss_kb
from bench.runners.args import parse

MAX_ATTEMPTS = 6


def run(url: str, token: str, pairs_path: Any, batch_size: int) -> dict[str, Any]:
    endpoint = f"{url}/crm/v4/associations/{FROM_TYPE}/{TO_TYPE}/batch/archive"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    requests_sent = rate_limited = retries = batches = failed_batches = failed_pairs = pairs = 0
    rss_before = rss_kb()
    started = time.perf_counter()
    for chunk in chunks(read_pairs(pairs_path), batch_size):
        batches += 1
        pairs += len(chunk)
        body = {"inputs": [{"from": {"id": f}, "to": [{"id": t}]} for f, t in chunk]}
        ok = False
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                retries += 1
            requests_sent += 1
            try:
                reply = session.post(endpoint, json=body, timeout=30)
            except requests.RequestException:
                time.sleep(1)
                continue
            if reply.status_code == 429:
                rate_limited += 1
                time.sleep(float(reply.headers.get("Retry-After", "10")))
                continue
            ok = reply.ok
            break
        if not ok:
            failed_batches += 1
            failed_pairs += len(chunk)
    wall = time.perf_counter() - started
    return {
        "client": "requests",
        "wall_s": wall,
        "pairs": pairs,
        "batches": batches,
        "client_requests": requests_sent,
        "client_retries": retries,
        "client_rate_limited": rate_limited,
        "failed_batches": failed_batches,
        "failed_pairs": failed_pairs,
        "rss_before_kb": rss_before,
    }


def main() -> None:
    args = parse(__doc__ or "")
    emit(run(args.url, args.token, args.pairs, args.batch_size))


if __name__ == "__main__":
    main()
