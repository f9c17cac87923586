"""The wire details of the ARM surface: status codes, headers, LRO URLs, casing, limits."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .support import (
    SUBSCRIPTION,
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

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CAPS_OPERATION = re.compile(
    rf"^/subscriptions/{SUBSCRIPTION}/providers/Microsoft\.Compute/locations/eastus2/"
    r"capsOperations/([0-9a-f-]{36})$"
)


def created_version(arm: Arm, **profile: Any) -> tuple[str, requests.Response]:
    """A new version under fresh parents; its path and the PUT response."""
    path = version_path(*arm.parents(), "1.0.0")
    response = arm.put(path, version_body(**profile))
    assert response.status_code == 201, response.text
    return path, response


def finished_version(arm: Arm, **profile: Any) -> str:
    path, response = created_version(arm, **profile)
    assert arm.wait(response)["status"] == "Succeeded"
    return path


# -- status codes ------------------------------------------------------------------------------


def test_put_version_new_returns_201_creating(arm: Arm) -> None:
    path, response = created_version(arm)

    body = response.json()
    assert body["properties"]["provisioningState"] == "Creating"
    assert body["id"] == path
    assert body["name"] == "1.0.0"
    assert body["type"] == "Microsoft.Compute/galleries/applications/versions"


def test_put_version_existing_returns_200_updating(arm: Arm) -> None:
    path = finished_version(arm)

    response = arm.put(path, version_body(replicaCount=2))

    assert response.status_code == 200, response.text
    assert response.json()["properties"]["provisioningState"] == "Updating"
    assert response.json()["properties"]["publishingProfile"]["replicaCount"] == 2


def test_patch_version_existing_returns_200_updating(arm: Arm) -> None:
    path = finished_version(arm)

    response = arm.request(
        "PATCH", path, body={"properties": {"publishingProfile": {"replicaCount": 3}}}
    )

    assert response.status_code == 200, response.text
    assert response.json()["properties"]["provisioningState"] == "Updating"
    assert response.json()["properties"]["publishingProfile"]["replicaCount"] == 3
    assert arm.wait(response)["status"] == "Succeeded"


def test_delete_version_existing_returns_202_with_empty_body(arm: Arm) -> None:
    path = finished_version(arm)

    response = arm.request("DELETE", path)

    assert response.status_code == 202
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert arm.wait(response)["status"] == "Succeeded"
    cloud_error(arm.get(path), 404, "ResourceNotFound")


def test_delete_version_absent_returns_204(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")

    response = arm.request("DELETE", path)

    assert response.status_code == 204
    assert response.content == b""
    assert "Azure-AsyncOperation" not in response.headers


def test_get_version_finished_returns_200_succeeded(arm: Arm) -> None:
    path = finished_version(arm)

    response = arm.get(path)

    assert response.status_code == 200
    assert response.json()["properties"]["provisioningState"] == "Succeeded"


# -- headers on every response -----------------------------------------------------------------


def _sample_responses(arm: Arm) -> dict[str, requests.Response]:
    """One response of each kind: success, created, accepted, empty, and several errors."""
    group, gallery, application = arm.parents()
    path = version_path(group, gallery, application, "1.0.0")
    created = arm.put(path, version_body())
    arm.wait(created)
    return {
        "created": created,
        "ok": arm.get(path),
        "accepted": arm.request("DELETE", path),
        "no content": arm.request("DELETE", version_path(group, gallery, application, "2.0.0")),
        "not found": arm.get(version_path(group, gallery, application, "3.0.0")),
        "bad request": arm.put(version_path(group, gallery, application, "1.0"), version_body()),
        "unauthorised": requests.get(
            arm.service.url(path),
            params={"api-version": "2025-03-03"},
            verify=arm.service.verify,
            timeout=10,
        ),
        "method not allowed": arm.request("POST", path),
    }


def test_request_of_any_kind_carries_request_ids(arm: Arm) -> None:
    for kind, response in _sample_responses(arm).items():
        request_id = response.headers.get("x-ms-request-id", "")
        assert _GUID.match(request_id), (kind, request_id)
        assert _GUID.match(response.headers.get("x-ms-correlation-request-id", "")), kind


def test_request_of_any_kind_answers_utf8_json(arm: Arm) -> None:
    responses = _sample_responses(arm)
    with_body = {kind: response for kind, response in responses.items() if response.content}

    assert set(responses) - set(with_body) == {"accepted", "no content"}
    for kind, response in with_body.items():
        assert response.headers["Content-Type"] == "application/json; charset=utf-8", kind
        assert isinstance(response.json(), dict), kind


def test_request_failing_answers_a_cloud_error(arm: Arm) -> None:
    responses = _sample_responses(arm)
    failed = {kind: response for kind, response in responses.items() if response.status_code >= 400}

    assert set(failed) == {"not found", "bad request", "unauthorised", "method not allowed"}
    for kind, response in failed.items():
        error = response.json()["error"]
        assert set(error) >= {"code", "message"}, kind
        assert set(error) <= {"code", "message", "target", "details"}, kind


def test_request_repeated_gets_new_request_ids(arm: Arm) -> None:
    path = resource_group_path(unique("rg"))

    ids = {arm.get(path, "2025-04-01").headers["x-ms-request-id"] for _ in range(3)}

    assert len(ids) == 3


def test_request_with_correlation_id_echoes_it(arm: Arm) -> None:
    correlation = str(uuid.uuid4())

    ok = arm.get(
        gallery_path(*arm.parents()[:2]), headers={"x-ms-correlation-request-id": correlation}
    )
    missing = arm.get(
        resource_group_path(unique("rg")),
        "2025-04-01",
        headers={"x-ms-correlation-request-id": correlation},
    )

    assert ok.headers["x-ms-correlation-request-id"] == correlation
    assert missing.status_code == 404
    assert missing.headers["x-ms-correlation-request-id"] == correlation


def test_request_with_return_client_request_id_echoes_it(arm: Arm) -> None:
    client_id = str(uuid.uuid4())

    asked = arm.get(
        resource_group_path(unique("rg")),
        "2025-04-01",
        headers={"x-ms-client-request-id": client_id, "x-ms-return-client-request-id": "true"},
    )
    not_asked = arm.get(
        resource_group_path(unique("rg")),
        "2025-04-01",
        headers={"x-ms-client-request-id": client_id},
    )

    assert asked.headers["x-ms-client-request-id"] == client_id
    assert "x-ms-client-request-id" not in not_asked.headers


# -- long-running operations -------------------------------------------------------------------


def _operation_url(url: str, arm: Arm) -> tuple[str, dict[str, list[str]]]:
    """The path and query of an LRO header URL, after checking it is absolute on the service."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == arm.service.endpoint
    return parts.path, parse_qs(parts.query)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_write_version_returns_caps_operation_urls(arm: Arm, method: str) -> None:
    path = finished_version(arm)
    body = {
        "PUT": version_body(),
        "PATCH": {"properties": {"publishingProfile": {"replicaCount": 2}}},
        "DELETE": None,
    }[method]

    response = arm.request(method, path, body=body)

    status_path, status_query = _operation_url(response.headers["Azure-AsyncOperation"], arm)
    monitor_path, monitor_query = _operation_url(response.headers["Location"], arm)
    match = _CAPS_OPERATION.match(status_path)
    assert match is not None, status_path
    assert _GUID.match(match.group(1))
    assert monitor_path == status_path
    assert status_query == {"api-version": ["2025-03-03"]}
    assert monitor_query == {"api-version": ["2025-03-03"], "monitor": ["true"]}
    assert int(response.headers["retry-after-ms"]) > 0
    assert response.headers.get("Retry-After") != "0"
    arm.wait(response)


