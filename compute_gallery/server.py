"""Runs the service under uvicorn, over HTTPS with the local CA unless told otherwise."""

from __future__ import annotations

import sys

import uvicorn

from . import tls
from .app import App
from .cli import bind, configure_logging
from .service import Service
from .settings import Settings


def run(settings: Settings) -> int:
    configure_logging(settings.log_level)
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    scheme = "http" if settings.http else "https"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    ssl: dict[str, str] = {}
    lines = [f"compute-gallery listening on {scheme}://{host}:{port}/"]
    if not settings.http:
        certificates = tls.ensure(settings.data_dir / "tls", settings.host)
        ssl = {
            "ssl_certfile": str(certificates.server_cert),
            "ssl_keyfile": str(certificates.server_key),
        }
        lines.append(f"CA certificate to trust: {certificates.ca_cert}")
    store = "in memory" if settings.in_memory else f"in {settings.data_dir}"
    lines.append(f"state: {store}")
    # The banner is the command's output, not a log line: scripts read the endpoint from it.
    print("\n".join(lines), flush=True)

    config = uvicorn.Config(
        App(Service(settings)),
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=5,
        **ssl,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 1
