"""The built-in token issuer: the parts of Microsoft Entra ID that MSAL and the Azure CLI use.

Served under the service's own origin, tenant first, as Entra serves them:

    GET  /{tenant}/v2.0/.well-known/openid-configuration    OpenID discovery (v2.0)
    GET  /{tenant}/.well-known/openid-configuration         OpenID discovery (v1)
    GET  /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys   the signing keys (JWKS)
    POST /{tenant}/oauth2/v2.0/token                        client credentials, ``scope=``
    POST /{tenant}/oauth2/token                             client credentials, ``resource=``
    GET  /common/discovery/instance                         MSAL's instance discovery

Tokens are RS256 JWTs in the shape Entra gives Azure Resource Manager tokens (version 1.0,
``iss`` ``{authority}/{tenant id}/``, ``appid``, ``oid``, ``tid``); only service principals
signing in with a client secret are served. Failures answer Entra's OAuth error JSON with
its AADSTS codes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import jwt

from ..arm.request import Reply
from .directory import Directory, Principal, Tenant
from .keys import SigningKey

log = logging.getLogger(__name__)

# The audiences Azure Resource Manager accepts, as Entra writes them for each scope form.
ARM_AUDIENCES = (
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
)
# Scopes MSAL may add to any request; they name no resource.
_RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}
# Tenant names that stand for "any tenant" in discovery, as on Entra.
_MULTI_TENANT = {"common", "organizations"}

Endpoint = Callable[["IssuerRequest"], Reply]


class IssuerRequest:
    """What an issuer endpoint reads: the tenant from the path, the query, headers and form."""

    def __init__(
        self,
        tenant: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        base_url: str,
    ) -> None:
        self.tenant = tenant
        self.query = query
        self.headers = headers
        self.body = body
        self.base_url = base_url

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


class OAuthError(Exception):
    """An answer in Entra's OAuth error shape."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description

    def reply(self, correlation_id: str) -> Reply:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace_id = str(uuid.uuid4())
        return Reply(
            self.status,
            {
                "error": self.error,
                "error_description": f"AADSTS{self.code}: {self.description}\r\n"
                f"Trace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {now}",
                "error_codes": [self.code],
                "timestamp": now,
                "trace_id": trace_id,
                "correlation_id": correlation_id,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
            },
        )


def _missing(parameter: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{parameter}'.",
    )