def test_get_operation_status_finished_has_id_name_and_times(arm: Arm) -> None:
    _, response = created_version(arm)
    url = response.headers["Azure-AsyncOperation"]
    match = _CAPS_OPERATION.match(urlsplit(url).path)
    assert match is not None

    arm.wait(response)
    status = arm.session.get(url, timeout=10)

    assert status.status_code == 200
    body = status.json()
    assert body["id"] == urlsplit(url).path
    assert body["name"] == match.group(1)
    assert body["status"] == "Succeeded"
    assert body["startTime"] <= body["endTime"]
    assert "error" not in body
    assert "Retry-After" not in status.headers


def test_get_operation_status_running_has_no_end_time(slow_arm: Arm) -> None:
    _, response = created_version(slow_arm)

    status = slow_arm.session.get(response.headers["Azure-AsyncOperation"], timeout=10)

    assert status.status_code == 200
    assert status.json()["status"] == "InProgress"
    assert "startTime" in status.json()
    assert "endTime" not in status.json()
    assert int(status.headers["retry-after-ms"]) > 0


def test_an_operation_that_runs_longer_is_polled_less_often(
    fresh_service: ServiceProcess,
) -> None:
    arm = Arm(fresh_service.start())
    parents = arm.parents()
    arm.close()
    # Long enough that the version's operation still runs at the second look, however slow
    # the machine.
    fresh_service.args = ["--operation-seconds", "30"]
    arm = Arm(fresh_service.restart())
    try:
        response = arm.put(version_path(*parents, "1.0.0"), version_body())
        assert response.status_code == 201, response.text
        url = response.headers["Azure-AsyncOperation"]
        first = int(response.headers["retry-after-ms"])

        time.sleep(0.6)
        later = arm.session.get(url, timeout=10)
    finally:
        arm.close()

    assert later.json()["status"] == "InProgress"
    # At first a few milliseconds; then a quarter of the time the operation has run.
    assert 0 < first <= 10
    assert 150 <= int(later.headers["retry-after-ms"]) <= 1000


