"""Several service processes on one PostgreSQL database, as behind a load balancer: what one
writes the other reads, conflicting writes through both end consistent, an instance that dies
or freezes with an operation in flight has it finished by the other, and the database going
away at start or while running is answered, then recovered from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from .azurite import Azurite
from .conftest import compute_client
from .postgres import PostgresServer, free_port
from .support import (
    Arm,
    ServiceProcess,
    application_path,
    cloud_error,
    gallery_path,
    resource_group_path,
    unique,
    version_body,
    version_path,
)
from .test_operations import at_once

ROUNDS = 16
WRITERS = 8
PATIENCE = 30.0

Pair = Callable[..., tuple[ServiceProcess, ServiceProcess]]


@pytest.fixture(scope="module")
def database(postgres: PostgresServer) -> str:
    return postgres.create_database()


@pytest.fixture(scope="module")
def two(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two instances on one database, for the tests that leave both running. They share a data
    directory, where only the TLS certificates live: behind one endpoint both present one."""
    shared = tmp_path_factory.mktemp("instances")
    first = ServiceProcess(shared, database_url=database).start()
    second = ServiceProcess(shared, database_url=database).start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def pair(postgres: PostgresServer, tmp_path: Path) -> Iterator[Pair]:
    """Starts two instances of the test's own on a new database, each with its own flags."""
    started: list[ServiceProcess] = []

    def start(
        first_args: list[str], second_args: list[str]
    ) -> tuple[ServiceProcess, ServiceProcess]:
        database = postgres.create_database()
        for args in (first_args, second_args):
            process = ServiceProcess(tmp_path / "data", args=args, database_url=database)
            started.append(process.start())
        return started[0], started[1]

    yield start
    for process in started:
        if process.process is not None and process.process.poll() is None:
            os.kill(process.process.pid, signal.SIGCONT)
        process.stop()


def operation_id(response: requests.Response) -> str:
    return response.headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]


def status_via(arm: Arm, response: requests.Response) -> dict[str, Any]:
    """The status of the operation ``response`` started, asked of ``arm``'s instance."""
    url = response.headers["Azure-AsyncOperation"]
    status = arm.session.get(arm.service.url("/" + url.split("/", 3)[3]), timeout=30)
    assert status.status_code == 200, status.text
    body: dict[str, Any] = status.json()
    return body


def wait_via(arm: Arm, response: requests.Response) -> dict[str, Any]:
    """Poll ``arm``'s instance until the operation ``response`` started ends."""
    deadline = time.monotonic() + PATIENCE
    while (status := status_via(arm, response))["status"] == "InProgress":
        assert time.monotonic() < deadline, f"operation {operation_id(response)} still running"
        time.sleep(0.02)
    return status


def logged_at(line: str) -> float:
    """The time of a log line (``2026-12-04 06:17:53,668 INFO ...``), as epoch seconds."""
    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()


def lines_with(process: ServiceProcess, *parts: str) -> list[str]:
    return [line for line in list(process.output) if all(part in line for part in parts)]


def wait_for_line(process: ServiceProcess, *parts: str) -> str:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = lines_with(process, *parts)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no line with {parts} in:\n{''.join(process.output)}")


# -- one database, two instances ------------------------------------------------------------


def test_create_through_one_read_update_and_delete_through_the_other(
    two: tuple[ServiceProcess, ServiceProcess],
) -> None:
    first, second = two
    one, other = Arm(first), Arm(second)
    group, gallery, application = one.parents()
    path = version_path(group, gallery, application, "1.0.0")
    created = one.put(path, version_body())
    assert created.status_code == 201
    # The operation (the package's replication) runs on the first; the second sees its end.
    assert wait_via(other, created)["status"] == "Succeeded"

    with compute_client(second) as compute:
        found = compute.gallery_application_versions.get(group, gallery, application, "1.0.0")
        listed = list(
            compute.gallery_application_versions.list_by_gallery_application(
                group, gallery, application
            )
        )
    assert found.properties.provisioning_state == "Succeeded"
    assert [version.name for version in listed] == ["1.0.0"]

    updated = other.request("PATCH", path, body={"tags": {"by": "second"}})
    assert updated.status_code == 200, updated.text
    assert wait_via(other, updated)["status"] == "Succeeded"
    assert one.get(path).json()["tags"] == {"by": "second"}

    deleted = one.request("DELETE", path)
    assert deleted.status_code == 202
    assert one.wait(deleted)["status"] == "Succeeded"
    cloud_error(other.get(path), 404, "ResourceNotFound")
    one.close()
    other.close()


