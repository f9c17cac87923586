"""The official SDKs, at their default api-versions, through the whole life of every resource."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.pipeline import PipelineResponse
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    Gallery,
    GalleryApplication,
    GalleryApplicationCustomAction,
    GalleryApplicationCustomActionParameter,
    GalleryApplicationProperties,
    GalleryApplicationUpdate,
    GalleryApplicationVersion,
    GalleryApplicationVersionProperties,
    GalleryApplicationVersionPublishingProfile,
    GalleryApplicationVersionSafetyProfile,
    GalleryApplicationVersionUpdate,
    GalleryProperties,
    GalleryUpdate,
    TargetRegion,
    UserArtifactManage,
    UserArtifactSettings,
    UserArtifactSource,
)
from azure.mgmt.resource.resources import ResourceManagementClient

from . import support
from .support import SUBSCRIPTION, FakeCredential, ServiceProcess, unique

# Far enough ahead that no run of the suite reaches it, whole seconds so it compares exactly.
END_OF_LIFE = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=365)


def own_subscription_clients(
    service: ServiceProcess,
) -> tuple[ComputeManagementClient, ResourceManagementClient]:
    """Clients for a subscription no other test uses, so that its lists hold only our resources."""
    subscription = str(uuid.uuid4())
    options: dict[str, Any] = {"base_url": service.endpoint, "connection_verify": service.verify}
    return (
        ComputeManagementClient(FakeCredential(), subscription, **options),  # type: ignore[arg-type]
        ResourceManagementClient(FakeCredential(), subscription, **options),  # type: ignore[arg-type]
    )


def create_parents(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> tuple[str, str, str]:
    """A new resource group, gallery and Linux application in East US 2; returns their names."""
    group, gallery, application = unique("rg"), unique("gal"), unique("app")
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    compute.galleries.begin_create_or_update(group, gallery, Gallery(location="eastus2")).result()
    compute.gallery_applications.begin_create_or_update(
        group,
        gallery,
        application,
        GalleryApplication(location="eastus2", supported_os_type="Linux"),
    ).result()
    return group, gallery, application


def minimal_version() -> GalleryApplicationVersion:
    return GalleryApplicationVersion(
        location="eastus2",
        properties=GalleryApplicationVersionProperties(
            publishing_profile=GalleryApplicationVersionPublishingProfile(
                source=UserArtifactSource(media_link=support.PACKAGE_URL),
                manage_actions=UserArtifactManage(install="bash install.sh", remove="bash rm.sh"),
            )
        ),
    )


def full_version() -> GalleryApplicationVersion:
    """A version using every option an application version has."""
    return GalleryApplicationVersion(
        location="eastus2",
        tags={"team": "apps"},
        properties=GalleryApplicationVersionProperties(
            publishing_profile=GalleryApplicationVersionPublishingProfile(
                source=UserArtifactSource(
                    media_link=support.PACKAGE_URL, default_configuration_link=support.CONFIG_URL
                ),
                manage_actions=UserArtifactManage(
                    install="bash install.sh",
                    remove="bash remove.sh",
                    update_property="bash update.sh",
                ),
                settings=UserArtifactSettings(
                    package_file_name="app.zip",
                    config_file_name="app.json",
                    script_behavior_after_reboot="Rerun",
                ),
                advanced_settings={"timeoutSeconds": "600"},
                custom_actions=[
                    GalleryApplicationCustomAction(
                        name="restart",
                        script="systemctl restart app",
                        description="Restart the application",
                        parameters=[
                            GalleryApplicationCustomActionParameter(
                                name="delay",
                                required=False,
                                type="String",
                                default_value="0",
                                description="Seconds to wait first",
                            )
                        ],
                    )
                ],
                target_regions=[
                    TargetRegion(name="eastus2", regional_replica_count=2),
                    TargetRegion(
                        name="West US",
                        regional_replica_count=3,
                        storage_account_type="Standard_LRS",
                        exclude_from_latest=True,
                    ),
                    TargetRegion(name="westeurope", regional_replica_count=1),
                    # No count: it takes the version's replicaCount.
                    TargetRegion(name="northcentralus"),
                ],
                replica_count=2,
                end_of_life_date=END_OF_LIFE,
                exclude_from_latest=True,
                enable_health_check=True,
            ),
            safety_profile=GalleryApplicationVersionSafetyProfile(
                allow_deletion_of_replicated_locations=False
            ),
        ),
    )


def regions(version: GalleryApplicationVersion) -> dict[str, dict[str, Any]]:
    """The version's target regions by display name, as plain wire-shaped dicts."""
    return {
        region.name: region.as_dict()
        for region in version.properties.publishing_profile.target_regions
    }