class Issuer:
    """Issues tokens for the directory's principals and answers Entra's discovery requests.

    ``authority`` is the origin tokens name as their issuer: fixed for the life of the
    process, whichever host name a client used to reach it, as Entra's ``sts.windows.net``.
    """

    def __init__(self, directory: Directory, key: SigningKey, authority: str) -> None:
        self.directory = directory
        self.key = key
        self.authority = authority.rstrip("/")
        self._endpoints: dict[tuple[str, str], Endpoint] = {
            ("GET", "v2.0/.well-known/openid-configuration"): self._openid_v2,
            ("GET", ".well-known/openid-configuration"): self._openid_v1,
            ("GET", "discovery/v2.0/keys"): self._keys,
            ("GET", "discovery/keys"): self._keys,
            ("POST", "oauth2/v2.0/token"): self._token_v2,
            ("POST", "oauth2/token"): self._token_v1,
            ("GET", "discovery/instance"): self._instance_discovery,
            ("GET", "oauth2/v2.0/token"): _post_only,
            ("GET", "oauth2/token"): _post_only,
        }
        self._longest = max(len(rest) for _, rest in self._endpoints) + 1

    def token_issuer(self, tenant_id: str) -> str:
        """The ``iss`` of the access tokens this issuer signs for ``tenant_id``."""
        return f"{self.authority}/{tenant_id}/"

    def accepted_issuers(self, tenant_id: str) -> tuple[str, str]:
        """The issuers a token of ``tenant_id`` may name: version 1.0 and 2.0 forms."""
        return self.token_issuer(tenant_id), f"{self.authority}/{tenant_id}/v2.0"

    def endpoint(self, method: str, path: str) -> tuple[str, Endpoint] | None:
        """The endpoint serving ``path``, with the tenant the path names; None if not ours."""
        tenant, _, rest = path.lstrip("/").partition("/")
        # Every ARM path is longer than the longest issuer path: they pass at a glance.
        if not tenant or not rest or len(rest) > self._longest:
            return None
        found = self._endpoints.get((method, rest.rstrip("/").lower()))
        return (tenant, found) if found is not None else None

    def answer(self, endpoint: Endpoint, request: IssuerRequest) -> Reply:
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        try:
            return endpoint(request)
        except OAuthError as error:
            log.info("token request refused: AADSTS%d %s", error.code, error.error)
            return error.reply(correlation_id)

    # -- discovery -------------------------------------------------------------------------

    def _tenant(self, name: str) -> Tenant:
        tenant = self.directory.tenant(name)
        if tenant is None:
            raise OAuthError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud. Check with your subscription "
                "administrator, this may happen if there are no active subscriptions for the "
                "tenant.",
            )
        return tenant

    def _discovery_tenant(self, name: str) -> tuple[str, str]:
        """(the tenant segment of endpoints, the tenant segment of the issuer)."""
        if name.lower() in _MULTI_TENANT:
            return name.lower(), "{tenantid}"
        tenant = self._tenant(name)
        return tenant.id, tenant.id

    def _openid_v2(self, request: IssuerRequest) -> Reply:
        path_tenant, issuer_tenant = self._discovery_tenant(request.tenant)
        base = f"{request.base_url}/{path_tenant}"
        document = _openid(base, "/v2.0", f"{self.authority}/{issuer_tenant}/v2.0")
        document["scopes_supported"] = ["openid", "profile", "email", "offline_access"]
        return Reply(200, document)

    def _openid_v1(self, request: IssuerRequest) -> Reply:
        path_tenant, issuer_tenant = self._discovery_tenant(request.tenant)
        base = f"{request.base_url}/{path_tenant}"
        return Reply(200, _openid(base, "", f"{self.authority}/{issuer_tenant}/"))

    def _keys(self, request: IssuerRequest) -> Reply:
        return Reply(200, {"keys": [self.key.jwk()]})

    def _instance_discovery(self, request: IssuerRequest) -> Reply:
        """MSAL's authority validation: every authority under this origin is known."""
        endpoint = request.query.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        tenant = parts.path.strip("/").split("/")[0] if parts.path.strip("/") else "common"
        host = urlsplit(request.base_url).netloc
        return Reply(
            200,
            {
                "tenant_discovery_endpoint": f"{request.base_url}/{tenant}/v2.0/.well-known/"
                "openid-configuration",
                "api-version": "1.1",
                "metadata": [
                    {"preferred_network": host, "preferred_cache": host, "aliases": [host]}
                ],
            },
        )

    # -- tokens ----------------------------------------------------------------------------

    def _token_v2(self, request: IssuerRequest) -> Reply:
        tenant, principal, form = self._client_credentials(request)
        scope = form.get("scope")
        if not scope:
            raise _missing("scope")
        resource = _resource_of_scope(scope)
        self._check_resource(resource, tenant)
        token, lifetime, _ = self.issue(principal, tenant, resource)
        return Reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token,
            },
        )

    def _token_v1(self, request: IssuerRequest) -> Reply:
        tenant, principal, form = self._client_credentials(request)
        resource = form.get("resource")
        if not resource:
            raise _missing("resource")
        self._check_resource(resource, tenant)
        token, lifetime, issued = self.issue(principal, tenant, resource)
        return Reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": str(lifetime),
                "ext_expires_in": str(lifetime),
                "expires_on": str(issued + lifetime),
                "not_before": str(issued),
                "resource": resource,
                "access_token": token,
            },
        )

    def _client_credentials(
        self, request: IssuerRequest
    ) -> tuple[Tenant, Principal, dict[str, str]]:
        if request.tenant.lower() in _MULTI_TENANT:
            raise OAuthError(
                400,
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied by "
                "any provided credentials.",
            )
        tenant = self._tenant(request.tenant)
        form = request.form()
        client_id, secret = _client_authentication(request, form)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _missing("grant_type")
        if grant_type != "client_credentials":
            # Entra serves the user flows too; a local issuer has no users to sign in.
            raise OAuthError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        if not client_id:
            raise _missing("client_id")
        principal = self.directory.principal(client_id)
        if principal is None or principal.tenant != tenant.id:
            raise OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant.display_name}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in "
                "the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        if secret is None:
            raise OAuthError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        if not hmac.compare_digest(secret.encode(), principal.secret.encode()):
            raise OAuthError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{principal.client_id}'.",
            )
        return tenant, principal, form

    def _check_resource(self, resource: str, tenant: Tenant) -> None:
        if resource not in ARM_AUDIENCES:
            raise OAuthError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{tenant.display_name}. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in "
                "the tenant. You might have sent your authentication request to the wrong tenant.",
            )

    def issue(
        self, principal: Principal, tenant: Tenant, audience: str, *, now: int | None = None
    ) -> tuple[str, int, int]:
        """A signed access token; returns (token, lifetime in seconds, issued-at epoch)."""
        issued = int(time.time()) if now is None else now
        lifetime = self.directory.token_lifetime_seconds
        issuer = self.token_issuer(tenant.id)
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": issuer,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "aio": _opaque(),
            "appid": principal.client_id,
            "appidacr": "1",
            "idp": issuer,
            "idtyp": "app",
            "oid": principal.object_id,
            "rh": _opaque(),
            "sub": principal.object_id,
            "tid": tenant.id,
            "uti": _opaque(16),
            "ver": "1.0",
        }
        token = jwt.encode(
            claims,
            self.key.private_key,
            algorithm="RS256",
            headers={"typ": "JWT", "x5t": self.key.kid, "kid": self.key.kid},
        )
        log.debug("issued a token to %s for %s", principal.client_id, audience)
        return token, lifetime, issued