def test_instances_sharing_one_blob_store_keep_and_remove_replicas_together(
    postgres: PostgresServer, azurite: Azurite, tmp_path: Path
) -> None:
    database = postgres.create_database()
    prefix = f"shared{unique('')[:6]}-"
    started = []
    for name in ("first", "second"):
        process = ServiceProcess(
            tmp_path / name,
            args=["--blob-container-prefix", prefix],
            database_url=database,
            env={"COMPUTE_GALLERY_BLOB_REPLICAS": azurite.connection_string},
        )
        started.append(process.start())
    first, second = started
    try:
        one = Arm(first)
        group, gallery, application = one.parents()
        path = version_path(group, gallery, application, "1.0.0")
        created = one.put(path, version_body(replicaCount=2))
        assert one.wait(created)["status"] == "Succeeded"
        replicas = _blobs(azurite, prefix)
        assert len([name for name in replicas if "/content/" in name]) == 2
        assert len([name for name in replicas if "/refs/" in name]) == 2

        # The second instance's start cleans the shared store up: the replicas stay.
        second.restart()
        assert _blobs(azurite, prefix) == replicas

        other = Arm(second)
        deleted = other.request("DELETE", path)
        assert other.wait(deleted)["status"] == "Succeeded"
        assert _blobs(azurite, prefix) == []
        one.close()
        other.close()
    finally:
        for process in started:
            process.stop()


def _blobs(azurite: Azurite, prefix: str) -> list[str]:
    """Every committed blob in the containers named ``prefix<region>``."""
    with azurite.client() as client:
        return sorted(
            f"{container.name}/{blob.name}"
            for container in client.list_containers(name_starts_with=prefix)
            for blob in client.get_container_client(container.name).list_blobs()
        )


