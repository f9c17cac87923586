"""Starts ``compute-gallery serve`` as a child process and reads its endpoint from the banner."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

START_TIMEOUT = 30.0


class Server:
    """One service process on a free port, HTTPS with its own CA, SQLite in ``data_dir``.

    ``python_args`` go to the interpreter before ``-m compute_gallery``, for a profiler that
    starts the process itself (``["-m", "cProfile", "-o", "serve.prof"]``); ``args`` go to
    ``serve`` (``["--database-url", url]``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        python_args: list[str] | None = None,
        serve_args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.python_args = python_args or []
        # More ``serve`` flags; sources are read from this machine only in any case.
        self.serve_args = serve_args or []
        self.endpoint = ""
        self.ca_cert = ""
        self.output: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> Server:
        command = [
            sys.executable,
            *self.python_args,
            "-m",
            "compute_gallery",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
            "--source-host",
            "127.0.0.1",
            *self.serve_args,
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line:
                raise RuntimeError("the service exited during start:\n" + "".join(self.output))
            self.output.append(line)
            if line.startswith("compute-gallery listening on "):
                self.endpoint = line.split()[-1].rstrip("/")
            elif line.startswith("CA certificate to trust: "):
                self.ca_cert = line.split(": ", 1)[1].strip()
            elif line.startswith("state: "):
                break
        # A pipe nobody reads would block the service once it fills up.
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        self._wait_healthy(deadline)
        return self

    def _read_rest(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self.output.append(line)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_cert)

    def _wait_healthy(self, deadline: float) -> None:
        context = self.ssl_context()
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"{self.endpoint}/_emulator/health", context=context, timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.05)
        raise RuntimeError("the service did not become healthy:\n" + "".join(self.output))

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)
        self._process = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
