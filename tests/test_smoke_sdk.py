"""The official SDKs create a whole chain of resources against a real service process."""

from __future__ import annotations

import time

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    Gallery,
    GalleryApplication,
    GalleryApplicationVersion,
    GalleryApplicationVersionProperties,
    GalleryApplicationVersionPublishingProfile,
    UserArtifactManage,
    UserArtifactSource,
)
from azure.mgmt.resource.resources import ResourceManagementClient

from . import support
from .support import unique


def test_create_version_with_sdk_defaults_succeeds(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> None:
    group, gallery, application = unique("rg"), unique("gal"), unique("app")
    resources.resource_groups.create_or_update(group, {"location": "eastus2"})
    compute.galleries.begin_create_or_update(group, gallery, Gallery(location="eastus2")).result()
    compute.gallery_applications.begin_create_or_update(
        group,
        gallery,
        application,
        GalleryApplication(location="eastus2", supported_os_type="Linux"),
    ).result()

    started = time.perf_counter()
    version = compute.gallery_application_versions.begin_create_or_update(
        group,
        gallery,
        application,
        "1.0.0",
        GalleryApplicationVersion(
            location="eastus2",
            properties=GalleryApplicationVersionProperties(
                publishing_profile=GalleryApplicationVersionPublishingProfile(
                    source=UserArtifactSource(media_link=support.PACKAGE_URL),
                    manage_actions=UserArtifactManage(install="i", remove="r"),
                )
            ),
        ),
    ).result()
    elapsed = time.perf_counter() - started

    assert version.properties.provisioning_state == "Succeeded"
    assert version.properties.publishing_profile.target_regions[0].name == "East US 2"
    # The poller must not fall back to its 30 s default interval.
    assert elapsed < 5
