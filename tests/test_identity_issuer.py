"""The built-in token issuer, the cloud metadata and the directory's ARM endpoints, as the
Azure clients call them, on the default (permissive) service with the built-in directory."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import jwt
import pytest
import requests

from compute_gallery.identity import directory

from .support import SUBSCRIPTION, Arm, ServiceProcess, cloud_error
from .tokens import ARM_SCOPE, CLI_SCOPE, request_token

TENANT = directory.DEFAULT_TENANT
CLIENT = directory.DEFAULT_CLIENT_ID
SECRET = directory.DEFAULT_SECRET


def _get(service: ServiceProcess, path: str, **params: str) -> requests.Response:
    return requests.get(service.url(path), params=params, verify=service.verify, timeout=30)


def _oauth_error(response: requests.Response, status: int, error: str, code: int) -> str:
    """Entra's OAuth error body, checked field by field; returns the description."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert "\r\nCorrelation ID: " in body["error_description"]
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)
    description: str = body["error_description"]
    return description


def test_openid_configuration_names_this_service(service: ServiceProcess) -> None:
    for name in (TENANT, "computegallery.onmicrosoft.com", TENANT.upper()):
        response = _get(service, f"/{name}/v2.0/.well-known/openid-configuration")
        assert response.status_code == 200, response.text
        document = response.json()
        assert document["issuer"] == f"{service.endpoint}/{TENANT}/v2.0"
        assert document["token_endpoint"] == f"{service.endpoint}/{TENANT}/oauth2/v2.0/token"
        assert document["jwks_uri"] == f"{service.endpoint}/{TENANT}/discovery/v2.0/keys"
        assert document["authorization_endpoint"].startswith(f"{service.endpoint}/{TENANT}/")

    v1 = _get(service, f"/{TENANT}/.well-known/openid-configuration").json()
    assert v1["issuer"] == f"{service.endpoint}/{TENANT}/"
    assert v1["token_endpoint"] == f"{service.endpoint}/{TENANT}/oauth2/token"

    common = _get(service, "/common/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{service.endpoint}/{{tenantid}}/v2.0"
    assert common["token_endpoint"] == f"{service.endpoint}/common/oauth2/v2.0/token"


def test_openid_configuration_of_unknown_tenant(service: ServiceProcess) -> None:
    response = _get(service, "/nowhere.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    description = _oauth_error(response, 400, "invalid_tenant", 90002)
    assert "Tenant 'nowhere.onmicrosoft.com' not found." in description


@pytest.mark.parametrize(
    ("scope", "audience"),
    [
        (ARM_SCOPE, "https://management.azure.com"),
        (CLI_SCOPE, "https://management.core.windows.net/"),
    ],
)
def test_token_is_a_signed_arm_token(service: ServiceProcess, scope: str, audience: str) -> None:
    response = request_token(service, TENANT, CLIENT, SECRET, scope)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3600

    keys = _get(service, f"/{TENANT}/discovery/v2.0/keys").json()["keys"]
    assert [key["kty"] for key in keys] == ["RSA"]
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["kid"] == keys[0]["kid"] == keys[0]["x5t"]
    claims = jwt.decode(
        body["access_token"],
        jwt.PyJWK(keys[0]).key,
        algorithms=["RS256"],
        audience=audience,
        issuer=f"{service.endpoint}/{TENANT}/",
    )
    assert claims["tid"] == TENANT
    assert claims["appid"] == CLIENT
    assert claims["oid"] == claims["sub"] == directory.object_id_for(CLIENT)
    assert claims["ver"] == "1.0" and claims["idtyp"] == "app"
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]


def test_token_with_client_secret_basic_and_v1_resource(service: ServiceProcess) -> None:
    basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    response = requests.post(
        service.url(f"/{TENANT}/oauth2/v2.0/token"),
        data={"grant_type": "client_credentials", "scope": ARM_SCOPE},
        headers={"Authorization": f"Basic {basic}"},
        verify=service.verify,
        timeout=30,
    )
    assert response.status_code == 200, response.text

    v1 = requests.post(
        service.url(f"/{TENANT}/oauth2/token"),
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT,
            "client_secret": SECRET,
            "resource": "https://management.core.windows.net/",
        },
        verify=service.verify,
        timeout=30,
    )
    assert v1.status_code == 200, v1.text
    body = v1.json()
    assert body["resource"] == "https://management.core.windows.net/"
    assert int(body["expires_on"]) - int(body["not_before"]) == 3600