def _post_only(request: IssuerRequest) -> Reply:
    raise OAuthError(
        400,
        "invalid_request",
        900561,
        "The endpoint only accepts POST, OPTIONS requests. Received a GET request.",
    )


def _openid(base: str, version: str, issuer: str) -> dict[str, Any]:
    return {
        "token_endpoint": f"{base}/oauth2{version}/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": f"{base}/discovery{version}/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "issuer": issuer,
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{base}/oauth2{version}/authorize",
        "device_authorization_endpoint": f"{base}/oauth2{version}/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2{version}/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "ver", "oid", "appid"],
        "tenant_region_scope": None,
        "cloud_instance_name": "compute-gallery",
    }


def _resource_of_scope(scope: str) -> str:
    """The resource a client-credentials ``scope`` names: the one ``{resource}/.default``."""
    names = [name for name in scope.split() if name.lower() not in _RESERVED_SCOPES]
    if len(names) != 1 or not names[0].endswith("/.default"):
        raise OAuthError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier (application "
            "ID URI).",
        )
    return names[0][: -len("/.default")]


def _client_authentication(
    request: IssuerRequest, form: dict[str, str]
) -> tuple[str | None, str | None]:
    """client_secret_post (form fields) or client_secret_basic (the Authorization header)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        # RFC 6749 section 2.3.1: both halves are form-encoded before they are joined.
        client_id, _, secret = (unquote_plus(part) for part in decoded.partition(":"))
        return client_id or form.get("client_id"), secret
    return form.get("client_id"), form.get("client_secret")


def _opaque(size: int = 24) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b"=").decode()
