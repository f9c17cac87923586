"""The real Azure CLI against a strict service using examples/identity.toml: register the
cloud, sign in as a service principal, and manage groups, galleries, applications and
versions; a reader is refused writes, another tenant's principal sees nothing.

The CLI lives in its own virtual environment (``make azure-cli``); ``AZURE_CLI`` names its
``az`` executable.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from . import support
from .support import ServiceProcess, unique
from .tokens import access_token

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "identity.toml"
DIRECTORY: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())
PUBLISHER, AUDITOR, FABRIKAM = DIRECTORY["principals"]
CONTOSO_SUBSCRIPTION = DIRECTORY["subscriptions"][0]["id"]
FABRIKAM_SUBSCRIPTION = DIRECTORY["subscriptions"][1]["id"]
AZ_TIMEOUT = 180


def _az_executable() -> str:
    executable = os.environ.get("AZURE_CLI") or str(ROOT / ".venv-azure-cli" / "bin" / "az")
    if not Path(executable).exists():
        pytest.fail(f"the Azure CLI is not installed at {executable}: run `make azure-cli`")
    return executable


class AzureCli:
    """``az`` with a configuration directory of its own, trusting the service's CA."""

    def __init__(self, service: ServiceProcess, config_dir: Path) -> None:
        self.service = service
        self.env = {
            name: value for name, value in os.environ.items() if not name.startswith("AZURE_")
        }
        assert service.ca_cert is not None
        self.env.update(
            AZURE_CONFIG_DIR=str(config_dir),
            REQUESTS_CA_BUNDLE=service.ca_cert,
            AZURE_CORE_COLLECT_TELEMETRY="false",
            AZURE_CORE_SURVEY_MESSAGE="false",
            AZURE_CORE_NO_COLOR="true",
        )
        self.executable = _az_executable()

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=AZ_TIMEOUT,
            check=False,
        )

    def __call__(self, *args: str) -> Any:
        """Run a command that must succeed; its JSON output, or None when it prints none."""
        result = self.run(*args, "--output", "json")
        assert result.returncode == 0, f"az {' '.join(args)}:\n{result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else None

    def fails(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode != 0, f"az {' '.join(args)} succeeded:\n{result.stdout}"
        return result.stderr

    def sign_in(self, principal: dict[str, Any]) -> list[dict[str, Any]]:
        """Register the service as a cloud and log in; returns the subscriptions listed."""
        self("cloud", "register", "--name", "compute-gallery", "--endpoint-resource-manager",
             f"{self.service.endpoint}/")  # fmt: skip
        self("cloud", "set", "--name", "compute-gallery")
        # MSAL would validate the authority with login.microsoftonline.com otherwise.
        self("config", "set", "core.instance_discovery=false")
        accounts: list[dict[str, Any]] = self(
            "login", "--service-principal", "--username", principal["client_id"],
            "--password", principal["secret"], "--tenant", principal["tenant"],
        )  # fmt: skip
        return accounts


@pytest.fixture(scope="module")
def contoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = ServiceProcess(
        tmp_path_factory.mktemp("cli") / "data",
        args=["--auth", "strict", "--identity-config", str(EXAMPLE)],
    ).start()
    yield service
    service.stop()


def _signed_in(service: ServiceProcess, tmp_path: Path, principal: dict[str, Any]) -> AzureCli:
    az = AzureCli(service, tmp_path / "azure")
    accounts = az.sign_in(principal)
    assert [a["id"] for a in accounts] == [
        s["id"] for s in DIRECTORY["subscriptions"] if s["tenant"] in _tenant_names(principal)
    ]
    return az


def _tenant_names(principal: dict[str, Any]) -> set[str]:
    for tenant in DIRECTORY["tenants"]:
        if principal["tenant"] == tenant["id"]:
            return {tenant["id"], tenant["default_domain"]}
    raise AssertionError(principal)


def test_cli_gallery_lifecycle(contoso: ServiceProcess, tmp_path: Path) -> None:
    az = _signed_in(contoso, tmp_path, PUBLISHER)
    group, gallery = unique("clirg"), unique("cligal")

    assert az("group", "create", "--name", group, "--location", "eastus2")["name"] == group
    assert az("group", "show", "--name", group)["properties"]["provisioningState"] == "Succeeded"
    created = az("sig", "create", "--resource-group", group, "--gallery-name", gallery)
    assert created["provisioningState"] == "Succeeded"
    assert created["identifier"]["uniqueName"].endswith(gallery.upper())
    assert [g["name"] for g in az("sig", "list", "--resource-group", group)] == [gallery]
    az("sig", "update", "--resource-group", group, "--gallery-name", gallery,
       "--set", "description=built by the CLI")  # fmt: skip
    shown = az("sig", "show", "--resource-group", group, "--gallery-name", gallery)
    assert shown["description"] == "built by the CLI"

    az("sig", "delete", "--resource-group", group, "--gallery-name", gallery)
    assert az("sig", "list", "--resource-group", group) == []
    az("group", "delete", "--name", group, "--yes")
    assert az("group", "exists", "--name", group) is False


def test_cli_application_and_version_lifecycle(contoso: ServiceProcess, tmp_path: Path) -> None:
    az = _signed_in(contoso, tmp_path, PUBLISHER)
    group, gallery, application = unique("clirg"), unique("cligal"), unique("cliapp")
    az("group", "create", "--name", group, "--location", "westeurope")
    az("sig", "create", "--resource-group", group, "--gallery-name", gallery)
    names = ["--resource-group", group, "--gallery-name", gallery]

    app = az("sig", "gallery-application", "create", *names, "--name", application,
             "--os-type", "Linux")  # fmt: skip
    assert app["supportedOSType"] == "Linux" and app["location"] == "westeurope"
    az("sig", "gallery-application", "update", *names, "--name", application,
       "--description", "an application")  # fmt: skip
    shown = az("sig", "gallery-application", "show", *names, "--name", application)
    assert shown["description"] == "an application"
    listed = az("sig", "gallery-application", "list", *names)
    assert [a["name"] for a in listed] == [application]

    version_names = [*names, "--application-name", application]
    version = az(
        "sig", "gallery-application", "version", "create", *version_names, "--name", "1.0.0",
        "--package-file-link", support.PACKAGE_URL, "--install-command", "bash install.sh",
        "--remove-command", "bash remove.sh",
    )  # fmt: skip
    assert version["provisioningState"] == "Succeeded"
    assert version["publishingProfile"]["source"]["mediaLink"] == support.PACKAGE_URL
    az("sig", "gallery-application", "version", "update", *version_names, "--name", "1.0.0",
       "--package-file-link", support.PACKAGE_URL, "--exclude-from", "true")  # fmt: skip
    shown = az("sig", "gallery-application", "version", "show", *version_names, "--name", "1.0.0")
    assert shown["publishingProfile"]["excludeFromLatest"] is True
    assert shown["publishingProfile"]["manageActions"]["install"] == "bash install.sh"
    listed = az("sig", "gallery-application", "version", "list", *version_names)
    assert [v["name"] for v in listed] == ["1.0.0"]

    az(
        "sig",
        "gallery-application",
        "version",
        "delete",
        *version_names,
        "--name",
        "1.0.0",
        "--yes",
    )
    assert az("sig", "gallery-application", "version", "list", *version_names) == []
    az("sig", "gallery-application", "delete", *names, "--name", application, "--yes")
    assert az("sig", "gallery-application", "list", *names) == []
    az("sig", "delete", *names)
    az("group", "delete", "--name", group, "--yes")


def test_cli_reader_is_refused_writes(contoso: ServiceProcess, tmp_path: Path) -> None:
    group = unique("audited")
    token = access_token(contoso, PUBLISHER["tenant"], PUBLISHER["client_id"], PUBLISHER["secret"])
    response = requests.put(
        contoso.url(f"/subscriptions/{CONTOSO_SUBSCRIPTION}/resourcegroups/{group}"),
        params={"api-version": "2025-04-01"},
        json={"location": "eastus2"},
        headers={"Authorization": f"Bearer {token}"},
        verify=contoso.verify,
        timeout=30,
    )
    assert response.status_code == 201, response.text

    az = _signed_in(contoso, tmp_path, AUDITOR)
    assert group in [g["name"] for g in az("group", "list")]
    refused = az.fails("sig", "create", "--resource-group", group, "--gallery-name", "nope")
    assert "AuthorizationFailed" in refused
    assert "'Microsoft.Compute/galleries/write'" in refused


def test_cli_principal_of_another_tenant_sees_nothing(
    contoso: ServiceProcess, tmp_path: Path
) -> None:
    az = _signed_in(contoso, tmp_path, FABRIKAM)
    assert [a["id"] for a in az("account", "list", "--all")] == [FABRIKAM_SUBSCRIPTION]
    # The CLI itself refuses a subscription it was not given; its token, sent anyway, is
    # refused by the service.
    token = az("account", "get-access-token")["accessToken"]
    response = requests.get(
        contoso.url(f"/subscriptions/{CONTOSO_SUBSCRIPTION}/resourcegroups"),
        params={"api-version": "2025-04-01"},
        headers={"Authorization": f"Bearer {token}"},
        verify=contoso.verify,
        timeout=30,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenTenant"