@pytest.mark.parametrize(
    ("client", "secret", "extra", "status", "error", "code"),
    [
        (CLIENT, "not-the-secret", {}, 401, "invalid_client", 7000215),
        (CLIENT, None, {}, 401, "invalid_client", 7000218),
        (str(uuid.UUID(int=7)), SECRET, {}, 400, "unauthorized_client", 700016),
        (CLIENT, SECRET, {"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        (CLIENT, SECRET, {"grant_type": ""}, 400, "invalid_request", 900144),
        (CLIENT, SECRET, {"scope": "https://management.azure.com/"}, 400, "invalid_scope", 1002012),
        (
            CLIENT,
            SECRET,
            {"scope": "https://vault.azure.net/.default"},
            400,
            "invalid_resource",
            500011,
        ),
    ],
    ids=[
        "wrong-secret",
        "no-secret",
        "unknown-client",
        "grant-password",
        "no-grant",
        "scope-without-default",
        "unknown-resource",
    ],
)
def test_token_refusals(
    service: ServiceProcess,
    client: str,
    secret: str | None,
    extra: dict[str, str],
    status: int,
    error: str,
    code: int,
) -> None:
    response = request_token(service, TENANT, client, secret, **extra)
    description = _oauth_error(response, status, error, code)
    if code == 7000215:
        assert f"for a secret added to app '{CLIENT}'" in description
    if code == 700016:
        assert f"Application with identifier '{client}' was not found" in description


def test_token_endpoint_takes_only_post(service: ServiceProcess) -> None:
    response = _get(service, f"/{TENANT}/oauth2/v2.0/token")
    _oauth_error(response, 400, "invalid_request", 900561)


def test_token_needs_a_tenant(service: ServiceProcess) -> None:
    _oauth_error(request_token(service, "common", CLIENT, SECRET), 400, "invalid_request", 50059)
    _oauth_error(
        request_token(service, str(uuid.UUID(int=9)), CLIENT, SECRET), 400, "invalid_tenant", 90002
    )


def test_instance_discovery_points_back_at_the_service(service: ServiceProcess) -> None:
    response = _get(
        service,
        "/common/discovery/instance",
        **{
            "api-version": "1.1",
            "authorization_endpoint": f"{service.endpoint}/{TENANT}/oauth2/v2.0/authorize",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenant_discovery_endpoint"] == (
        f"{service.endpoint}/{TENANT}/v2.0/.well-known/openid-configuration"
    )
    host = service.endpoint.split("://", 1)[1]
    assert body["metadata"] == [
        {"preferred_network": host, "preferred_cache": host, "aliases": [host]}
    ]


def test_metadata_endpoints_need_no_token(service: ServiceProcess) -> None:
    current = _get(service, "//metadata/endpoints", **{"api-version": "2022-09-01"})
    assert current.status_code == 200, current.text
    cloud = current.json()
    assert cloud["resourceManager"] == cloud["authentication"]["loginEndpoint"]
    assert cloud["resourceManager"] == f"{service.endpoint}/"
    assert cloud["authentication"]["audiences"] == [
        "https://management.core.windows.net/",
        "https://management.azure.com/",
    ]

    listed = _get(service, "/metadata/endpoints", **{"api-version": "2019-05-01"}).json()
    assert isinstance(listed, list) and listed[0]["resourceManager"] == f"{service.endpoint}/"
    legacy = _get(service, "/metadata/endpoints", **{"api-version": "2015-01-01"}).json()
    assert legacy["authentication"]["loginEndpoint"] == f"{service.endpoint}/"

    cloud_error(_get(service, "/metadata/endpoints"), 400, "MissingApiVersionParameter")
    cloud_error(
        _get(service, "/metadata/endpoints", **{"api-version": "x"}),
        400,
        "InvalidApiVersionParameter",
    )


def test_subscriptions_and_tenants_in_permissive_mode(arm: Arm, service: ServiceProcess) -> None:
    listed = arm.get("/subscriptions", "2022-12-01")
    assert listed.status_code == 200, listed.text
    [subscription] = listed.json()["value"]
    assert subscription["subscriptionId"] == directory.DEFAULT_SUBSCRIPTION
    assert subscription["id"] == f"/subscriptions/{directory.DEFAULT_SUBSCRIPTION}"
    assert subscription["tenantId"] == TENANT
    assert subscription["state"] == "Enabled"

    # Any well-formed id is a subscription; it lives in the first tenant.
    implicit = arm.get(f"/subscriptions/{SUBSCRIPTION}", "2022-12-01").json()
    assert implicit["subscriptionId"] == SUBSCRIPTION and implicit["tenantId"] == TENANT
    assert "tenantId" not in arm.get(f"/subscriptions/{SUBSCRIPTION}", "2016-06-01").json()
    cloud_error(arm.get("/subscriptions/not-a-guid", "2022-12-01"), 400, "InvalidSubscriptionId")
    cloud_error(arm.get("/subscriptions", "2025-04-01"), 400, "InvalidApiVersionParameter")

    [tenant] = arm.get("/tenants", "2022-12-01").json()["value"]
    assert tenant["tenantId"] == TENANT and tenant["id"] == f"/tenants/{TENANT}"
    assert tenant["defaultDomain"] == "computegallery.onmicrosoft.com"

    anonymous = requests.get(
        service.url("/subscriptions"),
        params={"api-version": "2022-12-01"},
        verify=service.verify,
        timeout=30,
    )
    cloud_error(anonymous, 401, "AuthenticationFailed")
    challenge = anonymous.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer authorization_uri="{service.endpoint}/{TENANT}"')


def test_provider_reads(arm: Arm) -> None:
    base = f"/subscriptions/{SUBSCRIPTION}/providers"
    compute = arm.get(f"{base}/microsoft.compute", "2025-04-01")
    assert compute.status_code == 200, compute.text
    body = compute.json()
    assert body["namespace"] == "Microsoft.Compute"
    assert body["registrationState"] == "Registered"
    assert body["id"] == f"{base}/Microsoft.Compute"
    types = {entry["resourceType"]: entry for entry in body["resourceTypes"]}
    assert "2025-03-03" in types["galleries/applications/versions"]["apiVersions"]
    assert "East US 2" in types["galleries"]["locations"]

    listed = arm.get(base, "2025-04-01").json()["value"]
    assert [p["namespace"] for p in listed] == ["Microsoft.Compute", "Microsoft.Resources"]
    error = cloud_error(
        arm.get(f"{base}/Microsoft.Storage", "2025-04-01"), 400, "InvalidResourceNamespace"
    )
    assert "'Microsoft.Storage'" in error["message"]
