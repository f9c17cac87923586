"""A package source on 127.0.0.1 for the benchmark's versions: versions fetch what they name."""

from __future__ import annotations

import http.server
import threading
from types import TracebackType

PACKAGE = b"#!/bin/sh\necho installed\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle's algorithm would hold the body back
    # until the client's delayed acknowledgement, 40 ms later.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(PACKAGE)))
        self.end_headers()
        self.wfile.write(PACKAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


class PackageServer:
    """Serves one small package over HTTP in a thread of the benchmark process."""

    def __init__(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/app.sh"

    def __enter__(self) -> PackageServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
