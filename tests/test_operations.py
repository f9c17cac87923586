"""Long-running operations and concurrency: status lookups, preemption, races between writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import requests

from .support import (
    SUBSCRIPTION,
    Arm,
    ServiceProcess,
    application_path,
    cloud_error,
    gallery_path,
    unique,
    version_body,
    version_path,
)

T = TypeVar("T")

WRITERS = 8
RACE_ROUNDS = 12


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_get_operation_status_unknown_returns_404(arm: Arm) -> None:
    path = (
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/locations/eastus2/"
        "capsOperations/00000000-0000-0000-0000-000000000001"
    )

    status = arm.get(path)
    monitor = arm.get(path, params={"monitor": "true"})

    cloud_error(status, 404, "NotFound")
    cloud_error(monitor, 404, "NotFound")


def test_get_operation_status_of_other_subscription_returns_404(arm: Arm) -> None:
    response = arm.put(version_path(*arm.parents(), "1.0.0"), version_body())
    url = response.headers["Azure-AsyncOperation"]
    other = url.replace(SUBSCRIPTION, "11111111-1111-1111-1111-111111111111")

    cloud_error(arm.session.get(other, timeout=10), 404, "NotFound")


def test_put_version_while_previous_operation_runs_preempts_it(slow_arm: Arm) -> None:
    path = version_path(*slow_arm.parents(), "1.0.0")
    first = slow_arm.put(path, version_body())

    second = slow_arm.put(path, version_body(replicaCount=2))

    assert (first.status_code, second.status_code) == (201, 200)
    older = slow_arm.status_of(first)
    assert older["status"] == "Canceled"
    assert older["error"]["code"] == "OperationPreempted"
    assert "endTime" in older
    assert slow_arm.status_of(second)["status"] == "InProgress"
    assert slow_arm.wait(second)["status"] == "Succeeded"
    final = slow_arm.get(path).json()
    assert final["properties"]["provisioningState"] == "Succeeded"
    assert final["properties"]["publishingProfile"]["replicaCount"] == 2
    preempted = slow_arm.session.get(first.headers["Location"], timeout=10)
    cloud_error(preempted, 409, "OperationPreempted")


def test_delete_version_while_put_runs_preempts_it(slow_arm: Arm) -> None:
    path = version_path(*slow_arm.parents(), "1.0.0")
    created = slow_arm.put(path, version_body())

    deleted = slow_arm.request("DELETE", path)

    assert deleted.status_code == 202
    assert slow_arm.status_of(created)["error"]["code"] == "OperationPreempted"
    assert slow_arm.wait(deleted)["status"] == "Succeeded"
    cloud_error(slow_arm.get(path), 404, "ResourceNotFound")


def test_put_same_new_version_concurrently_creates_it_once(
    arm: Arm, service: ServiceProcess
) -> None:
    path = version_path(*arm.parents(), "1.0.0")
    clients = [Arm(service) for _ in range(WRITERS)]

    def writer(index: int) -> Callable[[], requests.Response]:
        body = version_body()
        body["tags"] = {"writer": str(index)}
        return lambda: clients[index].put(path, body)

    responses = at_once([writer(index) for index in range(WRITERS)])

    codes = sorted(response.status_code for response in responses)
    assert codes == [200] * (WRITERS - 1) + [201]
    statuses = [arm.wait(response)["status"] for response in responses]
    assert set(statuses) <= {"Succeeded", "Canceled"}
    stored = arm.get(path).json()
    assert stored["properties"]["provisioningState"] == "Succeeded"
    assert stored["tags"]["writer"] in {str(index) for index in range(WRITERS)}
    published = {
        response.json()["properties"]["publishingProfile"]["publishedDate"]
        for response in responses
    }
    assert published == {stored["properties"]["publishingProfile"]["publishedDate"]}
    listed = arm.get(path.rsplit("/", 1)[0]).json()["value"]
    assert [item["name"] for item in listed] == ["1.0.0"]
    for client in clients:
        client.close()


def _settled(arm: Arm, response: requests.Response) -> None:
    """Wait for the operation ``response`` started, if it started one."""
    if "Azure-AsyncOperation" in response.headers:
        arm.wait(response)


def test_put_version_racing_application_delete_leaves_no_orphan(
    arm: Arm, service: ServiceProcess
) -> None:
    creator, deleter = Arm(service), Arm(service)
    outcomes: set[tuple[int, int]] = set()

    for _ in range(RACE_ROUNDS):
        group, gallery, application = arm.parents()
        parent = application_path(group, gallery, application)
        child = version_path(group, gallery, application, "1.0.0")

        put, delete = at_once(
            [
                partial(creator.put, child, version_body()),
                partial(deleter.request, "DELETE", parent),
            ]
        )
        _settled(arm, put)
        _settled(arm, delete)

        # An orphan would answer its own GET although its application is gone.
        state = (arm.get(parent).status_code, arm.get(child).status_code)
        assert state in {(200, 200), (404, 404)}, (put.text, delete.text, state)
        outcomes.add((put.status_code, delete.status_code))

    assert outcomes <= {(201, 409), (409, 202), (404, 202)}
    for client in (creator, deleter):
        client.close()


def test_put_application_racing_gallery_delete_leaves_no_orphan(
    arm: Arm, service: ServiceProcess
) -> None:
    creator, deleter = Arm(service), Arm(service)
    body = {"location": "eastus2", "properties": {"supportedOSType": "Linux"}}

    for _ in range(RACE_ROUNDS):
        group, gallery = unique("rg"), unique("gal")
        arm.create_group(group)
        arm.create_gallery(group, gallery)
        parent = gallery_path(group, gallery)
        child = application_path(group, gallery, "racer")

        put, delete = at_once(
            [partial(creator.put, child, body), partial(deleter.request, "DELETE", parent)]
        )
        _settled(arm, delete)

        state = (arm.get(parent).status_code, arm.get(child).status_code)
        assert state in {(200, 200), (404, 404)}, (put.text, delete.text, state)

    for client in (creator, deleter):
        client.close()


def test_put_version_while_application_is_deleted_returns_409(slow_arm: Arm) -> None:
    group, gallery, application = slow_arm.parents()
    parent = application_path(group, gallery, application)
    child = version_path(group, gallery, application, "1.0.0")
    deleting = slow_arm.request("DELETE", parent)

    response = slow_arm.put(child, version_body())

    cloud_error(response, 409, "OperationNotAllowed")
    assert slow_arm.wait(deleting)["status"] == "Succeeded"
    cloud_error(slow_arm.get(parent), 404, "ResourceNotFound")
    cloud_error(slow_arm.get(child), 404, "ParentResourceNotFound")


def test_put_application_while_gallery_is_deleted_returns_409(slow_arm: Arm) -> None:
    group, gallery = unique("rg"), unique("gal")
    slow_arm.create_group(group)
    slow_arm.create_gallery(group, gallery)
    deleting = slow_arm.request("DELETE", gallery_path(group, gallery))
    assert deleting.status_code == 202, deleting.text

    response = slow_arm.put(
        application_path(group, gallery, "late"),
        {"location": "eastus2", "properties": {"supportedOSType": "Linux"}},
    )

    cloud_error(response, 409, "OperationNotAllowed")
    assert slow_arm.wait(deleting)["status"] == "Succeeded"
    cloud_error(
        slow_arm.get(application_path(group, gallery, "late")), 404, "ParentResourceNotFound"
    )


def test_put_application_while_its_delete_runs_returns_409(slow_arm: Arm) -> None:
    group, gallery, application = slow_arm.parents()
    path = application_path(group, gallery, application)
    deleted = slow_arm.request("DELETE", path)
    assert deleted.status_code == 202

    response = slow_arm.put(
        path, {"location": "eastus2", "properties": {"supportedOSType": "Linux"}}
    )

    error = cloud_error(response, 409, "OperationNotAllowed")
    assert "marked for deletion" in error["message"]
    assert slow_arm.wait(deleted)["status"] == "Succeeded"
    cloud_error(slow_arm.get(path), 404, "ResourceNotFound")
