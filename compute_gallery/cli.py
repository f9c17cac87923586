"""The ``compute-gallery`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import sys
from pathlib import Path

import platformdirs

from . import __version__
from .replication import sizes
from .settings import ReplicationSettings, Settings

BLOB_REPLICAS_ENV = "COMPUTE_GALLERY_BLOB_REPLICAS"
_CONTAINER_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-))*$")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("compute-gallery", appauthor=False))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compute-gallery",
        description="A self-hosted Azure Compute Gallery control plane for VM Applications.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the service",
        description="Serve the Azure Resource Manager API for galleries, gallery applications "
        "and gallery application versions. Point an Azure SDK's base_url (or the CLI's "
        "resource-manager endpoint) at the printed endpoint and trust the printed CA.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--port",
        type=int,
        # No default of its own: it depends on --http (the help says which).
        default=argparse.SUPPRESS,
        help="port to listen on; 0 picks a free one (default: 8443, or 8080 with --http)",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        metavar="PATH",
        default=default_data_dir(),
        help="where the embedded SQLite store, the TLS certificates, the token signing key and "
        "the replicas live",
    )
    serve.add_argument(
        "--in-memory",
        action="store_true",
        help="keep resources in memory only (the TLS certificates still live in --data-dir)",
    )
    serve.add_argument("--http", action="store_true", help="serve plain HTTP instead of HTTPS")
    serve.add_argument(
        "--database-url",
        metavar="URL",
        help="keep state in this PostgreSQL database (postgresql://USER[:PASSWORD]@HOST[:PORT]"
        "/DATABASE) instead of SQLite in --data-dir, so that several instances behind a load "
        "balancer share it; its schema is migrated at start. The password may also come from "
        "PGPASSWORD or ~/.pgpass",
    )
    _database_flags(serve)
    serve.add_argument(
        "--database-pool-size",
        type=int,
        default=10,
        metavar="N",
        help="the most connections to the database this instance opens: half run writes, half "
        "serve reads (at least 2)",
    )
    serve.add_argument(
        "--operation-lease-seconds",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how long an instance's claim on a running operation lasts unrenewed (it renews "
        "every third of it); when an instance dies, another takes its operations over after "
        "this long",
    )
    serve.add_argument(
        "--operation-seconds",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="how long each long-running operation stays InProgress",
    )
    serve.add_argument(
        "--lro-mode",
        choices=("fast", "azure"),
        default="fast",
        help="fast: headers that make clients poll again after a few milliseconds, waiting "
        "longer (up to a second) as an operation runs on; azure: the headers Azure sends "
        "(clients then wait their own default interval between polls)",
    )
    serve.add_argument(
        "--page-size",
        type=int,
        default=100,
        metavar="N",
        help="items per page of a list without $top",
    )
    serve.add_argument(
        "--auth",
        choices=("permissive", "strict"),
        default="permissive",
        help="permissive: any well-formed bearer token is accepted; strict: tokens must be "
        "signed by the built-in issuer (or a --trust-issuer), for Azure Resource Manager, "
        "unexpired, and the caller's role assignments must allow the request",
    )
    serve.add_argument(
        "--identity-config",
        type=Path,
        metavar="PATH",
        help="a TOML file of tenants, service principals, subscriptions and role assignments "
        "(see examples/identity.toml); default: one built-in tenant, principal and "
        "subscription, printed at start",
    )
    serve.add_argument(
        "--trust-issuer",
        action="append",
        default=[],
        metavar="URL",
        help="with --auth strict, also accept tokens of this OpenID issuer, named by its "
        "discovery document (https://login.microsoftonline.com/TENANT/v2.0/.well-known/"
        "openid-configuration, say); may be repeated",
    )
    serve.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="how much to log; info logs one line per request",
    )
    _replication_arguments(serve)

    migrate = commands.add_parser(
        "migrate",
        help="bring a PostgreSQL database's schema up to this release, then exit",
        description="Apply the schema migrations this release has and the database lacks, in "
        "one transaction, then exit. serve --database-url does the same at every start; run "
        "this to migrate ahead of a rolling upgrade, or to check a database. A database a newer "
        "release migrated is refused.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    migrate.add_argument(
        "--database-url",
        metavar="URL",
        required=True,
        default=argparse.SUPPRESS,
        help="the database (postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)",
    )
    _database_flags(migrate)
    return parser


def _database_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--database-wait-seconds",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to keep retrying, with backoff, a database that cannot be reached at "
        "start before giving up",
    )


def _replication_arguments(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group(
        "replication",
        "Creating or updating an application version fetches its package (and default "
        "configuration) from its source URLs and copies it to every target region. Replicas "
        "live under --data-dir unless --blob-replicas names a storage account.",
    )
    group.add_argument(
        "--blob-replicas",
        metavar="CONNECTION_STRING",
        help="keep replicas in this Azure Blob Storage account (Azurite works too), one "
        "container per region, instead of a directory under --data-dir; read from "
        f"${BLOB_REPLICAS_ENV} when not given, so that no account key need appear on a "
        "command line",
    )
    group.add_argument(
        "--blob-container-prefix",
        metavar="PREFIX",
        default="replicas-",
        help="with --blob-replicas: the containers are named PREFIX followed by the region",
    )
    group.add_argument(
        "--max-transfers",
        type=int,
        default=4,
        metavar="N",
        help="transfers (a fetch from a source, or a copy into one replica) that run at once",
    )
    group.add_argument(
        "--bandwidth",
        metavar="RATE",
        help="bytes per second that all transfers together may move, with a K, M or G suffix "
        "(powers of 1024), such as 50M; None: no limit",
    )
    group.add_argument(
        "--replication-seconds",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="each target region takes at least this long to replicate, imitating Azure's "
        "timing (minutes there); progress advances over that time",
    )
    group.add_argument(
        "--allow-file-sources",
        action="store_true",
        help="accept file:/// URLs of this machine's files as mediaLink and "
        "defaultConfigurationLink (Azure accepts only http and https)",
    )
    group.add_argument(
        "--source-host",
        action="append",
        metavar="HOST",
        help="fetch sources only from this host (a name or address as written in the URL, "
        "checked before any name lookup); repeat for several; None: any host",
    )
    group.add_argument(
        "--source-ca",
        type=Path,
        metavar="PEM",
        help="also trust this CA certificate for HTTPS sources (a local Azurite over TLS)",
    )
    group.add_argument(
        "--source-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="fail a fetch when its source stays silent this long (connecting or between bytes)",
    )
    group.add_argument(
        "--max-package-size",
        metavar="SIZE",
        default="2G",
        help="largest package (mediaLink) accepted; Azure's limit is 2 GB",
    )
    group.add_argument(
        "--max-config-size",
        metavar="SIZE",
        default="1G",
        help="largest default configuration (defaultConfigurationLink) accepted; Azure's limit "
        "is 1 GB",
    )


def _replication_settings(args: argparse.Namespace) -> ReplicationSettings:
    """The replication flags as settings; ValueError with a readable message if one is wrong."""
    if args.max_transfers < 1:
        raise ValueError("--max-transfers must be at least 1")
    if args.replication_seconds < 0:
        raise ValueError("--replication-seconds must not be negative")
    if args.source_timeout <= 0:
        raise ValueError("--source-timeout must be positive")
    if args.source_ca is not None and not args.source_ca.is_file():
        raise ValueError(f"--source-ca: no file {args.source_ca}")
    if (
        not _CONTAINER_PREFIX.match(args.blob_container_prefix)
        or len(args.blob_container_prefix) > 40
    ):
        raise ValueError(
            "--blob-container-prefix must be lower-case letters, digits and single hyphens, "
            "starting with a letter or digit, at most 40 characters"
        )
    bandwidth = None
    if args.bandwidth is not None:
        bandwidth = _size("--bandwidth", args.bandwidth)
    return ReplicationSettings(
        blob_connection_string=args.blob_replicas or os.environ.get(BLOB_REPLICAS_ENV) or None,
        container_prefix=args.blob_container_prefix,
        max_transfers=args.max_transfers,
        bandwidth=bandwidth,
        region_seconds=args.replication_seconds,
        allow_file_sources=args.allow_file_sources,
        source_hosts=frozenset(host.lower() for host in args.source_host)
        if args.source_host
        else None,
        source_ca_file=args.source_ca,
        source_timeout_seconds=args.source_timeout,
        max_package_bytes=_size("--max-package-size", args.max_package_size),
        max_config_bytes=_size("--max-config-size", args.max_config_size),
    )


def _size(flag: str, text: str) -> int:
    try:
        value = sizes.parse(text)
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from None
    if value < 1:
        raise ValueError(f"{flag} must be at least one byte")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        return _migrate(args)
    return 2  # pragma: no cover - argparse rejects unknown commands first


def _refuse(message: str) -> int:
    print(f"compute-gallery: {message}", file=sys.stderr)
    return 2


def _check_database_flags(args: argparse.Namespace) -> str | None:
    """What is wrong with the database flags, or None."""
    if args.database_wait_seconds < 0:
        return "--database-wait-seconds must not be negative"
    if args.database_url is not None:
        from .storage.postgres import check_url

        try:
            check_url(args.database_url)
        except ValueError as error:
            return f"--database-url: {error}"
    return None


def _migrate(args: argparse.Namespace) -> int:
    problem = _check_database_flags(args)
    if problem:
        return _refuse(problem)
    configure_logging("info")
    import asyncio

    from .storage import SchemaTooNew, Unavailable
    from .storage.migrations import LATEST
    from .storage.postgres import reach_and_migrate, redacted

    try:
        applied = asyncio.run(reach_and_migrate(args.database_url, args.database_wait_seconds))
    except (Unavailable, SchemaTooNew) as error:
        print(f"compute-gallery: {error}", file=sys.stderr)
        return 1
    where = redacted(args.database_url)
    for step in applied:
        print(f"applied migration {step.version}: {step.name}")
    print(f"{where} is at schema version {LATEST}" + ("" if applied else " already; nothing to do"))
    return 0


def _serve(args: argparse.Namespace) -> int:
    problem = _check_database_flags(args)
    if problem:
        return _refuse(problem)
    if args.database_url and args.in_memory:
        return _refuse("--in-memory and --database-url exclude each other; choose one store")
    if args.database_pool_size < 2:
        return _refuse("--database-pool-size must be at least 2 (one write, one read)")
    if args.operation_lease_seconds < 1:
        return _refuse("--operation-lease-seconds must be at least 1")
    if args.operation_seconds < 0:
        print("compute-gallery: --operation-seconds must not be negative", file=sys.stderr)
        return 2
    if args.page_size < 1:
        print("compute-gallery: --page-size must be at least 1", file=sys.stderr)
        return 2
    if args.identity_config is not None:
        from .identity import directory

        try:
            directory.load(args.identity_config)
        except directory.DirectoryError as error:
            print(f"compute-gallery: --identity-config {error}", file=sys.stderr)
            return 2
    if args.trust_issuer and args.auth != "strict":
        print("compute-gallery: --trust-issuer needs --auth strict", file=sys.stderr)
        return 2
    try:
        replication = _replication_settings(args)
    except ValueError as error:
        print(f"compute-gallery: {error}", file=sys.stderr)
        return 2
    port = getattr(args, "port", None)
    if port is None:
        port = 8080 if args.http else 8443
    settings = Settings(
        data_dir=args.data_dir,
        in_memory=args.in_memory,
        host=args.host,
        port=port,
        http=args.http,
        operation_seconds=args.operation_seconds,
        lro_mode=args.lro_mode,
        page_size=args.page_size,
        log_level=args.log_level,
        auth=args.auth,
        identity_config=args.identity_config,
        trusted_issuers=tuple(args.trust_issuer),
        replication=replication,
        database_url=args.database_url,
        database_pool_size=args.database_pool_size,
        database_wait_seconds=args.database_wait_seconds,
        operation_lease_seconds=args.operation_lease_seconds,
    )
    from .server import run

    try:
        return run(settings)
    except OSError as error:
        if error.errno in (98, 48):  # EADDRINUSE on Linux, macOS
            print(
                f"compute-gallery: port {port} on {args.host} is in use; choose another with "
                "--port (0 picks a free one).",
                file=sys.stderr,
            )
            return 1
        raise


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The database driver's pool logs every connection it lends at DEBUG: no news to us.
    logging.getLogger("psycopg").setLevel(max(logging.INFO, logging.getLogger().level))


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; bound here so that port 0 resolves before the banner is printed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