def test_put_same_new_version_through_both_creates_it_once(
    two: tuple[ServiceProcess, ServiceProcess],
) -> None:
    clients = [Arm(two[index % 2]) for index in range(WRITERS)]
    reader = Arm(two[0])

    for _ in range(ROUNDS // 4):
        path = version_path(*reader.parents(), "1.0.0")

        def writer(index: int, path: str = path) -> Callable[[], requests.Response]:
            body = version_body()
            body["tags"] = {"writer": str(index)}
            return lambda: clients[index].put(path, body)

        responses = at_once([writer(index) for index in range(WRITERS)])

        codes = sorted(response.status_code for response in responses)
        assert codes == [200] * (WRITERS - 1) + [201]
        for response in responses:
            assert wait_via(reader, response)["status"] in {"Succeeded", "Canceled"}
        stored = [Arm(instance).get(path).json() for instance in two]
        assert stored[0] == stored[1]
        assert stored[0]["properties"]["provisioningState"] == "Succeeded"
        listed = reader.get(path.rsplit("/", 1)[0]).json()["value"]
        assert [item["name"] for item in listed] == ["1.0.0"]
    for client in [*clients, reader]:
        client.close()


def test_concurrent_updates_through_both_leave_one_writer_s_state(
    two: tuple[ServiceProcess, ServiceProcess],
) -> None:
    clients = [Arm(two[index % 2]) for index in range(WRITERS)]
    path = application_path(*clients[0].parents())

    def writer(index: int) -> Callable[[], requests.Response]:
        body = {
            "location": "eastus2",
            "tags": {"writer": str(index)},
            "properties": {"supportedOSType": "Linux", "description": f"by {index}"},
        }
        return lambda: clients[index].put(path, body)

    responses = at_once([writer(index) for index in range(WRITERS)])

    assert {response.status_code for response in responses} == {200}
    stored = [Arm(instance).get(path).json() for instance in two]
    assert stored[0] == stored[1]
    winner = stored[0]["tags"]["writer"]
    assert stored[0]["properties"]["description"] == f"by {winner}"
    for client in clients:
        client.close()


def test_version_create_racing_application_delete_on_the_other_leaves_no_orphan(
    two: tuple[ServiceProcess, ServiceProcess],
) -> None:
    arms = [Arm(instance) for instance in two]
    outcomes: set[tuple[int, int]] = set()

    for index in range(ROUNDS):
        # Each round the instances swap roles.
        creator, deleter = arms[index % 2], arms[1 - index % 2]
        group, gallery, application = creator.parents()
        parent = application_path(group, gallery, application)
        child = version_path(group, gallery, application, "1.0.0")

        put, delete = at_once(
            [
                partial(creator.put, child, version_body()),
                partial(deleter.request, "DELETE", parent),
            ]
        )
        for response in (put, delete):
            if "Azure-AsyncOperation" in response.headers:
                wait_via(creator, response)

        for arm in arms:
            state = (arm.get(parent).status_code, arm.get(child).status_code)
            assert state in {(200, 200), (404, 404)}, (put.text, delete.text, state)
        outcomes.add((put.status_code, delete.status_code))

    assert outcomes <= {(201, 409), (409, 202), (404, 202)}
    for arm in arms:
        arm.close()


def test_gallery_create_racing_group_delete_on_the_other_leaves_nothing_behind(
    two: tuple[ServiceProcess, ServiceProcess],
) -> None:
    arms = [Arm(instance) for instance in two]

    for index in range(ROUNDS):
        creator, deleter = arms[index % 2], arms[1 - index % 2]
        group, gallery = unique("rg"), unique("gal")
        creator.create_group(group)

        put, delete = at_once(
            [
                partial(creator.put, gallery_path(group, gallery), {"location": "eastus2"}),
                partial(deleter.request, "DELETE", resource_group_path(group), "2025-04-01"),
            ]
        )
        assert delete.status_code == 202, delete.text
        deleter.poll(delete.headers["Location"])

        # The group's deletion takes everything in it, whichever write came first.
        for arm in arms:
            assert arm.request("HEAD", resource_group_path(group), "2025-04-01").status_code == 404
            cloud_error(arm.get(gallery_path(group, gallery)), 404, "ResourceGroupNotFound")
        assert put.status_code in (201, 409, 404), put.text
    for arm in arms:
        arm.close()


# -- operations when an instance dies, freezes or stops -----------------------------------


def slow_version_on_the_first(
    pair: Pair, seconds: int
) -> tuple[ServiceProcess, ServiceProcess, str, requests.Response]:
    """Two instances with 2-second leases; a version PUT through the first, whose operation
    runs there for ``seconds``. Returns both, the version's path and the PUT's response."""
    flags = [
        "--operation-seconds",
        str(seconds),
        "--operation-lease-seconds",
        "2",
        "--log-level",
        "debug",
    ]
    first, second = pair(flags, flags)
    arm = Arm(first)
    path = version_path(*arm.parents(), "1.0.0")
    created = arm.put(path, version_body())
    arm.close()
    wait_for_line(first, f"operation {operation_id(created)} (provision) runs here under claim 1")
    assert first.process is not None
    return first, second, path, created


def test_killed_instance_s_operation_is_finished_by_the_other(pair: Pair) -> None:
    first, second, path, created = slow_version_on_the_first(pair, 3)
    op = operation_id(created)
    assert first.process is not None
    killed_at = time.time()
    first.process.kill()
    first.process.wait()

    other = Arm(second)
    assert wait_via(other, created)["status"] == "Succeeded"
    assert other.get(path).json()["properties"]["provisioningState"] == "Succeeded"
    took_over = wait_for_line(second, f"took over operation {op} (provision) from")
    assert f":{first.process.pid}:" in took_over
    # It ran on the second only after the first was gone, under the next claim.
    ran = wait_for_line(second, f"operation {op} (provision) runs here under claim 2")
    assert logged_at(ran) >= killed_at - 0.01
    assert wait_for_line(second, f"operation {op} (provision) ended here")
    other.close()


def test_frozen_instance_stops_the_operation_the_other_took_over(pair: Pair) -> None:
    first, second, path, created = slow_version_on_the_first(pair, 4)
    op = operation_id(created)
    assert first.process is not None

    os.kill(first.process.pid, signal.SIGSTOP)
    try:
        other = Arm(second)
        assert wait_via(other, created)["status"] == "Succeeded"
        wait_for_line(second, f"operation {op} (provision) ended here")
    finally:
        os.kill(first.process.pid, signal.SIGCONT)

    # Woken up, the first finds its claim lapsed and stops the job without finishing it.
    wait_for_line(first, f"operation {op}", "stopping it here")
    arm = Arm(first)
    assert arm.get(path).json() == other.get(path).json()
    assert not lines_with(first, f"operation {op} (provision) ended here")
    arm.close()
    other.close()


def test_clean_stop_hands_running_operations_to_the_other_at_once(pair: Pair) -> None:
    # The first's claims would last a minute; the second looks for work every second.
    first, second = pair(
        ["--operation-seconds", "3", "--operation-lease-seconds", "60"],
        ["--operation-seconds", "3", "--operation-lease-seconds", "3", "--log-level", "info"],
    )
    arm = Arm(first)
    path = version_path(*arm.parents(), "1.0.0")
    created = arm.put(path, version_body())
    arm.close()

    first.stop()

    other = Arm(second)
    assert wait_via(other, created)["status"] == "Succeeded"
    assert wait_for_line(second, f"took over operation {operation_id(created)}", "released")
    other.close()


# -- the database away ----------------------------------------------------------------------


def test_service_waits_for_a_database_that_comes_up(tmp_path: Path) -> None:
    server = PostgresServer()
    try:
        service = ServiceProcess(tmp_path / "data", database_url=server.url())
        starting = threading.Thread(target=service.start)
        starting.start()
        try:
            wait_for_line(service, "is not reachable (attempt 1")
            server.start()
        finally:
            starting.join(60)
        assert not starting.is_alive()
        arm = Arm(service)
        arm.create_group(unique("rg"))
        arm.close()
        service.stop()
    finally:
        server.remove()


def test_service_gives_up_on_an_unreachable_database_with_what_to_check(tmp_path: Path) -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/gallery"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "compute_gallery",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--database-url",
            url,
            "--database-wait-seconds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "state: in PostgreSQL at postgresql://postgres@127.0.0.1:" in result.stdout
    assert "not reachable (attempt 1" in result.stderr
    assert "could not reach PostgreSQL" in result.stderr and "pg_hba.conf" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_database_down_while_running_answers_503_then_recovers(tmp_path: Path) -> None:
    server = PostgresServer().start()
    service = ServiceProcess(
        tmp_path / "data",
        args=["--operation-seconds", "1", "--operation-lease-seconds", "2"],
        database_url=server.create_database(),
    )
    try:
        arm = Arm(service.start())
        path = version_path(*arm.parents(), "1.0.0")
        session = requests.Session()
        session.verify = service.verify
        session.trust_env = False
        session.headers["Authorization"] = "Bearer test-token"
        health = service.url("/_emulator/health")
        created = arm.put(path, version_body())
        arm.close()

        server.stop()

        deadline = time.monotonic() + PATIENCE
        while (answer := session.get(health, timeout=30)).status_code != 503:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)
        assert answer.json()["status"] == "unavailable" and answer.json()["reason"]
        down = session.get(service.url(path), params={"api-version": "2025-03-03"}, timeout=30)
        error = cloud_error(down, 503, "ServiceUnavailable")
        assert "database" in error["message"] and down.headers["Retry-After"]

        server.start()

        while (answer := session.get(health, timeout=30)).status_code != 200:
            assert time.monotonic() < deadline + PATIENCE, answer.text
            time.sleep(0.1)
        arm = Arm(service)
        # The operation whose job met the outage runs again once the database is back.
        assert arm.wait(created, timeout=PATIENCE)["status"] == "Succeeded"
        replaced = arm.put(path, version_body(replicaCount=2))
        assert replaced.status_code == 200, replaced.text
        assert arm.wait(replaced)["status"] == "Succeeded"
        assert not [line for line in service.output if "Traceback" in line], service.output
        arm.close()
    finally:
        service.stop()
        server.remove()
