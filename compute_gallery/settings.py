"""The service's settings, as the command line or a test fixture gives them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LroMode = Literal["fast", "azure"]
AuthMode = Literal["permissive", "strict"]


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
    # "permissive": any well-formed bearer token; "strict": validated tokens and roles.
    auth: AuthMode = "permissive"
    # The directory (tenants, principals, subscriptions, role assignments); None: built-in.
    identity_config: Path | None = None
    # OpenID discovery documents of issuers whose tokens strict mode accepts too.
    trusted_issuers: tuple[str, ...] = ()