def test_polls_are_never_further_apart_than_a_second(tmp_path: Path) -> None:
    from compute_gallery import clock
    from compute_gallery.arm import lro
    from compute_gallery.settings import Settings
    from compute_gallery.storage import Operation

    settings = Settings(data_dir=tmp_path)
    started_an_hour_ago = Operation(
        "op",
        "provision",
        "s",
        "eastus",
        "k",
        "K",
        "2025-03-03",
        start_time=clock.iso(clock.time() - 3600),
    )
    unknown_start = Operation("op", "provision", "s", "eastus", "k", "K", "2025-03-03")

    assert lro.poll_headers(settings, started_an_hour_ago) == {"retry-after-ms": "1000"}
    assert lro.poll_headers(settings, unknown_start) == {"retry-after-ms": "4"}
    azure = Settings(data_dir=tmp_path, lro_mode="azure")
    assert lro.poll_headers(azure, started_an_hour_ago) == {}


def test_get_monitor_url_of_put_returns_202_then_the_resource(slow_arm: Arm) -> None:
    path, response = created_version(slow_arm)
    monitor = response.headers["Location"]

    running = slow_arm.session.get(monitor, timeout=10)
    meanwhile = slow_arm.get(path)
    listed = slow_arm.get(path.rsplit("/", 1)[0])
    done = slow_arm.poll(monitor)

    assert running.status_code == 202
    assert running.content == b""
    assert meanwhile.json()["properties"]["provisioningState"] == "Creating"
    assert [v["properties"]["provisioningState"] for v in listed.json()["value"]] == ["Creating"]
    assert done.status_code == 200
    assert done.json()["id"] == path
    assert done.json()["properties"]["provisioningState"] == "Succeeded"


def test_get_monitor_url_of_delete_returns_202_then_empty_200(slow_arm: Arm) -> None:
    path, created = created_version(slow_arm)
    slow_arm.wait(created)

    response = slow_arm.request("DELETE", path)
    running = slow_arm.session.get(response.headers["Location"], timeout=10)
    meanwhile = slow_arm.get(path)
    done = slow_arm.poll(response.headers["Location"])

    assert running.status_code == 202
    assert meanwhile.json()["properties"]["provisioningState"] == "Deleting"
    assert done.status_code == 200
    assert done.content == b""
    cloud_error(slow_arm.get(path), 404, "ResourceNotFound")


