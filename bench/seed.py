"""The resources the throughput scenarios read and replace, created before any is measured."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

SUBSCRIPTION = "00000000-0000-0000-0000-0000000be4c4"
GROUP = "bench-rg"
GALLERY = "benchgallery"
APPLICATION = "benchapp"
LOCATION = "eastus2"
# The default api-version of azure-mgmt-compute 39.0.0, so wrk and the SDK take the same path.
COMPUTE_API_VERSION = "2026-03-03"
RESOURCES_API_VERSION = "2025-04-01"
# The version the GET scenarios read; the PUT scenario never touches it.
READ_VERSION = "0.0.1"


def version_body(media_link: str) -> dict[str, Any]:
    """What the SDK sends for a minimal version: a package and its install/remove commands."""
    return {
        "location": LOCATION,
        "properties": {
            "publishingProfile": {
                "source": {"mediaLink": media_link},
                "manageActions": {"install": "bash install.sh", "remove": "bash remove.sh"},
            }
        },
    }


def application_path() -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Compute/"
        f"galleries/{GALLERY}/applications/{APPLICATION}"
    )


def version_path(name: str) -> str:
    return f"{application_path()}/versions/{name}"


@dataclass
class Fixture:
    """Request paths (with their query) for each scenario, and the PUT body."""

    read_version: str
    operation_status: str
    put_versions: list[str] = field(default_factory=list)
    put_body: bytes = b""


class Seeder:
    """Plain REST calls that build the fixture and check that it reads back."""

    def __init__(self, endpoint: str, ca_cert: str, media_link: str) -> None:
        self.endpoint = endpoint
        # A readable package: each version's creation fetches and replicates it.
        self.media_link = media_link
        self.session = requests.Session()
        # Not session.verify: requests lets REQUESTS_CA_BUNDLE from the environment override it.
        self.verify = ca_cert
        self.session.headers["Authorization"] = "Bearer bench-token"

    def put(self, path: str, body: Any, api_version: str = COMPUTE_API_VERSION) -> Any:
        response = self.session.put(
            f"{self.endpoint}{path}",
            params={"api-version": api_version},
            json=body,
            timeout=30,
            verify=self.verify,
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"PUT {path}: {response.status_code} {response.text}")
        status_url = response.headers.get("Azure-AsyncOperation")
        if status_url:
            self.wait(status_url)
        return response

    def wait(self, status_url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.session.get(status_url, timeout=30, verify=self.verify).json()["status"]
            if status == "Succeeded":
                return
            if status != "InProgress":
                raise RuntimeError(f"operation {status_url} ended {status}")
            time.sleep(0.01)
        raise RuntimeError(f"operation {status_url} did not finish in {timeout} s")

    def get(self, path_and_query: str) -> Any:
        response = self.session.get(
            f"{self.endpoint}{path_and_query}", timeout=30, verify=self.verify
        )
        if response.status_code != 200:
            raise RuntimeError(f"GET {path_and_query}: {response.status_code} {response.text}")
        return response.json()

    def build(self, put_versions: int) -> Fixture:
        group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
        self.put(group, {"location": LOCATION}, RESOURCES_API_VERSION)
        self.put(f"{group}/providers/Microsoft.Compute/galleries/{GALLERY}", {"location": LOCATION})
        self.put(
            application_path(), {"location": LOCATION, "properties": {"supportedOSType": "Linux"}}
        )

        query = f"?api-version={COMPUTE_API_VERSION}"
        created = self.put(version_path(READ_VERSION), version_body(self.media_link))
        status = urlsplit(created.headers["Azure-AsyncOperation"])
        fixture = Fixture(
            read_version=version_path(READ_VERSION) + query,
            operation_status=f"{status.path}?{status.query}",
            put_body=orjson.dumps(version_body(self.media_link)),
        )
        for index in range(put_versions):
            path = version_path(f"1.0.{index}")
            self.put(path, version_body(self.media_link))
            fixture.put_versions.append(path + query)

        # Every scenario's first request must already succeed, or its rate means nothing.
        self.get(fixture.read_version)
        if self.get(fixture.operation_status)["status"] != "Succeeded":
            raise RuntimeError("the seeded operation did not succeed")
        return fixture

    def provisioning_state(self, path_and_query: str) -> str:
        return str(self.get(path_and_query)["properties"]["provisioningState"])
