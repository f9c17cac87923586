"""Fixtures: service processes on each store, plus SDK and REST clients for them.

Every fixture that starts a service runs its tests twice: on the embedded SQLite store and
on PostgreSQL (one server per test session, one database per service process).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from . import support
from .azurite import Azurite
from .postgres import PostgresServer
from .support import SUBSCRIPTION, Arm, FakeCredential, ServiceProcess

STORES = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A real Azurite blob service for the session: package sources and blob replicas."""
    server = Azurite().start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def package_source(azurite: Azurite) -> str:
    """The readable package ``support.version_body`` points every version at."""
    azurite.upload("packages", "app.sh", support.PACKAGE)
    azurite.upload("packages", "app.json", support.CONFIG)
    support.PACKAGE_URL = azurite.sas_url("packages", "app.sh")
    support.PACKAGE_URL_ROTATED = azurite.sas_url("packages", "app.sh", hours=48)
    support.CONFIG_URL = azurite.sas_url("packages", "app.json")
    return support.PACKAGE_URL


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, started on first use."""
    server = PostgresServer().start()
    yield server
    server.remove()


def _on_store(process: ServiceProcess, request: pytest.FixtureRequest) -> ServiceProcess:
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        process.database_url = server.create_database()
    return process


@pytest.fixture(scope="session", params=STORES)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    process = _on_store(ServiceProcess(tmp_path_factory.mktemp("service")), request).start()
    yield process
    process.stop()


@pytest.fixture(params=STORES)
def fresh_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceProcess]:
    """A service of the test's own, for restarts and settings other tests must not see."""
    process = _on_store(ServiceProcess(tmp_path / "data"), request)
    yield process
    process.stop()


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[ServiceProcess]:
    """A service of the test's own on SQLite, for what only the embedded store has."""
    process = ServiceProcess(tmp_path / "data")
    yield process
    process.stop()


@pytest.fixture
def arm(service: ServiceProcess) -> Iterator[Arm]:
    client = Arm(service)
    yield client
    client.close()


@pytest.fixture
def slow_arm(fresh_service: ServiceProcess) -> Iterator[Arm]:
    """A service of the test's own whose operations stay InProgress for a second."""
    fresh_service.args = ["--operation-seconds", "1"]
    client = Arm(fresh_service.start())
    yield client
    client.close()


def compute_client(service: ServiceProcess) -> ComputeManagementClient:
    return ComputeManagementClient(
        FakeCredential(),  # type: ignore[arg-type]
        SUBSCRIPTION,
        base_url=service.endpoint,
        connection_verify=service.verify,
    )


def resource_client(service: ServiceProcess) -> ResourceManagementClient:
    return ResourceManagementClient(
        FakeCredential(),  # type: ignore[arg-type]
        SUBSCRIPTION,
        base_url=service.endpoint,
        connection_verify=service.verify,
    )


@pytest.fixture
def compute(service: ServiceProcess) -> ComputeManagementClient:
    return compute_client(service)


@pytest.fixture
def resources(service: ServiceProcess) -> ResourceManagementClient:
    return resource_client(service)
