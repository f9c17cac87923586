"""Every api-version real clients send: each accepted, answered in its own shape, or refused."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    Gallery,
    GalleryApplication,
    GalleryApplicationCustomAction,
    GalleryApplicationVersion,
    GalleryApplicationVersionProperties,
    GalleryApplicationVersionPublishingProfile,
    GalleryApplicationVersionUpdate,
    GalleryUpdate,
    TargetRegion,
    UserArtifactManage,
    UserArtifactSource,
)
from azure.mgmt.resource.resources import ResourceManagementClient

from . import support
from .support import (
    Arm,
    application_path,
    cloud_error,
    gallery_path,
    resource_group_path,
    unique,
    version_body,
    version_path,
)

# The versions clients pin: the Azure CLI (2021-07-01 applications, 2022-01-03 versions), the
# first version with applications (2019-03-01), and the two before the SDK's default.
OLDER_VERSIONS = ("2019-03-01", "2021-07-01", "2022-01-03", "2024-03-03", "2025-03-03")


def create_parents(
    compute: ComputeManagementClient, resources: ResourceManagementClient, api_version: str
) -> tuple[str, str, str]:
    """A resource group, and a gallery and Linux application created with ``api_version``."""
    group, gallery, application = unique("rg"), unique("gal"), unique("app")
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    compute.galleries.begin_create_or_update(
        group, gallery, Gallery(location="eastus2"), api_version=api_version
    ).result()
    compute.gallery_applications.begin_create_or_update(
        group,
        gallery,
        application,
        GalleryApplication(location="eastus2", supported_os_type="Linux"),
        api_version=api_version,
    ).result()
    return group, gallery, application


def version(**profile: Any) -> GalleryApplicationVersion:
    """An application version in East US 2 and West US, with ``profile`` added to its profile."""
    return GalleryApplicationVersion(
        location="eastus2",
        properties=GalleryApplicationVersionProperties(
            publishing_profile=GalleryApplicationVersionPublishingProfile(
                source=UserArtifactSource(media_link=support.PACKAGE_URL),
                manage_actions=UserArtifactManage(install="bash install.sh", remove="bash rm.sh"),
                target_regions=[TargetRegion(name="eastus2"), TargetRegion(name="westus")],
                **profile,
            )
        ),
    )


# -- the SDK with an api-version per call ----------------------------------------------------


@pytest.mark.parametrize("api_version", OLDER_VERSIONS)
def test_create_or_update_version_with_older_api_version_succeeds(
    compute: ComputeManagementClient, resources: ResourceManagementClient, api_version: str
) -> None:
    group, gallery, application = create_parents(compute, resources, api_version)

    created = compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", version(), api_version=api_version
    ).result()
    read = compute.gallery_application_versions.get(
        group, gallery, application, "1.0.0", api_version=api_version
    )
    listed = compute.gallery_application_versions.list_by_gallery_application(
        group, gallery, application, api_version=api_version
    )

    assert created.properties.provisioning_state == "Succeeded"
    assert read.as_dict() == created.as_dict()
    assert [v.as_dict() for v in listed] == [created.as_dict()]


@pytest.mark.parametrize(
    ("api_version", "account_type", "strategy", "regional"),
    [
        ("2019-03-01", "Standard_LRS", None, ["Standard_LRS", "Standard_LRS"]),
        ("2022-01-03", "Standard_LRS", None, ["Standard_LRS", "Standard_LRS"]),
        ("2024-03-03", "Standard_LRS", None, ["Standard_LRS", "Standard_LRS"]),
        # From 2025-03-03 the default is a strategy; West US has no zones, so no ZRS there.
        ("2025-03-03", None, "PreferStandard_ZRS", ["Standard_ZRS", "Standard_LRS"]),
    ],
)
def test_create_or_update_version_fills_storage_defaults_of_api_version(
    compute: ComputeManagementClient,
    resources: ResourceManagementClient,
    api_version: str,
    account_type: str | None,
    strategy: str | None,
    regional: list[str],
) -> None:
    group, gallery, application = create_parents(compute, resources, api_version)

    created = compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", version(), api_version=api_version
    ).result()

    profile = created.properties.publishing_profile
    assert profile.storage_account_type == account_type
    assert profile.storage_account_strategy == strategy
    assert [r.storage_account_type for r in profile.target_regions] == regional
    assert [r.name for r in profile.target_regions] == ["East US 2", "West US"]


def test_get_version_with_older_api_version_leaves_out_newer_properties(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources, "2025-03-03")
    compute.gallery_application_versions.begin_create_or_update(
        group,
        gallery,
        application,
        "1.0.0",
        version(
            custom_actions=[GalleryApplicationCustomAction(name="restart", script="restart.sh")],
            storage_account_strategy="DefaultStandard_LRS",
        ),
        api_version="2025-03-03",
    ).result()

    def profile_of(api_version: str) -> dict[str, Any]:
        read = compute.gallery_application_versions.get(
            group, gallery, application, "1.0.0", api_version=api_version
        )
        result: dict[str, Any] = read.as_dict()["properties"]["publishingProfile"]
        return result

    cli, with_actions, current = (
        profile_of("2022-01-03"),
        profile_of("2022-03-03"),
        profile_of("2025-03-03"),
    )

    assert "customActions" not in cli
    assert "storageAccountStrategy" not in cli
    assert with_actions["customActions"] == [{"name": "restart", "script": "restart.sh"}]
    assert "storageAccountStrategy" not in with_actions
    assert current["storageAccountStrategy"] == "DefaultStandard_LRS"
    assert current["customActions"] == with_actions["customActions"]


def test_create_or_update_version_with_older_api_version_keeps_newer_properties(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources, "2025-03-03")
    compute.gallery_application_versions.begin_create_or_update(
        group,
        gallery,
        application,
        "1.0.0",
        version(
            custom_actions=[GalleryApplicationCustomAction(name="restart", script="restart.sh")]
        ),
        api_version="2025-03-03",
    ).result()

    # What the Azure CLI does for an update: GET, change, PUT, all with 2022-01-03.
    read = compute.gallery_application_versions.get(
        group, gallery, application, "1.0.0", api_version="2022-01-03"
    )
    read.tags = {"updated-by": "cli"}
    read.properties.publishing_profile.exclude_from_latest = True
    compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", read, api_version="2022-01-03"
    ).result()
    after = compute.gallery_application_versions.get(
        group, gallery, application, "1.0.0", api_version="2025-03-03"
    )

    profile = after.properties.publishing_profile
    assert after.tags == {"updated-by": "cli"}
    assert profile.exclude_from_latest is True
    assert [a.as_dict() for a in profile.custom_actions] == [
        {"name": "restart", "script": "restart.sh"}
    ]
    assert profile.storage_account_strategy == "PreferStandard_ZRS"


def test_create_or_update_application_with_cli_api_version_is_synchronous(
    compute: ComputeManagementClient, resources: ResourceManagementClient, arm: Arm
) -> None:
    group, gallery, _ = create_parents(compute, resources, "2021-07-01")

    response = arm.put(
        application_path(group, gallery, "cli-app"),
        {"location": "eastus2", "properties": {"supportedOSType": "Windows"}},
        api_version="2021-07-01",
    )
    read = compute.gallery_applications.get(group, gallery, "cli-app", api_version="2021-07-01")

    assert response.status_code == 201, response.text
    assert "Azure-AsyncOperation" not in response.headers
    assert "provisioningState" not in response.json()["properties"]
    assert read.properties.supported_os_type == "Windows"


def test_update_version_with_2019_03_01_is_refused_with_method_not_allowed(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources, "2019-03-01")
    compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", version(), api_version="2019-03-01"
    ).result()

    # 2019-03-01 defines no PATCH operation on any gallery resource.
    with pytest.raises(HttpResponseError) as refused:
        compute.gallery_application_versions.begin_update(
            group,
            gallery,
            application,
            "1.0.0",
            GalleryApplicationVersionUpdate(tags={"a": "b"}),
            api_version="2019-03-01",
        ).result()

    assert refused.value.status_code == 405
    assert refused.value.error.code == "MethodNotAllowed"
    assert "2019-03-01" in refused.value.error.message
    read = compute.gallery_application_versions.get(group, gallery, application, "1.0.0")
    assert read.tags is None


def test_update_gallery_with_2019_03_01_is_refused_with_method_not_allowed(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, _ = create_parents(compute, resources, "2019-03-01")

    with pytest.raises(HttpResponseError) as refused:
        compute.galleries.begin_update(
            group, gallery, GalleryUpdate(tags={"a": "b"}), api_version="2019-03-01"
        ).result()

    assert refused.value.status_code == 405
    assert refused.value.error.code == "MethodNotAllowed"


def test_update_version_with_2019_07_01_succeeds(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources, "2019-07-01")
    compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", version(), api_version="2019-07-01"
    ).result()

    updated = compute.gallery_application_versions.begin_update(
        group,
        gallery,
        application,
        "1.0.0",
        GalleryApplicationVersionUpdate(tags={"a": "b"}),
        api_version="2019-07-01",
    ).result()

    assert updated.tags == {"a": "b"}
    assert updated.properties.provisioning_state == "Succeeded"


def test_list_versions_with_older_api_version_keeps_it_on_every_page(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources, "2025-03-03")
    names = [f"1.0.{patch}" for patch in range(5)]
    for name in names:
        compute.gallery_application_versions.begin_create_or_update(
            group, gallery, application, name, version()
        ).result()

    requested: list[str] = []

    # The SDK follows nextLink verbatim: later pages keep 2022-01-03 only if the link carries it.
    listed = list(
        compute.gallery_application_versions.list_by_gallery_application(
            group,
            gallery,
            application,
            api_version="2022-01-03",
            params={"$top": "2"},
            raw_response_hook=lambda response: requested.append(response.http_request.url),
        )
    )

    assert [v.name for v in listed] == names
    assert len(requested) == 3
    assert all("api-version=2022-01-03" in url for url in requested)
    for item in listed:
        profile = item.as_dict()["properties"]["publishingProfile"]
        assert "storageAccountStrategy" not in profile


# -- api-version errors, over REST -----------------------------------------------------------


def compute_paths() -> list[str]:
    # Fixed names: parameters must be the same in every pytest-xdist worker. None of these
    # resources exists, which is fine: api-version errors come before any lookup.
    group, gallery = "rg-api-versions", "galapiversions"
    return [
        gallery_path(group, gallery),
        application_path(group, gallery, "app"),
        version_path(group, gallery, "app", "1.0.0"),
    ]


@pytest.mark.parametrize("path", [*compute_paths(), resource_group_path("rg-api-versions")])
def test_request_without_api_version_returns_missing_api_version_parameter(
    arm: Arm, path: str
) -> None:
    response = arm.request("GET", path, api_version=None)

    error = cloud_error(response, 400, "MissingApiVersionParameter")
    assert "api-version" in error["message"]


@pytest.mark.parametrize("path", compute_paths())
@pytest.mark.parametrize("api_version", ["latest", "2025-3-3", "2025-03-03x", "20250303"])
def test_request_with_malformed_api_version_returns_invalid_api_version_parameter(
    arm: Arm, path: str, api_version: str
) -> None:
    response = arm.get(path, api_version=api_version)

    error = cloud_error(response, 400, "InvalidApiVersionParameter")
    assert f"'{api_version}'" in error["message"]
    assert "2025-03-03" in error["message"]


@pytest.mark.parametrize(
    ("path", "type_name"),
    zip(
        compute_paths(),
        ["galleries", "galleries/applications", "galleries/applications/versions"],
        strict=True,
    ),
)
@pytest.mark.parametrize("api_version", ["2018-06-01", "2030-01-01", "2025-03-03-preview"])
def test_request_with_unknown_api_version_returns_no_registered_provider_found(
    arm: Arm, path: str, type_name: str, api_version: str
) -> None:
    response = arm.get(path, api_version=api_version)

    error = cloud_error(response, 400, "NoRegisteredProviderFound")
    assert f"API version '{api_version}'" in error["message"]
    assert f"type '{type_name}'" in error["message"]
    assert "2025-03-03" in error["message"]


def test_put_with_unknown_api_version_names_the_body_location(arm: Arm) -> None:
    group = unique("rg")
    arm.create_group(group)

    response = arm.put(gallery_path(group, unique("gal")), {"location": "West US"}, "2030-01-01")

    error = cloud_error(response, 400, "NoRegisteredProviderFound")
    assert "location 'westus'" in error["message"]


@pytest.mark.parametrize("api_version", ["2030-01-01", "2025-03-03", "latest"])
def test_resource_group_request_with_unknown_api_version_returns_invalid_api_version_parameter(
    arm: Arm, api_version: str
) -> None:
    group = unique("rg")

    put = arm.request("PUT", resource_group_path(group), api_version, {"location": "eastus2"})
    get = arm.get(resource_group_path(group), api_version)

    for response in (put, get):
        error = cloud_error(response, 400, "InvalidApiVersionParameter")
        assert f"'{api_version}'" in error["message"]
        assert "2025-04-01" in error["message"]
    assert arm.get(resource_group_path(group), "2025-04-01").status_code == 404


# -- the LRO URLs and nextLink carry the request's api-version -------------------------------


@pytest.mark.parametrize("api_version", ["2019-03-01", "2022-01-03", "2025-03-03"])
def test_write_version_returns_operation_urls_with_request_api_version(
    arm: Arm, api_version: str
) -> None:
    group, gallery, application = arm.parents()
    path = version_path(group, gallery, application, "1.0.0")

    put = arm.put(path, version_body(), api_version)
    put_status = arm.wait(put)
    delete = arm.request("DELETE", path, api_version)
    delete_status = arm.wait(delete)

    assert (put.status_code, delete.status_code) == (201, 202)
    for response in (put, delete):
        for header in ("Azure-AsyncOperation", "Location"):
            url = urlsplit(response.headers[header])
            assert url.scheme == "https"
            assert parse_qs(url.query)["api-version"] == [api_version]
    assert (put_status["status"], delete_status["status"]) == ("Succeeded", "Succeeded")
    monitor = arm.session.get(delete.headers["Location"], timeout=10)
    assert monitor.status_code in (200, 204)


def follow_pages(arm: Arm, path: str, api_version: str) -> tuple[list[str], list[str]]:
    """Every item name over all pages of a ``$top=2`` list, and every nextLink followed."""
    names: list[str] = []
    links: list[str] = []
    response = arm.get(path, api_version, params={"$top": "2"})
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["value"]) <= 2
        names.extend(item["name"] for item in page["value"])
        if "nextLink" not in page:
            return names, links
        assert page["nextLink"], "nextLink must be absent on the last page, never empty"
        links.append(page["nextLink"])
        response = arm.session.get(page["nextLink"], timeout=10)


def test_list_versions_with_top_follows_next_link_to_the_end(arm: Arm) -> None:
    group, gallery, application = arm.parents()
    names = [f"1.0.{patch}" for patch in range(5)]
    for name in names:
        response = arm.put(version_path(group, gallery, application, name), version_body())
        assert response.status_code == 201, response.text

    listed, links = follow_pages(
        arm, f"{application_path(group, gallery, application)}/versions", "2022-01-03"
    )

    assert listed == names
    assert len(links) == 2
    for link in links:
        url = urlsplit(link)
        assert f"{url.scheme}://{url.netloc}" == arm.service.endpoint
        query = parse_qs(url.query)
        assert query["api-version"] == ["2022-01-03"]
        assert query["$skiptoken"][0]
        assert query["$top"] == ["2"]


def test_list_subscription_scoped_with_top_follows_next_link_to_the_end(arm: Arm) -> None:
    subscription = str(uuid.uuid4())
    groups = sorted(unique("rg") for _ in range(3))
    galleries = []
    for group in groups:
        group_path = f"/subscriptions/{subscription}/resourceGroups/{group}"
        response = arm.request("PUT", group_path, "2025-04-01", {"location": "eastus2"})
        assert response.status_code == 201, response.text
        gallery = unique("gal")
        galleries.append(gallery)
        response = arm.put(
            f"{group_path}/providers/Microsoft.Compute/galleries/{gallery}",
            {"location": "eastus2"},
        )
        assert response.status_code == 201, response.text

    listed_groups, group_links = follow_pages(
        arm, f"/subscriptions/{subscription}/resourcegroups", "2025-04-01"
    )
    listed_galleries, gallery_links = follow_pages(
        arm, f"/subscriptions/{subscription}/providers/Microsoft.Compute/galleries", "2021-10-01"
    )

    assert listed_groups == groups
    assert sorted(listed_galleries) == sorted(galleries)
    assert len(listed_galleries) == len(set(listed_galleries))
    assert [parse_qs(urlsplit(link).query)["api-version"] for link in group_links] == [
        ["2025-04-01"]
    ]
    assert [parse_qs(urlsplit(link).query)["api-version"] for link in gallery_links] == [
        ["2021-10-01"]
    ]
