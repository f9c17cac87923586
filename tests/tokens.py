"""Test support for identity: tokens from the service's issuer, and tokens made by hand."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .support import ServiceProcess

ARM_SCOPE = "https://management.azure.com/.default"
CLI_SCOPE = "https://management.core.windows.net//.default"


def request_token(
    service: ServiceProcess,
    tenant: str,
    client_id: str,
    secret: str | None,
    scope: str = ARM_SCOPE,
    **extra: str,
) -> requests.Response:
    """POST a client-credentials request to the built-in issuer's v2.0 token endpoint."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "scope": scope, **extra}
    if secret is not None:
        form["client_secret"] = secret
    return requests.post(
        service.url(f"/{tenant}/oauth2/v2.0/token"), data=form, verify=service.verify, timeout=30
    )


def access_token(service: ServiceProcess, tenant: str, client_id: str, secret: str) -> str:
    response = request_token(service, tenant, client_id, secret)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def service_key(service: ServiceProcess) -> rsa.RSAPrivateKey:
    """The issuer's own signing key, as an operator finds it in the data directory."""
    pem = (Path(service.data_dir) / "identity" / "signing-key.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def claims_for(
    service: ServiceProcess, tenant: str, object_id: str, **overrides: Any
) -> dict[str, Any]:
    """Claims like the issuer's, valid for an hour; ``overrides`` replace or (None) drop."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": "https://management.azure.com",
        "iss": f"{service.endpoint}/{tenant}/",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "appid": str(uuid.uuid4()),
        "oid": object_id,
        "sub": object_id,
        "tid": tenant,
        "ver": "1.0",
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str = "test-key") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "x5t": kid})


def unsigned(claims: dict[str, Any]) -> str:
    """A token with ``alg: none`` and no signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
