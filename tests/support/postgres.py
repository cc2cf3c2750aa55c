"""A real, throw-away PostgreSQL server for the SQL source and the Celery deployment.

The binaries come from the PyPI package `pgserver` (a test extra): no root, no apt. The server runs
from a temporary data directory on a free loopback port; as root (CI) it runs as the unprivileged
`nobody` user, because initdb and postgres refuse to run as root."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.support.servers import free_port


class PostgresServer:
    """A throw-away PostgreSQL server: `start()` (initdb + pg_ctl start), `uri`, `stop()`."""

    def __init__(self, directory: Path) -> None:
        import importlib.util

        spec = importlib.util.find_spec("pgserver")  # its binaries only: its server runs on a socket
        assert spec is not None, "pgserver is not installed: pip install -e '.[test]'"
        assert spec.origin is not None
        self.bin = Path(spec.origin).parent / "pginstall" / "bin"
        self.directory = directory
        self.data = directory / "data"
        self.port = 0
        self._user = "nobody" if _is_root() else None

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def conn_json(self) -> str:
        """The Airflow connection (AIRFLOW_CONN_<ID>) that reaches this server."""
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": self.port,
                "login": "postgres",
                "schema": "postgres",
            }
        )

    def _run(self, *args: str, timeout: float = 60) -> None:
        import subprocess

        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._user,
            cwd=self.directory,
        )
        if result.returncode != 0:
            log = self.directory / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr[-2000:]}\n{tail}")

    def start(self) -> PostgresServer:
        import os
        import shutil

        self.directory.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            import pwd

            entry = pwd.getpwnam(self._user)
            for path in (self.directory, *self.directory.parents):
                if path == Path(tempfile_root()):
                    break
                os.chmod(path, os.stat(path).st_mode | 0o711)
            shutil.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.port = free_port()
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )
        return self

    def version(self) -> str:
        """`PostgreSQL 16.2`: what the binaries are."""
        import subprocess

        done = subprocess.run(
            [str(self.bin / "pg_config"), "--version"], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    @classmethod
    def in_temporary_directory(cls) -> PostgresServer:
        """A started server in its own temporary directory (not pytest's numbered ones, which a
        concurrent pytest session may prune); `close()` stops it and removes the directory."""
        import tempfile

        server = cls(Path(tempfile.mkdtemp(prefix="hubassoc-pg-")) / "pg")
        try:
            return server.start()
        except BaseException:
            server.close()
            raise

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        """Stop the server (killing the postmaster if pg_ctl cannot) and remove its directory."""
        import os
        import shutil
        import signal

        pid_file = self.data / "postmaster.pid"
        try:
            self.stop()
        except Exception:
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
            raise
        finally:
            shutil.rmtree(self.directory.parent, ignore_errors=True)

    def execute(self, *statements: str, rows: Iterable[tuple[Any, ...]] = ()) -> None:
        """Run statements through psycopg2 (the last one with `rows` as executemany)."""
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.uri)) as conn, conn.cursor() as cursor:
            for statement in statements[:-1]:
                cursor.execute(statement)
            if rows:
                cursor.executemany(statements[-1], list(rows))
            else:
                cursor.execute(statements[-1])
            conn.commit()


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def tempfile_root() -> str:
    import tempfile

    return tempfile.gettempdir()
