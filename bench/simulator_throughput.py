"""Simulator throughput on loopback, next to the ceiling of the stdlib server stack.

Starts the simulator (CLI, in a subprocess) and a trivial stdlib HTTP/1.1 server that answers 204
(the baseline, also a subprocess), then drives each with N client threads over keep-alive
requests.Sessions for a bounded time and request count. Prints req/s side by side.

    .venv/bin/python bench/simulator_throughput.py --threads 4 --seconds 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import random
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

TOKEN = "pat-sim-demo-token-0000"
RECORDS = 1000


class _Baseline(BaseHTTPRequestHandler):
    """The least a stdlib server can do per request: read the body, answer 204."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_baseline(ready_file: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Baseline)
    server.daemon_threads = True
    ready_file.write_text(f"http://127.0.0.1:{server.server_address[1]}")
    server.serve_forever()


def _start(cmd: list[str], ready: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not ready.exists() or not ready.read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"server did not start: {cmd}")
        time.sleep(0.05)
    return proc, ready.read_text().strip()


def _client_process(
    url: str, scenario: str, threads: int, seconds: float, max_requests: int, client: str
) -> tuple[int, dict[int, int], float]:
    """One client process: `threads` keep-alive clients; returns (requests, statuses, elapsed)."""
    body_for = BODIES[scenario]
    stop_at = time.monotonic() + seconds
    counts: list[int] = [0] * threads
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    per_thread = max(1, max_requests // threads)
    split = urlsplit(url)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def worker(index: int) -> None:
        rng = random.Random(index)
        local: dict[int, int] = {}
        n = 0
        if client == "requests":
            session = requests.Session()
            session.headers.update(headers)
            while n < per_thread and time.monotonic() < stop_at:
                code = session.post(url, data=json.dumps(body_for(rng)), timeout=10).status_code
                local[code] = local.get(code, 0) + 1
                n += 1
        else:
            conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=10)
            while n < per_thread and time.monotonic() < stop_at:
                conn.request("POST", split.path, json.dumps(body_for(rng)), headers)
                response = conn.getresponse()
                response.read()
                local[response.status] = local.get(response.status, 0) + 1
                n += 1
            conn.close()
        counts[index] = n
        with lock:
            for code, k in local.items():
                statuses[code] = statuses.get(code, 0) + k

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts), statuses, time.monotonic() - started


def drive(
    url: str, scenario: str, threads: int, processes: int, seconds: float, max_requests: int, client: str
) -> tuple[float, int, dict[int, int]]:
    """Run the client processes (fork) in parallel; return (req/s, requests, status histogram)."""
    ctx = multiprocessing.get_context("fork")
    jobs = [(url, scenario, threads, seconds, max_requests // processes, client)] * processes
    with ctx.Pool(processes) as pool:
        outcomes = pool.starmap(_client_process, jobs)
    total = sum(o[0] for o in outcomes)
    elapsed = max(o[2] for o in outcomes)
    statuses: dict[int, int] = {}
    for _, local, _ in outcomes:
        for code, k in local.items():
            statuses[code] = statuses.get(code, 0) + k
    return total / elapsed, total, statuses


def archive_body(rng: random.Random) -> dict[str, Any]:
    from_id = rng.randint(1, RECORDS)
    return {
        "inputs": [{"from": {"id": str(from_id)}, "to": [{"id": str(1_000_000 + rng.randint(1, RECORDS))}]}]
    }


def read_body(rng: random.Random) -> dict[str, Any]:
    return {"inputs": [{"id": str(rng.randint(1, RECORDS))}]}


BODIES: dict[str, Any] = {"archive": archive_body, "read": read_body}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="client threads per client process")
    parser.add_argument("--processes", type=int, default=2, help="client processes (one GIL each)")
    parser.add_argument("--client", choices=("requests", "http.client"), default="requests")
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per scenario")
    parser.add_argument("--baseline-server", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server is not None:
        serve_baseline(args.baseline_server)
        return 0
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            base_proc, base_url = _start(
                [sys.executable, __file__, "--baseline-server", f"{tmp}/baseline"], Path(tmp, "baseline")
            )
            procs.append(base_proc)
            sim_proc, sim_url = _start(
                [
                    sys.executable,
                    "-m",
                    "hubassoc_simulator",
                    "--port",
                    "0",
                    "--ready-file",
                    f"{tmp}/sim",
                    "--rate-limit",
                    "1000000000",
                    "--generate",
                    str(RECORDS),
                    str(RECORDS * 5),
                    "7",
                ],
                Path(tmp, "sim"),
            )
            procs.append(sim_proc)
            prefix = f"{sim_url}/crm/associations/2026-03/contacts/companies"
            scenarios = [
                ("baseline stdlib 204", f"{base_url}/any", "archive"),
                ("simulator batch/archive", f"{prefix}/batch/archive", "archive"),
                ("simulator batch/read", f"{prefix}/batch/read", "read"),
            ]
            results = []
            for name, url, body in scenarios:
                rate, total, statuses = drive(
                    url, body, args.threads, args.processes, args.seconds, args.max_requests, args.client
                )
                results.append(
                    {"scenario": name, "req_per_s": round(rate, 1), "requests": total, "statuses": statuses}
                )
            print(
                f"{'scenario':<26} {'req/s':>9} {'requests':>9}  statuses   "
                f"(client={args.client}, "
                f"processes={args.processes} x threads={args.threads})"
            )
            for r in results:
                print(f"{r['scenario']:<26} {r['req_per_s']:>9} {r['requests']:>9}  {r['statuses']}")
            ceiling = float(str(results[0]["req_per_s"]))
            for r in results[1:]:
                share = 100 * float(str(r["req_per_s"])) / ceiling
                print(f"{r['scenario']}: {share:.0f}% of the stdlib ceiling")
            print(json.dumps(results))
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
