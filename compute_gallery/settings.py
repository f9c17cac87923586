"""The service's settings, as the command line or a test fixture gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

LroMode = Literal["fast", "azure"]
AuthMode = Literal["permissive", "strict"]


GIB = 1024**3


@dataclass(frozen=True, slots=True)
class ReplicationSettings:
    """How application-version packages are fetched and copied to their target regions."""

    # None: replicas live in a directory under the data directory; else an Azure Blob
    # Storage connection string, one container per region named <container_prefix><region>.
    blob_connection_string: str | None = None
    container_prefix: str = "replicas-"
    # Transfers (one fetch, or one copy into one replica) that run at the same time.
    max_transfers: int = 4
    # Bytes per second across every transfer; None: as fast as the disk and network go.
    bandwidth: int | None = None
    # Each target region takes at least this long to replicate, as in Azure (minutes there).
    region_seconds: float = 0.0
    allow_file_sources: bool = False
    # When set, sources are fetched only from these hosts (names or addresses as written in
    # the URL, compared before any name lookup); None: from any host.
    source_hosts: frozenset[str] | None = None
    # A CA certificate (PEM) trusted for HTTPS sources besides the system's.
    source_ca_file: Path | None = None
    # How long a source may stay silent (connecting, or between bytes) before the fetch fails.
    source_timeout_seconds: float = 60.0
    # Compute's limits: a package up to 2 GB, a default configuration up to 1 GB.
    max_package_bytes: int = 2 * GIB
    max_config_bytes: int = 1 * GIB


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that changes how the service behaves; immutable once it starts."""

    data_dir: Path
    in_memory: bool = False
    host: str = "127.0.0.1"
    port: int = 8443
    http: bool = False
    # How long a long-running operation stays InProgress before it completes.
    operation_seconds: float = 0.0
    # "fast": headers that make the official clients poll every few milliseconds;
    # "azure": the headers the real service sends (clients fall back to their own delays).
    lro_mode: LroMode = "fast"
    # Fast mode: the first wait between polls, and the longest as an operation runs on.
    poll_interval_ms: int = 4
    longest_poll_ms: int = 1000
    page_size: int = 100
    # Finished operations stay readable this long, like Azure's operation-status URLs.
    operation_retention_seconds: float = 24 * 3600.0
    log_level: str = "info"
    # "permissive": any well-formed bearer token; "strict": validated tokens and roles.
    auth: AuthMode = "permissive"
    # The directory (tenants, principals, subscriptions, role assignments); None: built-in.
    identity_config: Path | None = None
    # OpenID discovery documents of issuers whose tokens strict mode accepts too.
    trusted_issuers: tuple[str, ...] = ()
    replication: ReplicationSettings = field(default_factory=ReplicationSettings)
    # A PostgreSQL URL: the store several instances share, instead of SQLite in data_dir.
    database_url: str | None = None
    # The most database connections an instance opens (half write, half read).
    database_pool_size: int = 10
    # How long to keep trying to reach the database at start before giving up.
    database_wait_seconds: float = 60.0
    # How long an instance's claim on an operation lasts unrenewed; another instance takes
    # over the operations of one that stopped renewing after this long.
    operation_lease_seconds: float = 15.0
