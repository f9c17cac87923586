"""A throwaway PostgreSQL server for tests and benchmarks: initdb, a free port, pg_ctl.

PostgreSQL refuses to run as root, so when the tests run as root (as CI does) the server's
programs run as the ``postgres`` system user through ``runuser``, in a directory of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

# Durability is not what the tests check: fsync off keeps a busy machine's disk out of them.
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "32MB",
    "max_pred_locks_per_transaction": "256",
}
SYSTEM_USER = "postgres"


def server_program(name: str) -> str:
    """A PostgreSQL server program: on PATH, else the newest in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise RuntimeError(f"{name} not found; run tools/setup-postgres.sh")
    return str(candidates[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One cluster in a temporary directory, listening on 127.0.0.1 only, trusting local users.
    ``durable`` turns fsync back on (benchmarks compare it with SQLite, which syncs).

    ``stop`` and ``start`` again keep the data and the port, so a test can take the database
    away from a running service and give it back.
    """

    def __init__(self, port: int | None = None, *, durable: bool = False) -> None:
        self.port = port or free_port()
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="compute-gallery-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)
        self._initialised = False

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", SYSTEM_USER, "--"] if self._as_root else []
        completed = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if completed.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} exited {completed.returncode}:\n{completed.stdout}\n"
                f"{completed.stderr}\n{log}"
            )

    def start(self) -> PostgresServer:
        if not self._initialised:
            self._run(
                server_program("initdb"),
                "--pgdata",
                str(self.data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            )
            self._initialised = True
        settings = dict(_SERVER_SETTINGS)
        if self.durable:
            # As a production server runs: every commit on disk before it is acknowledged.
            settings.update(fsync="on", synchronous_commit="on", full_page_writes="on")
        options = " ".join(f"-c {name}={value}" for name, value in settings.items())
        self._run(
            server_program("pg_ctl"),
            "start",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "--wait",
            "--timeout",
            "60",
            "-o",
            f"-p {self.port} -k {self.root} {options}",
        )
        return self

    def stop(self) -> None:
        """Stop now: every client connection is cut, as a crash or a network cut would look to
        clients. (Fast mode, not immediate: with synchronous_commit off an immediate stop may
        lose the last commits clients were told of.)"""
        if self.data.joinpath("postmaster.pid").exists():
            self._run(
                server_program("pg_ctl"), "stop", "--pgdata", str(self.data), "--mode", "fast"
            )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "cg") -> str:
        """A new, empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def execute(self, url: str, statement: str) -> list[tuple[object, ...]]:
        """Run one statement in ``url``'s database; the rows it returns, if any."""
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(statement.encode())
            return cursor.fetchall() if cursor.description else []
