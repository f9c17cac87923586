"""Test support: a real compute-gallery process on a real socket, and clients pointed at it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from azure.core.credentials import AccessToken

SUBSCRIPTION = "00000000-0000-0000-0000-00000000c0de"
START_TIMEOUT = 30.0

# A readable package and configuration for every version a test creates: blobs in the test
# session's Azurite, with SAS tokens (set by the session fixture ``package_source``).
# PACKAGE_URL_ROTATED is the package with another SAS, as a client rotating it would send.
PACKAGE = b"#!/bin/sh\necho installed\n"
CONFIG = b'{"level": "info"}\n'
PACKAGE_URL = ""
PACKAGE_URL_ROTATED = ""
CONFIG_URL = ""


class FakeCredential:
    """A credential for the SDKs: the service accepts any well-formed bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("test-token", int(time.time()) + 3600)


@dataclass
class ServiceProcess:
    """A ``compute-gallery serve`` child process, restartable on the same data directory."""

    data_dir: Path
    args: list[str] = field(default_factory=list)
    # Environment variables the process gets besides the test run's own.
    env: dict[str, str] = field(default_factory=dict)
    # A PostgreSQL database to keep state in instead of SQLite in data_dir.
    database_url: str | None = None
    process: subprocess.Popen[str] | None = None
    endpoint: str = ""
    ca_cert: str | None = None
    output: list[str] = field(default_factory=list)
    port: int = 0
    _drain: threading.Thread = field(init=False, repr=False)

    def start(self) -> ServiceProcess:
        command = [
            sys.executable,
            "-m",
            "compute_gallery",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
            # Tests read sources from this machine only: a stray URL is never looked up.
            "--source-host",
            "127.0.0.1",
            *(["--database-url", self.database_url] if self.database_url else []),
            *self.args,
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the service exited during start:\n" + "".join(self.output))
            self.output.append(line)
            if line.startswith("compute-gallery listening on "):
                self.endpoint = line.split()[-1].rstrip("/")
                self.port = int(self.endpoint.rsplit(":", 1)[1])
            elif line.startswith("CA certificate to trust: "):
                self.ca_cert = line.split(": ", 1)[1].strip()
            elif line.startswith("state: "):
                break
        # Keep reading what the service prints, so that a full pipe can never block it.
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        self._wait_healthy(deadline)
        return self

    def _read_rest(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def _wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                response = requests.get(
                    f"{self.endpoint}/_emulator/health", verify=self.verify, timeout=2
                )
                if response.status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the service did not become healthy:\n" + "".join(self.output))

    @property
    def verify(self) -> str | bool:
        return self.ca_cert if self.ca_cert else True

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._drain.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.process = None

    def restart(self) -> ServiceProcess:
        """Stop and start again on the same data directory and port."""
        self.stop()
        return self.start()

    def url(self, path: str) -> str:
        return f"{self.endpoint}{path}"


def unique(prefix: str) -> str:
    """A resource name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def resource_group_path(group: str, subscription: str = SUBSCRIPTION) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}"


def gallery_path(group: str, gallery: str) -> str:
    return f"{resource_group_path(group)}/providers/Microsoft.Compute/galleries/{gallery}"


def application_path(group: str, gallery: str, application: str) -> str:
    return f"{gallery_path(group, gallery)}/applications/{application}"


def version_path(group: str, gallery: str, application: str, version: str) -> str:
    return f"{application_path(group, gallery, application)}/versions/{version}"


def _no_server_error(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    assert response.status_code < 500, f"{response.request.method} {response.url}: {response.text}"


def cloud_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The ``error`` object of a CloudError response, after checking its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "target", "details"}
    return error


class Arm:
    """Plain REST against the service, for the wire details SDKs hide.

    Every response is checked: a 5xx fails the test wherever it happens.
    """

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.session = requests.Session()
        # requests lets REQUESTS_CA_BUNDLE override a session's own CA; the service's CA wins.
        self.session.trust_env = False
        self.session.verify = service.verify
        self.session.headers["Authorization"] = "Bearer test-token"
        self.session.hooks["response"].append(_no_server_error)

    def close(self) -> None:
        # An idle keep-alive connection would hold up the service's shutdown.
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        api_version: str | None = "2025-03-03",
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        query = dict(params or {})
        if api_version is not None:
            query["api-version"] = api_version
        data = raw
        send_headers = dict(headers or {})
        if body is not None:
            import json

            data = json.dumps(body).encode()
            send_headers.setdefault("Content-Type", "application/json")
        return self.session.request(
            method,
            self.service.url(path),
            params=query,
            data=data,
            headers=send_headers,
            timeout=30,
        )

    def put(self, path: str, body: Any, api_version: str = "2025-03-03") -> requests.Response:
        return self.request("PUT", path, api_version, body)

    def get(self, path: str, api_version: str = "2025-03-03", **kw: Any) -> requests.Response:
        return self.request("GET", path, api_version, **kw)

    def poll(self, url: str, while_status: int = 202, timeout: float = 10.0) -> requests.Response:
        """GET ``url`` (a monitor URL) until it stops answering ``while_status``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.session.get(url, timeout=10)
            if response.status_code != while_status:
                return response
            time.sleep(0.02)
        raise AssertionError(f"{url} still answered {while_status} after {timeout} s")

    def status_of(self, response: requests.Response) -> dict[str, Any]:
        """The current status body of the operation ``response`` started."""
        status = self.session.get(response.headers["Azure-AsyncOperation"], timeout=10)
        assert status.status_code == 200, status.text
        body: dict[str, Any] = status.json()
        return body

    def wait(self, response: requests.Response, timeout: float = 10.0) -> dict[str, Any]:
        """Poll an operation's Azure-AsyncOperation URL until it ends; return its status."""
        url = response.headers["Azure-AsyncOperation"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status: dict[str, Any] = self.session.get(url, timeout=10).json()
            if status["status"] != "InProgress":
                return status
            time.sleep(0.01)
        raise AssertionError(f"operation {url} did not finish in {timeout} s")

    def create_group(self, group: str, location: str = "eastus2") -> None:
        response = self.request(
            "PUT", resource_group_path(group), "2025-04-01", {"location": location}
        )
        assert response.status_code in (200, 201), response.text

    def create_gallery(self, group: str, gallery: str, location: str = "eastus2") -> None:
        response = self.put(gallery_path(group, gallery), {"location": location})
        assert response.status_code in (200, 201), response.text
        assert self.wait(response)["status"] == "Succeeded"

    def create_application(
        self, group: str, gallery: str, application: str, location: str = "eastus2"
    ) -> None:
        response = self.put(
            application_path(group, gallery, application),
            {"location": location, "properties": {"supportedOSType": "Linux"}},
        )
        assert response.status_code in (200, 201), response.text

    def parents(self, location: str = "eastus2") -> tuple[str, str, str]:
        """A fresh resource group, gallery and application; returns their names."""
        group, gallery, application = unique("rg"), unique("gal"), unique("app")
        self.create_group(group, location)
        self.create_gallery(group, gallery, location)
        self.create_application(group, gallery, application, location)
        return group, gallery, application


def version_body(location: str = "eastus2", **profile: Any) -> dict[str, Any]:
    """A minimal valid application-version body, with ``profile`` merged into the profile.

    Its package is the session's readable blob, so that the version replicates and succeeds.
    """
    assert PACKAGE_URL, "the package_source fixture has not run"
    publishing: dict[str, Any] = {
        "source": {"mediaLink": PACKAGE_URL},
        "manageActions": {"install": "bash install.sh", "remove": "bash remove.sh"},
    }
    publishing.update(profile)
    return {"location": location, "properties": {"publishingProfile": publishing}}