# -- body shape --------------------------------------------------------------------------------


def test_put_version_with_empty_tags_omits_them(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")
    body = version_body()
    body["tags"] = {}

    response = arm.put(path, body)

    assert response.status_code == 201
    assert "tags" not in response.json()
    assert "tags" not in arm.get(path).json()


def test_put_version_with_tags_then_without_removes_them(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")
    body = version_body()
    body["tags"] = {"team": "apps"}
    arm.wait(arm.put(path, body))

    response = arm.put(path, version_body())

    assert response.json().get("tags") is None
    assert "tags" not in arm.get(path).json()


def test_put_version_display_location_is_normalised(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")

    response = arm.put(path, version_body(location="East US 2"))

    assert response.json()["location"] == "eastus2"
    assert arm.get(path).json()["location"] == "eastus2"


def test_put_gallery_display_location_is_normalised(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = arm.put(gallery_path(group, unique("gal")), {"location": "East US 2"})

    assert response.status_code == 201
    assert response.json()["location"] == "eastus2"


def test_put_version_other_location_returns_409(arm: Arm) -> None:
    path = finished_version(arm)

    response = arm.put(path, version_body(location="westus2", targetRegions=[{"name": "westus2"}]))

    error = cloud_error(response, 409, "PropertyChangeNotAllowed")
    assert error["target"] == "galleryApplicationVersion.location"
    assert (
        error["message"] == "Changing property 'galleryApplicationVersion.location' is not allowed."
    )


def test_put_version_same_location_other_spelling_is_accepted(arm: Arm) -> None:
    path = finished_version(arm)

    response = arm.put(path, version_body(location="East US 2"))

    assert response.status_code == 200, response.text


def test_put_gallery_other_location_returns_409(arm: Arm) -> None:
    group, gallery = unique("rg"), unique("gal")
    arm.create_group(group)
    arm.create_gallery(group, gallery)

    response = arm.put(gallery_path(group, gallery), {"location": "westus2"})

    error = cloud_error(response, 409, "InvalidResourceLocation")
    assert error["message"] == (
        f"The resource '{gallery}' already exists in location 'eastus2' in resource group "
        f"'{group}'. A resource with the same name cannot be created in location 'westus2'. "
        "Please select a new resource name."
    )


# -- names and case ----------------------------------------------------------------------------


def test_get_version_with_path_in_other_case_finds_it(arm: Arm) -> None:
    group, gallery, application = arm.parents()
    path = version_path(group, gallery, application, "1.0.0")
    arm.wait(arm.put(path, version_body()))
    shouted = (
        f"/SUBSCRIPTIONS/{SUBSCRIPTION}/RESOURCEGROUPS/{group}/PROVIDERS/microsoft.compute/"
        f"GALLERIES/{gallery}/Applications/{application}/VERSIONS/1.0.0"
    )

    response = arm.get(shouted)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == path


def test_get_gallery_by_name_in_other_case_finds_it(arm: Arm) -> None:
    group, gallery = unique("rg"), unique("gal")
    arm.create_group(group)
    arm.create_gallery(group, gallery)

    response = arm.get(gallery_path(group.upper(), gallery.upper()))

    assert response.status_code == 200, response.text
    assert response.json()["name"] == gallery


def test_put_gallery_in_other_case_keeps_latest_casing(arm: Arm) -> None:
    group, gallery = unique("rg"), unique("gal")
    arm.create_group(group)
    arm.create_gallery(group, gallery)

    response = arm.put(gallery_path(group, gallery.upper()), {"location": "eastus2"})
    listed = arm.get(gallery_path(group, gallery).rsplit("/", 1)[0])

    assert response.status_code == 200, response.text
    assert response.json()["name"] == gallery.upper()
    assert arm.get(gallery_path(group, gallery)).json()["name"] == gallery.upper()
    assert [g["name"] for g in listed.json()["value"]] == [gallery.upper()]


def test_put_application_in_other_case_under_parent_in_other_case_succeeds(arm: Arm) -> None:
    group, gallery, application = arm.parents()

    response = arm.put(
        application_path(group.upper(), gallery.upper(), application),
        {"location": "eastus2", "properties": {"supportedOSType": "Linux"}},
    )

    assert response.status_code == 200, response.text


# -- authentication, routing, limits -----------------------------------------------------------


def test_request_without_authorization_returns_401(arm: Arm) -> None:
    response = requests.get(
        arm.service.url(resource_group_path("rg")),
        params={"api-version": "2025-04-01"},
        verify=arm.service.verify,
        timeout=10,
    )

    error = cloud_error(response, 401, "AuthenticationFailed")
    assert error["message"] == "Authentication failed. The 'Authorization' header is missing."
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_request_with_basic_authorization_returns_401(arm: Arm) -> None:
    response = arm.get(
        resource_group_path("rg"), "2025-04-01", headers={"Authorization": "Basic x"}
    )

    cloud_error(response, 401, "InvalidAuthenticationToken")


def test_request_unknown_route_returns_404(arm: Arm) -> None:
    response = arm.get(f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/disks")

    error = cloud_error(response, 404, "NotFound")
    assert "No HTTP resource was found" in error["message"]


def test_request_wrong_method_returns_405(arm: Arm) -> None:
    response = arm.request("POST", version_path(*arm.parents(), "1.0.0"))

    error = cloud_error(response, 405, "MethodNotAllowed")
    assert "'POST'" in error["message"]


def test_head_resource_group_answers_without_body(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    present = arm.request("HEAD", resource_group_path(group), "2025-04-01")
    absent = arm.request("HEAD", resource_group_path(unique("rg")), "2025-04-01")

    assert present.status_code == 204
    assert absent.status_code == 404
    assert present.content == absent.content == b""


def test_put_body_over_4_mib_returns_413(arm: Arm) -> None:
    path = version_path(*arm.parents(), "1.0.0")
    body = b'{"location": "eastus2", "tags": {"a": "' + b"x" * (4 * 1024 * 1024) + b'"}}'

    response = arm.request("PUT", path, raw=body, headers={"Content-Type": "application/json"})

    error = cloud_error(response, 413, "RequestEntityTooLarge")
    assert "4 MiB" in error["message"]


def test_get_health_returns_200(arm: Arm) -> None:
    response = arm.session.get(arm.service.url("/_emulator/health"), timeout=10)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_request_unknown_route_without_authorization_returns_401(arm: Arm) -> None:
    response = requests.get(
        arm.service.url(f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/disks"),
        verify=arm.service.verify,
        timeout=10,
    )

    cloud_error(response, 401, "AuthenticationFailed")


def test_list_with_malformed_skip_token_returns_400(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = arm.get(
        f"{resource_group_path(group)}/providers/Microsoft.Compute/galleries",
        params={"$skipToken": "%%%"},
    )

    error = cloud_error(response, 400, "InvalidParameter")
    assert error["target"] == "$skipToken"


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data"])
def test_put_with_non_json_content_type_returns_415(arm: Arm, content_type: str) -> None:
    group = unique("rg")

    response = arm.request(
        "PUT",
        resource_group_path(group),
        "2025-04-01",
        raw=b'{"location": "eastus2"}',
        headers={"Content-Type": content_type},
    )

    error = cloud_error(response, 415, "UnsupportedMediaType")
    assert f"'{content_type}'" in error["message"]
    cloud_error(arm.get(resource_group_path(group), "2025-04-01"), 404, "ResourceGroupNotFound")


def test_put_with_json_content_type_and_charset_is_accepted(arm: Arm) -> None:
    response = arm.request(
        "PUT",
        resource_group_path(unique("rg")),
        "2025-04-01",
        raw=b'{"location": "eastus2"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 201
