"""Strict mode: token validation with ARM's 401s, and role-based access with its 403s."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import requests
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from compute_gallery.identity import directory

from .support import ServiceProcess, cloud_error, unique
from .tokens import (
    CLI_SCOPE,
    access_token,
    claims_for,
    new_key,
    request_token,
    service_key,
    sign,
    unsigned,
)

T1 = "11110000-0000-4000-8000-000000000001"
T2 = "22220000-0000-4000-8000-000000000002"
S1 = "11110000-0000-4000-8000-0000000000a1"
S2 = "22220000-0000-4000-8000-0000000000b1"
EXTERNAL_OID = "eeee0000-0000-4000-8000-00000000e001"
API = "2025-03-03"
GROUPS_API = "2025-04-01"


class Principal:
    def __init__(self, client_id: str, tenant: str) -> None:
        self.client_id = client_id
        self.tenant = tenant
        self.secret = f"secret-{client_id[-4:]}"
        self.token = ""


PRINCIPALS = {
    name: Principal(f"{tenant[:4]}0000-0000-4000-8000-00000000{index:04d}", tenant)
    for index, (name, tenant) in enumerate(
        [
            ("owner", T1),
            ("reader", T1),
            ("team", T1),
            ("gallery_reader", T1),
            ("nobody", T1),
            ("other_owner", T2),
        ]
    )
}


class ExternalIssuer(ThreadingHTTPServer):
    """An OpenID issuer of another origin: its discovery document and keys, over HTTP."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _IssuerHandler)
        self.key = new_key()
        self.issuer = f"http://127.0.0.1:{self.server_address[1]}/{T1}/v2.0"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"

    def document(self, path: str) -> dict[str, Any] | None:
        if path == f"/{T1}/v2.0/.well-known/openid-configuration":
            return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/keys"}
        if path == f"/{T1}/v2.0/keys":
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            return {"keys": [{**jwk, "kid": "external-key", "use": "sig"}]}
        return None


