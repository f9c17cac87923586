"""Resource groups over raw HTTP: create, read, list, update, and the long-running delete."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .support import (
    SUBSCRIPTION,
    Arm,
    application_path,
    cloud_error,
    gallery_path,
    resource_group_path,
    unique,
    version_body,
    version_path,
)

API = "2025-04-01"
_OPERATION_RESULT = re.compile(rf"^/subscriptions/{SUBSCRIPTION}/operationresults/[0-9a-f-]{{36}}$")


def put_group(arm: Arm, group: str, body: dict[str, Any]) -> requests.Response:
    return arm.request("PUT", resource_group_path(group), API, body)


def test_put_resource_group_new_returns_201_then_200(arm: Arm) -> None:
    group = unique("rg")

    created = put_group(arm, group, {"location": "East US 2", "tags": {"env": "test"}})
    replaced = put_group(arm, group, {"location": "eastus2"})

    assert created.status_code == 201
    assert created.json() == {
        "id": resource_group_path(group),
        "name": group,
        "type": "Microsoft.Resources/resourceGroups",
        "location": "eastus2",
        "tags": {"env": "test"},
        "properties": {"provisioningState": "Succeeded"},
    }
    assert replaced.status_code == 200
    assert "tags" not in replaced.json()
    assert "Azure-AsyncOperation" not in created.headers


def test_get_resource_group_returns_it(arm: Arm) -> None:
    group = unique("rg")
    put_group(arm, group, {"location": "westus2", "tags": {"a": "b"}})

    response = arm.get(resource_group_path(group.upper()), API)

    assert response.status_code == 200
    assert response.json()["name"] == group
    assert response.json()["location"] == "westus2"
    assert response.json()["tags"] == {"a": "b"}


def test_get_resource_group_missing_returns_404(arm: Arm) -> None:
    group = unique("rg")

    response = arm.get(resource_group_path(group), API)

    error = cloud_error(response, 404, "ResourceGroupNotFound")
    assert error["message"] == f"Resource group '{group}' could not be found."


def test_head_resource_group_returns_204_or_404(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    present = arm.request("HEAD", resource_group_path(group.lower()), API)
    absent = arm.request("HEAD", resource_group_path(unique("rg")), API)

    assert (present.status_code, absent.status_code) == (204, 404)
    assert present.content == absent.content == b""


@pytest.mark.parametrize("name", ["a" * 91, "group.", "a b", "a:b", "a<b"])
def test_put_resource_group_invalid_name_returns_400(arm: Arm, name: str) -> None:
    response = put_group(arm, name, {"location": "eastus2"})

    error = cloud_error(response, 400, "InvalidResourceGroupName")
    assert error["target"] == "resourceGroupName"


def test_put_resource_group_without_location_returns_400(arm: Arm) -> None:
    response = put_group(arm, unique("rg"), {"tags": {}})

    cloud_error(response, 400, "LocationRequired")


def test_list_resource_groups_pages_with_next_link(arm: Arm) -> None:
    mine = {unique("rg") for _ in range(3)}
    for group in mine:
        arm.create_group(group)

    seen: list[str] = []
    first = arm.get(f"/subscriptions/{SUBSCRIPTION}/resourcegroups", API, params={"$top": "2"})
    page = first
    pages = 0
    while True:
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["value"]) <= 2
        seen.extend(item["name"] for item in body["value"])
        pages += 1
        if "nextLink" not in body:
            break
        link = urlsplit(body["nextLink"])
        assert f"{link.scheme}://{link.netloc}" == arm.service.endpoint
        assert parse_qs(link.query)["api-version"] == [API]
        page = arm.session.get(body["nextLink"], timeout=10)

    assert pages >= 2
    assert mine <= set(seen)
    assert len(seen) == len(set(seen))


def test_patch_resource_group_replaces_tags(arm: Arm) -> None:
    group = unique("rg")
    put_group(arm, group, {"location": "eastus2", "tags": {"a": "1", "b": "2"}})

    replaced = arm.request("PATCH", resource_group_path(group), API, {"tags": {"c": "3"}})
    cleared = arm.request("PATCH", resource_group_path(group), API, {"tags": {}})

    assert replaced.status_code == 200
    assert replaced.json()["tags"] == {"c": "3"}
    assert replaced.json()["location"] == "eastus2"
    assert cleared.status_code == 200
    assert "tags" not in arm.get(resource_group_path(group), API).json()


def test_patch_resource_group_missing_returns_404(arm: Arm) -> None:
    response = arm.request("PATCH", resource_group_path(unique("rg")), API, {"tags": {}})

    cloud_error(response, 404, "ResourceGroupNotFound")


def test_put_resource_group_other_location_returns_409(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = put_group(arm, group, {"location": "westus2"})

    error = cloud_error(response, 409, "InvalidResourceGroupLocation")
    assert error["message"] == (
        "Invalid resource group location 'westus2'. The Resource group already exists in "
        "location 'eastus2'."
    )


def test_delete_resource_group_missing_returns_404(arm: Arm) -> None:
    response = arm.request("DELETE", resource_group_path(unique("rg")), API)

    cloud_error(response, 404, "ResourceGroupNotFound")


def test_delete_resource_group_returns_202_with_operation_result_location(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = arm.request("DELETE", resource_group_path(group), API)

    assert response.status_code == 202
    assert response.content == b""
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == arm.service.endpoint
    assert _OPERATION_RESULT.match(location.path), location.path
    assert parse_qs(location.query)["api-version"] == [API]
    assert response.headers.get("Retry-After") != "0"
    done = arm.poll(response.headers["Location"])
    assert done.status_code == 200
    assert done.content == b""


def test_delete_resource_group_removes_its_contents(arm: Arm) -> None:
    group, gallery, application = arm.parents()
    version = version_path(group, gallery, application, "1.0.0")
    arm.wait(arm.put(version, version_body()))

    response = arm.request("DELETE", resource_group_path(group), API)
    arm.poll(response.headers["Location"])

    cloud_error(arm.get(resource_group_path(group), API), 404, "ResourceGroupNotFound")
    for path in (gallery_path(group, gallery), application_path(group, gallery, application)):
        cloud_error(arm.get(path), 404, "ResourceGroupNotFound")
    cloud_error(arm.get(version), 404, "ResourceGroupNotFound")
    everywhere = arm.get(f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/galleries")
    assert gallery not in {item["name"] for item in everywhere.json()["value"]}
    # A group of the same name starts empty.
    arm.create_group(group)
    listed = arm.get(f"{resource_group_path(group)}/providers/Microsoft.Compute/galleries")
    assert listed.json() == {"value": []}


def test_get_delete_monitor_while_running_returns_202_then_200(slow_arm: Arm) -> None:
    group = unique("rg")
    slow_arm.create_group(group)

    response = slow_arm.request("DELETE", resource_group_path(group), API)
    running = slow_arm.session.get(response.headers["Location"], timeout=10)
    meanwhile = slow_arm.get(resource_group_path(group), API)
    done = slow_arm.poll(response.headers["Location"])

    assert running.status_code == 202
    assert running.content == b""
    assert "Location" in running.headers
    assert meanwhile.json()["properties"]["provisioningState"] == "Deleting"
    assert done.status_code == 200
    cloud_error(slow_arm.get(resource_group_path(group), API), 404, "ResourceGroupNotFound")


def test_put_in_resource_group_being_deleted_returns_409(slow_arm: Arm) -> None:
    group = unique("rg")
    slow_arm.create_group(group)
    slow_arm.request("DELETE", resource_group_path(group), API)

    gallery = slow_arm.put(gallery_path(group, unique("gal")), {"location": "eastus2"})
    itself = put_group(slow_arm, group, {"location": "eastus2"})
    patched = slow_arm.request("PATCH", resource_group_path(group), API, {"tags": {}})

    for response in (gallery, itself, patched):
        error = cloud_error(response, 409, "ResourceGroupBeingDeleted")
        assert f"The resource group '{group}' is in deprovisioning state" in error["message"]


def test_get_operation_result_unknown_returns_404(arm: Arm) -> None:
    path = f"/subscriptions/{SUBSCRIPTION}/operationresults/00000000-0000-0000-0000-000000000001"

    response = arm.get(path, API)

    cloud_error(response, 404, "NotFound")


def test_put_resource_group_with_non_string_managed_by_returns_400(arm: Arm) -> None:
    response = put_group(arm, unique("rg"), {"location": "eastus2", "managedBy": 5})

    error = cloud_error(response, 400, "InvalidRequestContent")
    assert "managedBy" in error["message"]