class StatusRecorder:
    """A ``raw_response_hook``: the method and status of every response a call received."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, response: PipelineResponse[Any, Any]) -> None:
        self.seen.append((response.http_request.method, response.http_response.status_code))


# -- resource groups -------------------------------------------------------------------------


def test_create_or_update_resource_group_returns_it_and_get_reads_it(
    resources: ResourceManagementClient,
) -> None:
    group = unique("rg")

    created = resources.resource_groups.create_or_update(
        group, {"location": "East US 2", "tags": {"env": "test"}}
    )
    replaced = resources.resource_groups.create_or_update(
        group, {"location": "eastus2", "tags": {"env": "prod"}}
    )
    read = resources.resource_groups.get(group)

    assert created.name == group
    assert created.location == "eastus2"
    assert created.tags == {"env": "test"}
    assert created.properties.provisioning_state == "Succeeded"
    assert read.id == f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}"
    assert read.tags == {"env": "prod"} == replaced.tags


def test_check_existence_resource_group_answers_true_then_false(
    resources: ResourceManagementClient,
) -> None:
    group = unique("rg")

    before = resources.resource_groups.check_existence(group)
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    after = resources.resource_groups.check_existence(group)

    assert before is False
    assert after is True


def test_list_resource_groups_with_top_pages_through_every_group(service: ServiceProcess) -> None:
    _, resources = own_subscription_clients(service)
    groups = sorted(unique("rg") for _ in range(7))
    for group in groups:
        resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    pages_seen = StatusRecorder()

    listed = [
        group.name for group in resources.resource_groups.list(top=3, raw_response_hook=pages_seen)
    ]

    assert sorted(listed) == groups
    assert len(pages_seen.seen) == 3  # 3 + 3 + 1


def test_list_resource_groups_beyond_default_page_size_follows_next_link(
    service: ServiceProcess,
) -> None:
    _, resources = own_subscription_clients(service)
    groups = {unique("rg") for _ in range(101)}
    for group in groups:
        resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    pages_seen = StatusRecorder()

    listed = [group.name for group in resources.resource_groups.list(raw_response_hook=pages_seen)]

    assert len(listed) == 101
    assert set(listed) == groups
    assert pages_seen.seen == [("GET", 200), ("GET", 200)]


def test_delete_resource_group_removes_it_and_everything_in_it(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)
    compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", minimal_version()
    ).result()

    resources.resource_groups.begin_delete(group).result()

    assert resources.resource_groups.check_existence(group) is False
    with pytest.raises(ResourceNotFoundError) as missing:
        compute.galleries.get(group, gallery)
    assert missing.value.error.code == "ResourceGroupNotFound"
    # A new group of the same name starts empty: the children went with the old one.
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    assert list(compute.galleries.list_by_resource_group(group)) == []
    with pytest.raises(ResourceNotFoundError) as parent_missing:
        compute.gallery_application_versions.get(group, gallery, application, "1.0.0")
    assert parent_missing.value.error.code == "ParentResourceNotFound"


# -- galleries -------------------------------------------------------------------------------


def test_create_or_update_gallery_succeeds_and_get_reads_it(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery = unique("rg"), unique("gal")
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})

    created = compute.galleries.begin_create_or_update(
        group, gallery, Gallery(location="East US 2", description="Team apps", tags={"a": "1"})
    ).result()
    read = compute.galleries.get(group, gallery)

    assert created.properties.provisioning_state == "Succeeded"
    assert created.location == "eastus2"
    assert created.properties.description == "Team apps"
    assert created.properties.identifier.unique_name.endswith(f"-{gallery.upper()}")
    assert read.as_dict() == created.as_dict()


def test_update_gallery_changes_description_and_replaces_tags(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery = unique("rg"), unique("gal")
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    compute.galleries.begin_create_or_update(
        group, gallery, Gallery(location="eastus2", description="old", tags={"a": "1", "b": "2"})
    ).result()

    updated = compute.galleries.begin_update(
        group,
        gallery,
        GalleryUpdate(properties=GalleryProperties(description="new"), tags={"c": "3"}),
    ).result()
    tags_only = compute.galleries.begin_update(
        group, gallery, GalleryUpdate(tags={"d": "4"})
    ).result()

    assert updated.properties.description == "new"
    assert updated.tags == {"c": "3"}
    assert updated.properties.provisioning_state == "Succeeded"
    assert tags_only.properties.description == "new"
    assert compute.galleries.get(group, gallery).tags == {"d": "4"}


def test_list_galleries_by_resource_group_and_by_subscription(service: ServiceProcess) -> None:
    compute, resources = own_subscription_clients(service)
    first, second = unique("rg"), unique("rg")
    names = {first: [unique("gal"), unique("gal")], second: [unique("gal")]}
    for group, galleries in names.items():
        resources.resource_groups.create_or_update(group, {"location": "eastus2"})
        for gallery in galleries:
            compute.galleries.begin_create_or_update(
                group, gallery, Gallery(location="eastus2")
            ).result()

    in_first = [g.name for g in compute.galleries.list_by_resource_group(first)]
    everywhere = [g.name for g in compute.galleries.list()]

    assert sorted(in_first) == sorted(names[first])
    assert sorted(everywhere) == sorted(names[first] + names[second])


def test_delete_gallery_removes_it(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery = unique("rg"), unique("gal")
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    compute.galleries.begin_create_or_update(group, gallery, Gallery(location="eastus2")).result()

    compute.galleries.begin_delete(group, gallery).result()

    with pytest.raises(ResourceNotFoundError) as missing:
        compute.galleries.get(group, gallery)
    assert missing.value.error.code == "ResourceNotFound"
    assert list(compute.galleries.list_by_resource_group(group)) == []


def test_delete_gallery_with_application_raises_cannot_delete_resource(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)

    with pytest.raises(ResourceExistsError) as refused:
        compute.galleries.begin_delete(group, gallery).result()

    assert refused.value.status_code == 409
    assert refused.value.error.code == "CannotDeleteResource"
    assert application in refused.value.error.message
    assert compute.galleries.get(group, gallery).properties.provisioning_state == "Succeeded"


# -- gallery applications --------------------------------------------------------------------


def test_create_or_update_application_returns_it_and_get_reads_it(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery = unique("rg"), unique("gal")
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    compute.galleries.begin_create_or_update(group, gallery, Gallery(location="eastus2")).result()

    created = compute.gallery_applications.begin_create_or_update(
        group,
        gallery,
        "web-app",
        GalleryApplication(
            location="eastus2",
            tags={"team": "web"},
            properties=GalleryApplicationProperties(
                supported_os_type="Windows",
                description="The web application",
                eula="Use at will",
                end_of_life_date=END_OF_LIFE,
            ),
        ),
    ).result()
    read = compute.gallery_applications.get(group, gallery, "web-app")

    assert created.name == "web-app"
    assert created.properties.supported_os_type == "Windows"
    assert created.properties.end_of_life_date == END_OF_LIFE
    assert read.as_dict() == created.as_dict()


def test_update_application_changes_description_and_keeps_the_rest(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)

    updated = compute.gallery_applications.begin_update(
        group,
        gallery,
        application,
        GalleryApplicationUpdate(
            tags={"stage": "beta"},
            properties=GalleryApplicationProperties(description="Now described"),
        ),
    ).result()

    assert updated.properties.description == "Now described"
    assert updated.properties.supported_os_type == "Linux"
    assert updated.tags == {"stage": "beta"}
    read = compute.gallery_applications.get(group, gallery, application)
    assert read.as_dict() == updated.as_dict()


def test_list_applications_by_gallery_returns_each(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, first = create_parents(compute, resources)
    second = unique("app")
    compute.gallery_applications.begin_create_or_update(
        group, gallery, second, GalleryApplication(location="eastus2", supported_os_type="Windows")
    ).result()

    listed = {a.name: a for a in compute.gallery_applications.list_by_gallery(group, gallery)}

    assert set(listed) == {first, second}
    assert listed[second].properties.supported_os_type == "Windows"


def test_delete_application_removes_it(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)

    compute.gallery_applications.begin_delete(group, gallery, application).result()

    with pytest.raises(ResourceNotFoundError):
        compute.gallery_applications.get(group, gallery, application)
    assert list(compute.gallery_applications.list_by_gallery(group, gallery)) == []
    # With its last application gone, the gallery can go too.
    compute.galleries.begin_delete(group, gallery).result()


def test_create_or_update_application_with_other_os_type_raises_property_change_not_allowed(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)

    with pytest.raises(ResourceExistsError) as refused:
        compute.gallery_applications.begin_create_or_update(
            group,
            gallery,
            application,
            GalleryApplication(location="eastus2", supported_os_type="Windows"),
        ).result()

    assert refused.value.status_code == 409
    assert refused.value.error.code == "PropertyChangeNotAllowed"
    assert refused.value.error.target == "galleryApplication.properties.supportedOSType"
    read = compute.gallery_applications.get(group, gallery, application)
    assert read.properties.supported_os_type == "Linux"


def test_update_application_with_other_os_type_raises_property_change_not_allowed(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)

    with pytest.raises(HttpResponseError) as refused:
        compute.gallery_applications.begin_update(
            group,
            gallery,
            application,
            GalleryApplicationUpdate(
                properties=GalleryApplicationProperties(supported_os_type="Windows")
            ),
        ).result()

    assert refused.value.status_code == 409
    assert refused.value.error.code == "PropertyChangeNotAllowed"
    assert refused.value.error.target == "galleryApplication.properties.supportedOSType"


# -- gallery application versions ------------------------------------------------------------


def test_create_or_update_version_with_every_option_stores_them(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)

    started = time.perf_counter()
    created = compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.2.3", full_version()
    ).result()
    elapsed = time.perf_counter() - started

    # A guard, not a measurement: the poller must not fall back to its 30 s default interval.
    assert elapsed < 5
    properties = created.properties
    profile = properties.publishing_profile
    assert properties.provisioning_state == "Succeeded"
    assert created.tags == {"team": "apps"}
    assert profile.source.default_configuration_link == support.CONFIG_URL
    assert profile.manage_actions.update_property == "bash update.sh"
    assert profile.settings.as_dict() == {
        "packageFileName": "app.zip",
        "configFileName": "app.json",
        "scriptBehaviorAfterReboot": "Rerun",
    }
    assert profile.advanced_settings == {"timeoutSeconds": "600"}
    assert profile.custom_actions[0].parameters[0].default_value == "0"
    assert profile.replica_count == 2
    assert profile.end_of_life_date == END_OF_LIFE
    assert profile.exclude_from_latest is True
    assert profile.enable_health_check is True
    assert properties.safety_profile.allow_deletion_of_replicated_locations is False
    assert regions(created) == {
        "East US 2": {
            "name": "East US 2",
            "regionalReplicaCount": 2,
            "storageAccountType": "Standard_ZRS",
        },
        "West US": {
            "name": "West US",
            "regionalReplicaCount": 3,
            "storageAccountType": "Standard_LRS",
            "excludeFromLatest": True,
        },
        "West Europe": {
            "name": "West Europe",
            "regionalReplicaCount": 1,
            "storageAccountType": "Standard_ZRS",
        },
        # Without availability zones the PreferStandard_ZRS strategy falls back to LRS.
        "North Central US": {
            "name": "North Central US",
            "regionalReplicaCount": 2,
            "storageAccountType": "Standard_LRS",
        },
    }
    read = compute.gallery_application_versions.get(group, gallery, application, "1.2.3")
    assert read.as_dict() == created.as_dict()


def test_create_or_update_version_without_options_fills_defaults(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)
    before = dt.datetime.now(dt.UTC)

    created = compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", minimal_version()
    ).result()

    profile = created.properties.publishing_profile
    assert before - dt.timedelta(seconds=5) <= profile.published_date <= dt.datetime.now(dt.UTC)
    assert profile.replica_count == 1
    assert profile.exclude_from_latest is False
    assert profile.enable_health_check is False
    assert profile.storage_account_strategy == "PreferStandard_ZRS"
    assert profile.storage_account_type is None
    assert [r.as_dict() for r in profile.target_regions] == [
        {"name": "East US 2", "regionalReplicaCount": 1, "storageAccountType": "Standard_ZRS"}
    ]
    assert created.location == "eastus2"
    assert created.properties.provisioning_state == "Succeeded"


def test_get_version_with_replication_status_shows_every_region_completed(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)
    compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", full_version()
    ).result()

    plain = compute.gallery_application_versions.get(group, gallery, application, "1.0.0")
    expanded = compute.gallery_application_versions.get(
        group, gallery, application, "1.0.0", expand="ReplicationStatus"
    )

    assert plain.properties.replication_status is None
    status = expanded.properties.replication_status
    assert status.aggregated_state == "Completed"
    assert {(s.region, s.state, s.progress) for s in status.summary} == {
        (region, "Completed", 100)
        for region in ("East US 2", "West US", "West Europe", "North Central US")
    }


def test_update_version_changes_replica_counts_and_tags(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)
    created = compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", full_version()
    ).result()

    updated = compute.gallery_application_versions.begin_update(
        group,
        gallery,
        application,
        "1.0.0",
        GalleryApplicationVersionUpdate(
            tags={"team": "platform"},
            properties=GalleryApplicationVersionProperties(
                publishing_profile=GalleryApplicationVersionPublishingProfile(
                    replica_count=3,
                    target_regions=[
                        TargetRegion(name="East US 2", regional_replica_count=3),
                        TargetRegion(name="West US", regional_replica_count=1),
                        TargetRegion(name="West Europe", regional_replica_count=2),
                        TargetRegion(name="North Central US", regional_replica_count=1),
                    ],
                )
            ),
        ),
    ).result()

    assert updated.properties.provisioning_state == "Succeeded"
    assert updated.tags == {"team": "platform"}
    assert {name: r["regionalReplicaCount"] for name, r in regions(updated).items()} == {
        "East US 2": 3,
        "West US": 1,
        "West Europe": 2,
        "North Central US": 1,
    }
    profile, before = updated.properties.publishing_profile, created.properties.publishing_profile
    assert profile.replica_count == 3
    assert profile.manage_actions.as_dict() == before.manage_actions.as_dict()
    assert profile.custom_actions[0].as_dict() == before.custom_actions[0].as_dict()
    assert profile.published_date == before.published_date


def test_create_or_update_version_after_get_replaces_it_with_status_200(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)
    compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", full_version()
    ).result()
    read = compute.gallery_application_versions.get(group, gallery, application, "1.0.0")
    read.tags = {"team": "apps", "reviewed": "yes"}
    read.properties.publishing_profile.exclude_from_latest = False
    responses = StatusRecorder()

    replaced = compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", read, raw_response_hook=responses
    ).result()

    assert responses.seen[0] == ("PUT", 200)
    assert replaced.properties.provisioning_state == "Succeeded"
    assert replaced.tags == {"team": "apps", "reviewed": "yes"}
    profile = replaced.properties.publishing_profile
    assert profile.exclude_from_latest is False
    assert profile.published_date == read.properties.publishing_profile.published_date
    assert set(regions(replaced)) == set(regions(read))


def test_list_versions_by_gallery_application_returns_each(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)
    for name in ("1.0.0", "1.0.1", "2.0.0"):
        compute.gallery_application_versions.begin_create_or_update(
            group, gallery, application, name, minimal_version()
        ).result()

    listed = list(
        compute.gallery_application_versions.list_by_gallery_application(
            group, gallery, application
        )
    )

    assert sorted(v.name for v in listed) == ["1.0.0", "1.0.1", "2.0.0"]
    assert {v.properties.provisioning_state for v in listed} == {"Succeeded"}


def test_delete_version_then_get_raises_resource_not_found(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = create_parents(compute, resources)
    compute.gallery_application_versions.begin_create_or_update(
        group, gallery, application, "1.0.0", minimal_version()
    ).result()

    compute.gallery_application_versions.begin_delete(group, gallery, application, "1.0.0").result()

    with pytest.raises(ResourceNotFoundError) as missing:
        compute.gallery_application_versions.get(group, gallery, application, "1.0.0")
    assert missing.value.error.code == "ResourceNotFound"
    versions = compute.gallery_application_versions.list_by_gallery_application(
        group, gallery, application
    )
    assert list(versions) == []
    # With its last version gone, the application can go too.
    compute.gallery_applications.begin_delete(group, gallery, application).result()