class _IssuerHandler(BaseHTTPRequestHandler):
    server: ExternalIssuer

    def do_GET(self) -> None:
        document = self.server.document(self.path)
        payload = json.dumps(document).encode()
        self.send_response(200 if document is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class World:
    """The strict service, its principals' tokens, and the groups and galleries they share."""

    def __init__(self, service: ServiceProcess, external: ExternalIssuer, groups: dict[str, str]):
        self.service = service
        self.external = external
        self.team_group = groups["team"]
        self.other_group = groups["other"]
        self.shared_gallery = groups["gallery"]
        self.hidden_gallery = groups["hidden"]

    def call(
        self, who: str, method: str, path: str, body: Any = None, api_version: str = API
    ) -> requests.Response:
        return self.with_token(PRINCIPALS[who].token, method, path, body, api_version)

    def with_token(
        self, token: str, method: str, path: str, body: Any = None, api_version: str = API
    ) -> requests.Response:
        response = requests.request(
            method,
            self.service.url(path),
            params={"api-version": api_version},
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            verify=self.service.verify,
            timeout=30,
        )
        assert response.status_code < 500, response.text
        return response


def _config(groups: dict[str, str]) -> str:
    lines = [
        f'[[tenants]]\nid = "{T1}"\ndisplay_name = "One"\ndefault_domain = "one.example"\n',
        f'[[tenants]]\nid = "{T2}"\ndisplay_name = "Two"\ndefault_domain = "two.example"\n',
        f'[[subscriptions]]\nid = "{S1}"\ntenant = "{T1}"\n',
        f'[[subscriptions]]\nid = "{S2}"\ntenant = "two.example"\n',
    ]
    for principal in PRINCIPALS.values():
        lines.append(
            f'[[principals]]\nclient_id = "{principal.client_id}"\n'
            f'secret = "{principal.secret}"\ntenant = "{principal.tenant}"\n'
        )
    group_scope = f"/subscriptions/{S1}/resourceGroups"
    assignments = [
        ("owner", "Owner", f"/subscriptions/{S1}"),
        ("reader", "Reader", f"/subscriptions/{S1}"),
        ("team", "Contributor", f"{group_scope}/{groups['team']}"),
        (
            "gallery_reader",
            "reader",
            f"{group_scope}/{groups['other']}/providers/Microsoft.Compute/galleries/"
            f"{groups['gallery']}",
        ),
        ("other_owner", "Owner", f"/subscriptions/{S2}"),
    ]
    for who, role, scope in assignments:
        lines.append(
            f'[[role_assignments]]\nprincipal = "{PRINCIPALS[who].client_id}"\n'
            f'role = "{role}"\nscope = "{scope}"\n'
        )
    lines.append(
        f'[[role_assignments]]\nprincipal = "{EXTERNAL_OID}"\nrole = "Contributor"\n'
        f'scope = "/subscriptions/{S1}"\n'
    )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    external = ExternalIssuer()
    threading.Thread(target=external.serve_forever, daemon=True).start()
    workdir = tmp_path_factory.mktemp("strict")
    groups = {
        "team": unique("team"),
        "other": unique("other"),
        "gallery": unique("shared"),
        "hidden": unique("hidden"),
    }
    config = workdir / "identity.toml"
    config.write_text(_config(groups))
    service = ServiceProcess(
        workdir / "data",
        args=[
            "--auth",
            "strict",
            "--identity-config",
            str(config),
            "--trust-issuer",
            external.discovery_url,
        ],
    ).start()
    for principal in PRINCIPALS.values():
        principal.token = access_token(
            service, principal.tenant, principal.client_id, principal.secret
        )
    world = World(service, external, groups)
    for group in (world.team_group, world.other_group):
        _created(world.call("owner", "PUT", _group(group), {"location": "eastus2"}, GROUPS_API))
    for gallery in (world.shared_gallery, world.hidden_gallery):
        path = _gallery(world.other_group, gallery)
        _created(world.call("owner", "PUT", path, {"location": "eastus2"}))
    yield world
    service.stop()
    external.shutdown()
    external.server_close()


def _group(name: str, subscription: str = S1) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{name}"


def _galleries(group: str) -> str:
    return f"{_group(group)}/providers/Microsoft.Compute/galleries"


def _gallery(group: str, gallery: str) -> str:
    return f"{_galleries(group)}/{gallery}"


def _created(response: requests.Response) -> None:
    assert response.status_code in (200, 201), response.text


def _refused(response: requests.Response, code: str, world: World) -> str:
    error = cloud_error(response, 401, code)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer authorization_uri="{world.service.endpoint}/{T1}"')
    assert 'error="invalid_token"' in challenge
    message: str = error["message"]
    return message


def _denied(response: requests.Response, who: str, action: str, scope: str) -> None:
    error = cloud_error(response, 403, "AuthorizationFailed")
    principal = PRINCIPALS[who]
    object_id = jwt.decode(principal.token, options={"verify_signature": False})["oid"]
    assert error["message"] == (
        f"The client '{principal.client_id}' with object id '{object_id}' does not have "
        f"authorization to perform action '{action}' over scope '{scope}' or the scope is "
        "invalid. If access was recently granted, please refresh your credentials."
    )


# -- authentication ------------------------------------------------------------------------


def test_issued_tokens_pass_for_both_arm_audiences(world: World) -> None:
    owner = PRINCIPALS["owner"]
    cli_token = request_token(world.service, T1, owner.client_id, owner.secret, CLI_SCOPE)
    for token in (owner.token, cli_token.json()["access_token"]):
        response = world.with_token(token, "GET", _group(world.team_group), None, GROUPS_API)
        assert response.status_code == 200, response.text


def _bad_tokens(world: World) -> dict[str, tuple[str, str]]:
    key = service_key(world.service)
    kid = jwt.get_unverified_header(PRINCIPALS["owner"].token)["kid"]
    oid = str(uuid.uuid4())
    now = int(time.time())

    def claims(**overrides: Any) -> dict[str, Any]:
        return claims_for(world.service, T1, oid, **overrides)

    return {
        "forged": (sign(claims(), new_key(), kid), "InvalidAuthenticationToken"),
        "expired": (
            sign(claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600), key, kid),
            "ExpiredAuthenticationToken",
        ),
        "not-yet-valid": (sign(claims(nbf=now + 3600), key, kid), "InvalidAuthenticationToken"),
        "wrong-audience": (
            sign(claims(aud="https://vault.azure.net"), key, kid),
            "InvalidAuthenticationTokenAudience",
        ),
        "wrong-issuer": (
            sign(claims(iss=f"https://sts.windows.net/{T1}/"), key, kid),
            "InvalidAuthenticationToken",
        ),
        "header-injection": (
            sign(claims(iss="https://evil.example/\r\nX-Injected: 1\u00e9"), key, kid),
            "InvalidAuthenticationToken",
        ),
        "unknown-tenant": (
            sign(claims(tid=str(uuid.uuid4())), key, kid),
            "InvalidAuthenticationToken",
        ),
        "unsigned": (unsigned(claims()), "InvalidAuthenticationToken"),
        "symmetric": (
            jwt.encode(claims(), "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256"),
            "InvalidAuthenticationToken",
        ),
        "no-object-id": (sign(claims(oid=None), key, kid), "InvalidAuthenticationToken"),
        "not-a-jwt": ("opaque-token", "InvalidAuthenticationToken"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "forged",
        "expired",
        "not-yet-valid",
        "wrong-audience",
        "wrong-issuer",
        "header-injection",
        "unknown-tenant",
        "unsigned",
        "symmetric",
        "no-object-id",
        "not-a-jwt",
    ],
)
def test_bad_tokens_are_refused(world: World, case: str) -> None:
    token, code = _bad_tokens(world)[case]
    response = world.with_token(token, "GET", _group(world.team_group), None, GROUPS_API)
    message = _refused(response, code, world)
    if case == "expired":
        assert message.startswith("The access token expiry UTC time '")
        assert "' is earlier than current UTC time '" in message
    if case == "wrong-audience":
        assert message == (
            "The access token has been obtained for wrong audience or resource "
            "'https://vault.azure.net'. It should exactly match with one of the allowed "
            "audiences 'https://management.core.windows.net/','https://management.core.windows"
            ".net','https://management.azure.com/','https://management.azure.com'."
        )
    if case == "header-injection":
        assert "X-Injected" not in response.headers
        assert "\r\nX-Injected: 1\u00e9" in message  # the body keeps the claim as it came
    if case == "wrong-issuer":
        assert f"https://sts.windows.net/{T1}/" in message


