"""Runs the service under uvicorn, over HTTPS with the local CA unless told otherwise."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import sys

import uvicorn

from . import tls
from .app import App
from .cli import bind, configure_logging
from .identity.service import Identity
from .service import Service
from .settings import Settings


class _Server(uvicorn.Server):
    """uvicorn's server, except that a stop does not wait on idle keep-alive connections.

    At shutdown uvicorn closes idle connections, and closing a TLS connection waits for the
    client's close_notify, which a pooled client (the SDKs, requests) never sends while idle:
    every stop with a client attached would wait out the whole grace period. Connections the
    server is closing, with nothing left to send, are aborted instead.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        reaper = asyncio.get_running_loop().create_task(self._abort_closing_connections())
        try:
            await super().shutdown(sockets)
        finally:
            reaper.cancel()

    async def _abort_closing_connections(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            for connection in list(self.server_state.connections):
                transport = connection.transport
                if transport.is_closing() and not transport.get_write_buffer_size():
                    transport.abort()


def identity_banner(identity: Identity, settings: Settings) -> list[str]:
    """Where to sign in, and with what when the built-in directory is in use."""
    tenant = identity.directory.tenants[0]
    lines = [f"token issuer: {identity.issuer.authority}/{tenant.id} (auth: {settings.auth})"]
    if identity.directory.source is None:
        principal = identity.directory.principals[0]
        lines.append(
            f"sign in as: client id {principal.client_id}, secret {principal.secret}, "
            f"tenant {tenant.id}, subscription {identity.directory.subscriptions[0].id}"
        )
    return lines


def run(settings: Settings) -> int:
    configure_logging(settings.log_level)
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    # The issuer names the port it listens on, so a picked port (--port 0) must be known.
    settings = dataclasses.replace(settings, port=port)
    service = Service(settings)
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
    lines.extend(identity_banner(service.identity, settings))
    if settings.database_url:
        from .storage.postgres import redacted

        store = f"in PostgreSQL at {redacted(settings.database_url)}"
    else:
        store = "in memory" if settings.in_memory else f"in {settings.data_dir}"
    lines.append(f"state: {store}")
    # The banner is the command's output, not a log line: scripts read the endpoint from it.
    print("\n".join(lines), flush=True)

    config = uvicorn.Config(
        App(service),
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=5,
        **ssl,  # type: ignore[arg-type]
    )
    server = _Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 1
