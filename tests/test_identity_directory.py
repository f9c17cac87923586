"""The directory file and the role rules: what is accepted, and what the refusals say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from compute_gallery.identity import directory, roles

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "identity.toml"
TENANT = "aaaa0000-0000-4000-8000-000000000001"
CLIENT = "aaaa0000-0000-4000-8000-00000000c001"
SUBSCRIPTION = "aaaa0000-0000-4000-8000-0000000000a1"


def test_example_loads() -> None:
    loaded = directory.load(EXAMPLE)
    assert [t.default_domain for t in loaded.tenants] == [
        "contoso.onmicrosoft.com",
        "fabrikam.onmicrosoft.com",
    ]
    # Tenants may be named by domain; object ids default to a stable derivation.
    assert loaded.subscriptions[1].tenant == loaded.tenants[1].id
    publisher = loaded.principal(CLIENT.upper())
    assert publisher is not None and publisher.object_id == directory.object_id_for(CLIENT)
    assert [a.role for a in loaded.assignments_of(publisher.object_id)] == ["Contributor"]
    assert loaded.principals[1].object_id == "aaaa0000-0000-4000-8000-00000000d002"
    assert loaded.tenant("CONTOSO.onmicrosoft.com") is loaded.tenants[0]


def test_default_directory_owns_its_subscription() -> None:
    default = directory.default()
    [assignment] = default.role_assignments
    assert assignment.role == "Owner"
    assert assignment.scope == f"/subscriptions/{directory.DEFAULT_SUBSCRIPTION}"
    assert assignment.object_id == default.principals[0].object_id


_TENANT = f'[[tenants]]\nid = "{TENANT}"\n'
_PRINCIPAL = f'[[principals]]\nclient_id = "{CLIENT}"\nsecret = "s"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is not toml", "not valid TOML"),
        (_PRINCIPAL, "at least one [[tenants]] entry is required"),
        ('[[tenants]]\nid = "not-a-guid"\n', "tenants[0].id: a GUID"),
        (_TENANT + '[[tenants]]\nid = "x"\nname = "n"\n', "tenants[1]: unknown key 'name'"),
        (_TENANT + f'[[principals]]\nclient_id = "{CLIENT}"\n', "principals[0].secret: required"),
        (
            _TENANT + _PRINCIPAL.replace('"s"', '"s"\ntenant = "elsewhere"'),
            "principals[0].tenant: 'elsewhere' is not one of the [[tenants]]",
        ),
        (
            _TENANT + _PRINCIPAL + f'[[role_assignments]]\nprincipal = "{CLIENT}"\n'
            f'role = "Janitor"\nscope = "/"\n',
            "role_assignments[0].role: 'Janitor' is not one of Owner, Contributor, Reader",
        ),
        (
            _TENANT + _PRINCIPAL + f'[[role_assignments]]\nprincipal = "{CLIENT}"\n'
            'role = "Reader"\nscope = "/resourceGroups/rg"\n',
            "is not '/' or under /subscriptions/<id>",
        ),
        (
            _TENANT + '[[role_assignments]]\nprincipal = "someone"\nrole = "Reader"\nscope = "/"\n',
            "'someone' is neither a configured principal nor an object id",
        ),
        (_TENANT + "[tokens]\nlifetime_seconds = 5\n", "tokens.lifetime_seconds"),
        (_TENANT + "[extras]\n", "unknown section 'extras'"),
        (_TENANT + _PRINCIPAL + _PRINCIPAL, f"principals[1].client_id: {CLIENT} appears twice"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "identity.toml"
    path.write_text(text)
    with pytest.raises(directory.DirectoryError) as raised:
        directory.load(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compute_gallery", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_command_refuses_a_bad_directory_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "identity.toml"
    path.write_text('[[tenants]]\nid = "nope"\n')
    result = _serve("--identity-config", str(path), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"compute-gallery: --identity-config {path}: tenants[0].id: a GUID such as "
        "00000000-0000-0000-0000-000000000001 is required"
    )
    missing = _serve("--identity-config", str(tmp_path / "absent.toml"))
    assert missing.returncode == 2 and "cannot read it" in missing.stderr
    trust = _serve("--trust-issuer", "https://issuer.example/.well-known/openid-configuration")
    assert trust.returncode == 2 and "--trust-issuer needs --auth strict" in trust.stderr


def test_help_describes_the_identity_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "compute_gallery", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = " ".join(result.stdout.split())
    assert "--auth {permissive,strict}" in text
    assert "--identity-config PATH" in text and "examples/identity.toml" in text
    assert "--trust-issuer URL" in text


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        ("Reader", "Microsoft.Compute/galleries/read", True),
        ("Reader", "Microsoft.Compute/galleries/applications/versions/write", False),
        ("Contributor", "Microsoft.Compute/galleries/applications/versions/delete", True),
        ("Contributor", "Microsoft.Compute/galleries/share/action", False),
        ("Contributor", "Microsoft.Authorization/roleAssignments/write", False),
        ("Owner", "Microsoft.Authorization/roleAssignments/write", True),
        ("Reader", "MICROSOFT.COMPUTE/GALLERIES/READ", True),
    ],
)
def test_roles_allow_azure_actions(role: str, action: str, allowed: bool) -> None:
    assert roles.ROLES[role].allows(action) is allowed


def test_scopes_and_types() -> None:
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg"
    gallery = f"{group}/providers/Microsoft.Compute/galleries/g"
    assert roles.within("/", gallery)
    assert roles.within(group.lower(), gallery)
    assert roles.within(gallery, gallery + "/")
    assert not roles.within(gallery, group)
    assert not roles.within(group, group + "2")
    assert roles.resource_type_of(f"{gallery}/applications/a/versions/1.0.0") == (
        "Microsoft.Compute/galleries/applications/versions"
    )
    assert roles.resource_type_of(group) == "Microsoft.Resources/subscriptions/resourceGroups"
    assert (
        roles.action("Microsoft.Compute/galleries", "PATCH") == "Microsoft.Compute/galleries/write"
    )