def test_missing_header_is_refused(world: World) -> None:
    response = requests.get(
        world.service.url(_group(world.team_group)),
        params={"api-version": GROUPS_API},
        verify=world.service.verify,
        timeout=30,
    )
    _refused(response, "AuthenticationFailed", world)


def test_token_of_another_tenant_is_refused_by_a_subscription(world: World) -> None:
    response = world.call("other_owner", "GET", _group(world.team_group), None, GROUPS_API)
    error = cloud_error(response, 401, "InvalidAuthenticationTokenTenant")
    assert error["message"].startswith(
        f"The access token is from the wrong issuer '{world.service.endpoint}/{T2}/'. It must "
        f"match the tenant '{world.service.endpoint}/{T1}/' associated with this subscription."
    )
    assert (
        f'authorization_uri="{world.service.endpoint}/{T1}"' in response.headers["WWW-Authenticate"]
    )


def test_external_issuer_tokens(world: World) -> None:
    external = world.external
    now = int(time.time())
    claims = {
        "aud": "https://management.azure.com",
        "iss": external.issuer,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "azp": str(uuid.uuid4()),
        "oid": EXTERNAL_OID,
        "sub": EXTERNAL_OID,
        "tid": T1,
        "ver": "2.0",
    }
    good = sign(claims, external.key, "external-key")
    response = world.with_token(
        good, "GET", f"/subscriptions/{S1}/resourcegroups", None, GROUPS_API
    )
    assert response.status_code == 200, response.text

    unknown_key = sign(claims, new_key(), "another-key")
    _refused(
        world.with_token(unknown_key, "GET", _group(world.team_group), None, GROUPS_API),
        "InvalidAuthenticationToken",
        world,
    )
    stranger = sign({**claims, "oid": str(uuid.uuid4())}, external.key, "external-key")
    cloud_error(
        world.with_token(stranger, "GET", _group(world.team_group), None, GROUPS_API),
        403,
        "AuthorizationFailed",
    )


