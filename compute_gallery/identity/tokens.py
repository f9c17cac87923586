"""Strict token validation, with Azure Resource Manager's 401 codes and messages.

A token must be an RS256 JWT from a trusted issuer (the built-in one, or an external
OpenID issuer whose discovery document the operator names), signed by one of its keys,
for an ARM audience, within its validity period, and must name the principal (``oid``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from ..arm import errors
from .directory import Directory
from .issuer import ARM_AUDIENCES, Issuer

log = logging.getLogger(__name__)

# Microsoft's token validation tolerates this much clock difference.
CLOCK_SKEW_SECONDS = 300
_FETCH_TIMEOUT_SECONDS = 10.0
_RETRY_AFTER_SECONDS = 30.0
_REMEMBERED_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a validated token speaks for."""

    object_id: str
    client_id: str
    tenant_id: str
    issuer: str


class ExternalIssuer:
    """An OpenID issuer trusted by its discovery document; its keys are fetched when needed."""

    def __init__(self, discovery_url: str) -> None:
        self.discovery_url = discovery_url
        self.issuer: str | None = None
        self._keys: jwt.PyJWKClient | None = None
        self._failed_at = 0.0

    def matches(self, issuer: str, tenant_id: str) -> bool:
        # Entra's multi-tenant documents name the issuer with a {tenantid} placeholder.
        if self.issuer is None:
            return False
        return issuer == self.issuer.replace("{tenantid}", tenant_id)

    async def load(self) -> None:
        """Read the discovery document once; after a failure, again only after a pause."""
        if self.issuer is not None or time.monotonic() - self._failed_at < _RETRY_AFTER_SECONDS:
            return
        try:
            document = await asyncio.to_thread(_fetch_json, self.discovery_url)
            self.issuer = str(document["issuer"])
            self._keys = jwt.PyJWKClient(
                str(document["jwks_uri"]), cache_keys=True, timeout=_FETCH_TIMEOUT_SECONDS
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            self._failed_at = time.monotonic()
            log.warning("cannot read the issuer document %s: %s", self.discovery_url, error)

    async def key_for(self, token: str) -> Any:
        assert self._keys is not None
        keys = self._keys
        return (await asyncio.to_thread(keys.get_signing_key_from_jwt, token)).key


def _fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_SECONDS) as response:
        document = json.loads(response.read())
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


class TokenValidator:
    """Checks bearer tokens against the built-in issuer and any external ones.

    A client sends one token for an hour; its signature is verified once, and until it
    expires later requests with it cost a dictionary look-up.
    """

    def __init__(
        self, issuer: Issuer, directory: Directory, external: list[ExternalIssuer]
    ) -> None:
        self.issuer = issuer
        self.directory = directory
        self.external = external
        self._valid: dict[str, tuple[Caller, float]] = {}

    async def validate(self, token: str) -> Caller:
        known = self._valid.get(token)
        if known is not None and known[1] + CLOCK_SKEW_SECONDS >= time.time():
            return known[0]
        caller, expires = await self._validate(token)
        if len(self._valid) >= _REMEMBERED_TOKENS:
            self._valid.clear()
        self._valid[token] = (caller, expires)
        return caller

    async def _validate(self, token: str) -> tuple[Caller, float]:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _invalid("The access token is invalid.") from None
        if header.get("alg") != "RS256":
            # Unsigned (alg "none") and symmetric tokens are never accepted.
            raise _invalid("The access token is invalid.")
        issuer = claims.get("iss")
        tenant_id = claims.get("tid")
        if not isinstance(issuer, str) or not isinstance(tenant_id, str):
            raise _invalid("The access token is invalid.")

        key = await self._key(token, issuer, tenant_id)
        try:
            jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            raise _invalid("The access token has an invalid signature.") from None

        _check_times(claims)
        audience = claims.get("aud")
        if audience not in ARM_AUDIENCES:
            raise errors.ArmError(
                f"The access token has been obtained for wrong audience or resource "
                f"'{audience}'. It should exactly match with one of the allowed audiences "
                f"{','.join(repr(a) for a in ARM_AUDIENCES)}.",
                code="InvalidAuthenticationTokenAudience",
                status=401,
            )
        object_id = claims.get("oid")
        if not isinstance(object_id, str) or not object_id:
            raise _invalid(
                "The received access token is not valid: at least one of the claims 'puid' or "
                "'altsecid' or 'oid' should be present. If you are accessing as application "
                "please make sure service principal is properly created in the tenant."
            )
        client_id = claims.get("appid") or claims.get("azp") or ""
        return Caller(object_id, str(client_id), tenant_id, issuer), float(claims["exp"])

    async def _key(self, token: str, issuer: str, tenant_id: str) -> Any:
        tenant = self.directory.tenant(tenant_id)
        if tenant is not None and issuer in self.issuer.accepted_issuers(tenant.id):
            return self.issuer.key.private_key.public_key()
        for external in self.external:
            await external.load()
            if external.matches(issuer, tenant_id):
                try:
                    return await external.key_for(token)
                except jwt.PyJWKClientError as error:
                    log.info("no key of %s verifies a token: %s", issuer, error)
                    raise _invalid("The access token has an invalid signature.") from None
        raise _invalid(f"The access token is from an untrusted issuer '{issuer}'.")


def _check_times(claims: dict[str, Any]) -> None:
    now = time.time()
    expires = claims.get("exp")
    if not isinstance(expires, int | float):
        raise _invalid("The access token is invalid.")
    if expires + CLOCK_SKEW_SECONDS < now:
        raise errors.ArmError(
            f"The access token expiry UTC time '{_dotnet_time(expires)}' is earlier than current "
            f"UTC time '{_dotnet_time(now)}'.",
            code="ExpiredAuthenticationToken",
            status=401,
        )
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before - CLOCK_SKEW_SECONDS > now:
        raise _invalid(
            f"The access token validity start UTC time '{_dotnet_time(not_before)}' is later "
            f"than current UTC time '{_dotnet_time(now)}'."
        )


def _dotnet_time(epoch: float) -> str:
    """``6/15/2026 8:22:51 AM``: how ARM's messages print times."""
    moment = datetime.fromtimestamp(epoch, UTC)
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return (
        f"{moment.month}/{moment.day}/{moment.year} "
        f"{hour}:{moment.minute:02d}:{moment.second:02d} {suffix}"
    )


def _invalid(message: str) -> errors.ArmError:
    return errors.InvalidAuthenticationToken(message)
