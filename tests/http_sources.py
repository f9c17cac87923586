"""Plain HTTP(S) package sources on 127.0.0.1, for what Azurite cannot be made to do."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Resource:
    """What one path answers."""

    body: bytes
    status: int = 200
    # False: no Content-Length, the body sent chunked, as a dynamic server would.
    length: bool = True
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle's algorithm would hold the body back
    # until the client's delayed acknowledgement, 40 ms later.
    disable_nagle_algorithm = True
    resources: dict[str, Resource]

    def do_GET(self) -> None:
        resource = self.resources.get(self.path.split("?", 1)[0])
        if resource is None:
            resource = Resource(b"not found", status=404)
        self.send_response(resource.status)
        for name, value in resource.headers.items():
            self.send_header(name, value)
        if resource.length:
            self.send_header("Content-Length", str(len(resource.body)))
            self.end_headers()
            self.wfile.write(resource.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(resource.body), 65536):
            piece = resource.body[start : start + 65536]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(
    resources: dict[str, Resource], certificate: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Serve ``resources`` by path; yields the base URL (https with ``(cert, key)``)."""
    handler = type("Handler", (_Handler,), {"resources": resources})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def silent() -> Iterator[str]:
    """A server that accepts connections and never answers; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def refused() -> str:
    """The base URL of a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