# -- role-based access ---------------------------------------------------------------------


def test_reader_reads_but_cannot_write(world: World) -> None:
    group = _group(world.team_group)
    assert world.call("reader", "GET", group, None, GROUPS_API).status_code == 200
    gallery = _gallery(world.other_group, world.shared_gallery)
    assert world.call("reader", "GET", gallery).status_code == 200

    new_gallery = _gallery(world.team_group, unique("nope"))
    _denied(
        world.call("reader", "PUT", new_gallery, {"location": "eastus2"}),
        "reader",
        "Microsoft.Compute/galleries/write",
        new_gallery,
    )
    _denied(
        world.call("reader", "DELETE", gallery),
        "reader",
        "Microsoft.Compute/galleries/delete",
        gallery,
    )
    _denied(
        world.call("reader", "PUT", _group("reader-group"), {"location": "eastus2"}, GROUPS_API),
        "reader",
        "Microsoft.Resources/subscriptions/resourceGroups/write",
        _group("reader-group"),
    )
    # Nothing was written: the owner finds neither.
    assert world.call("owner", "GET", new_gallery).status_code == 404
    assert world.call("owner", "GET", _group("reader-group"), None, GROUPS_API).status_code == 404


def test_group_contributor_works_in_its_group_only(world: World) -> None:
    mine = _gallery(world.team_group, unique("mine"))
    created = world.call("team", "PUT", mine, {"location": "eastus2"})
    _created(created)
    # Whoever started an operation may follow it; so may a reader of the subscription.
    status_url = created.headers["Azure-AsyncOperation"]
    for who in ("team", "reader"):
        status = requests.get(
            status_url,
            headers={"Authorization": f"Bearer {PRINCIPALS[who].token}"},
            verify=world.service.verify,
            timeout=30,
        )
        assert status.status_code == 200, status.text
    status = requests.get(
        status_url,
        headers={"Authorization": f"Bearer {PRINCIPALS['gallery_reader'].token}"},
        verify=world.service.verify,
        timeout=30,
    )
    cloud_error(status, 403, "AuthorizationFailed")

    theirs = _gallery(world.other_group, unique("theirs"))
    _denied(
        world.call("team", "PUT", theirs, {"location": "eastus2"}),
        "team",
        "Microsoft.Compute/galleries/write",
        theirs,
    )
    assert world.call("team", "DELETE", mine).status_code == 202


def test_lists_show_only_what_the_caller_may_read(world: World) -> None:
    groups = world.call("team", "GET", f"/subscriptions/{S1}/resourcegroups", None, GROUPS_API)
    assert groups.status_code == 200, groups.text
    assert [g["name"] for g in groups.json()["value"]] == [world.team_group]

    everything = world.call("owner", "GET", f"/subscriptions/{S1}/resourcegroups", None, GROUPS_API)
    names = {g["name"] for g in everything.json()["value"]}
    assert {world.team_group, world.other_group} <= names

    galleries = _galleries(world.other_group)
    shown = world.call("gallery_reader", "GET", galleries).json()["value"]
    assert [g["name"] for g in shown] == [world.shared_gallery]
    assert len(world.call("owner", "GET", galleries).json()["value"]) == 2
    by_subscription = world.call(
        "gallery_reader", "GET", f"/subscriptions/{S1}/providers/Microsoft.Compute/galleries"
    ).json()["value"]
    assert [g["name"] for g in by_subscription] == [world.shared_gallery]

    # A reader of one gallery cannot read the group around it, nor list a group it has no
    # part of.
    _denied(
        world.call("gallery_reader", "GET", _group(world.other_group), None, GROUPS_API),
        "gallery_reader",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        _group(world.other_group),
    )
    _denied(
        world.call("gallery_reader", "GET", _galleries(world.team_group)),
        "gallery_reader",
        "Microsoft.Compute/galleries/read",
        f"/subscriptions/{S1}/resourceGroups/{world.team_group}",
    )


