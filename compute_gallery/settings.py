"""The service's settings, as the command line or a test fixture gives them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LroMode = Literal["fast", "azure"]


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
    poll_interval_ms: int = 10
    page_size: int = 100
    # Finished operations stay readable this long, like Azure's operation-status URLs.
    operation_retention_seconds: float = 24 * 3600.0
    log_level: str = "info"
    # A PostgreSQL URL: the store several instances share, instead of SQLite in data_dir.
    database_url: str | None = None
    # The most database connections an instance opens (half write, half read).
    database_pool_size: int = 10
    # How long to keep trying to reach the database at start before giving up.
    database_wait_seconds: float = 60.0
    # How long an instance's claim on an operation lasts unrenewed; another instance takes
    # over the operations of one that stopped renewing after this long.
    operation_lease_seconds: float = 15.0
