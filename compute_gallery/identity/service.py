"""The identity side of the service: its directory, issuer and access mode, built from settings.

It also answers the requests that need no token: the issuer's endpoints and the cloud
metadata, ahead of the ARM pipeline.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..arm import errors
from ..arm.request import Reply
from . import cloud, keys
from . import directory as directory_module
from .access import Access, StrictAccess
from .directory import Directory
from .issuer import Issuer, IssuerRequest
from .tokens import ExternalIssuer, TokenValidator

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)


def authority_of(settings: Settings) -> str:
    """The origin tokens name as their issuer: where this process listens."""
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "http" if settings.http else "https"
    return f"{scheme}://{host}:{settings.port}"


class Identity:
    """Directory, issuer and access mode of one service process."""

    def __init__(self, settings: Settings) -> None:
        self.directory: Directory = (
            directory_module.load(settings.identity_config)
            if settings.identity_config is not None
            else directory_module.default()
        )
        key = keys.ensure(settings.data_dir / "identity")
        self.issuer = Issuer(self.directory, key, authority_of(settings))
        self.access: Access
        if settings.auth == "strict":
            external = [ExternalIssuer(url) for url in settings.trusted_issuers]
            validator = TokenValidator(self.issuer, self.directory, external)
            self.access = StrictAccess(self.directory, self.issuer, validator)
        else:
            self.access = Access(self.directory, self.issuer)

    def serves(self, method: str, path: str) -> bool:
        """Whether ``path`` is one of the endpoints answered without a token."""
        if method == "GET" and _is_metadata(path):
            return True
        return self.issuer.endpoint(method, path) is not None

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        base_url: str,
    ) -> Reply:
        if method == "GET" and _is_metadata(path):
            try:
                return cloud.metadata_endpoints(query, base_url)
            except errors.ArmError as error:
                return Reply(error.status, {"error": error.to_body()}, error.headers)
        found = self.issuer.endpoint(method, path)
        assert found is not None
        tenant, endpoint = found
        return self.issuer.answer(endpoint, IssuerRequest(tenant, query, headers, body, base_url))


def _is_metadata(path: str) -> bool:
    # Clients join "metadata/endpoints" to an endpoint that ends in "/": "//metadata/...".
    return len(path) < 32 and path.strip("/").lower() == "metadata/endpoints"