def test_a_principal_of_one_subscription_sees_nothing_of_another(world: World) -> None:
    def listed(who: str, path: str) -> list[str]:
        response = world.call(who, "GET", path, None, "2022-12-01")
        assert response.status_code == 200, response.text
        return [
            entry.get("subscriptionId") or entry["tenantId"] for entry in response.json()["value"]
        ]

    assert listed("owner", "/subscriptions") == [S1]
    assert listed("gallery_reader", "/subscriptions") == [S1]
    assert listed("other_owner", "/subscriptions") == [S2]
    assert listed("nobody", "/subscriptions") == []
    assert listed("owner", "/tenants") == [T1]
    assert listed("other_owner", "/tenants") == [T2]

    # Implicit subscriptions exist for every id, but only for those with a role in them.
    stray = str(uuid.uuid4())
    error = cloud_error(
        world.call("owner", "GET", f"/subscriptions/{stray}", None, "2022-12-01"),
        404,
        "SubscriptionNotFound",
    )
    assert error["message"] == f"The subscription '{stray}' could not be found."
    _denied(
        world.call("owner", "GET", f"/subscriptions/{stray}/resourcegroups", None, GROUPS_API),
        "owner",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        f"/subscriptions/{stray}",
    )
    _denied(
        world.call("nobody", "GET", _group(world.team_group), None, GROUPS_API),
        "nobody",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        _group(world.team_group),
    )
    assert (
        world.call("other_owner", "GET", f"/subscriptions/{S2}", None, "2022-12-01").status_code
        == 200
    )


def test_sdk_signs_in_with_client_secret_credential(world: World) -> None:
    owner = PRINCIPALS["owner"]
    credential = ClientSecretCredential(
        T1,
        owner.client_id,
        owner.secret,
        authority=world.service.endpoint,
        disable_instance_discovery=True,
        connection_verify=world.service.verify,
    )
    options: dict[str, Any] = {
        "base_url": world.service.endpoint,
        "connection_verify": world.service.verify,
    }
    token = credential.get_token("https://management.azure.com/.default").token
    assert world.with_token(token, "GET", f"/subscriptions/{S1}", None, "2022-12-01").ok

    group = unique("sdk")
    resources = ResourceManagementClient(credential, S1, **options)
    resources.resource_groups.create_or_update(group, {"location": "westeurope"})
    compute = ComputeManagementClient(credential, S1, **options)
    gallery = compute.galleries.begin_create_or_update(
        group, unique("sdkgallery"), {"location": "westeurope"}
    ).result()
    assert gallery.provisioning_state == "Succeeded"
    assert [g.name for g in compute.galleries.list_by_resource_group(group)] == [gallery.name]
    resources.resource_groups.begin_delete(group).result()
    credential.close()


def test_tokens_outlive_a_restart(fresh_service: ServiceProcess) -> None:
    """The signing key is kept in the data directory: a token from before a restart is good."""
    fresh_service.args = ["--auth", "strict"]
    fresh_service.start()
    token = access_token(
        fresh_service,
        directory.DEFAULT_TENANT,
        directory.DEFAULT_CLIENT_ID,
        directory.DEFAULT_SECRET,
    )

    def groups() -> requests.Response:
        return requests.get(
            fresh_service.url(f"/subscriptions/{directory.DEFAULT_SUBSCRIPTION}/resourcegroups"),
            params={"api-version": GROUPS_API},
            headers={"Authorization": f"Bearer {token}"},
            verify=fresh_service.verify,
            timeout=30,
        )

    assert groups().status_code == 200
    fresh_service.restart()
    response = groups()
    assert response.status_code == 200, response.text


def test_provider_reads_need_a_role_in_the_subscription(world: World) -> None:
    provider = f"/subscriptions/{S1}/providers/Microsoft.Compute"
    for who in ("owner", "reader", "gallery_reader"):
        assert world.call(who, "GET", provider, None, GROUPS_API).status_code == 200
    _denied(
        world.call("nobody", "GET", provider, None, GROUPS_API),
        "nobody",
        "Microsoft.Resources/subscriptions/providers/read",
        f"/subscriptions/{S1}",
    )
