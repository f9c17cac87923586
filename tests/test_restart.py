"""State across restarts: kept on disk through SIGTERM and SIGKILL, gone with ``--in-memory``."""

from __future__ import annotations

import signal
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    Gallery,
    GalleryApplication,
    GalleryApplicationCustomAction,
    GalleryApplicationVersion,
    GalleryApplicationVersionProperties,
    GalleryApplicationVersionPublishingProfile,
    TargetRegion,
    UserArtifactManage,
    UserArtifactSource,
)
from azure.mgmt.resource.resources import ResourceManagementClient

from . import support
from .conftest import compute_client, resource_client
from .support import (
    Arm,
    ServiceProcess,
    application_path,
    gallery_path,
    unique,
    version_body,
    version_path,
)

DATABASE_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite", ".sqlite3")


def create_everything(
    compute: ComputeManagementClient, resources: ResourceManagementClient
) -> tuple[str, str, str, str]:
    """A resource group, gallery, application and version, all finished; returns their names."""
    group, gallery, application, version = unique("rg"), unique("gal"), unique("app"), "1.2.3"
    resources.resource_groups.create_or_update(group, {"location": "eastus2", "tags": {"a": "1"}})
    compute.galleries.begin_create_or_update(
        group, gallery, Gallery(location="eastus2", description="kept")
    ).result()
    compute.gallery_applications.begin_create_or_update(
        group,
        gallery,
        application,
        GalleryApplication(location="eastus2", supported_os_type="Linux", description="kept"),
    ).result()
    compute.gallery_application_versions.begin_create_or_update(
        group,
        gallery,
        application,
        version,
        GalleryApplicationVersion(
            location="eastus2",
            tags={"b": "2"},
            properties=GalleryApplicationVersionProperties(
                publishing_profile=GalleryApplicationVersionPublishingProfile(
                    source=UserArtifactSource(media_link=support.PACKAGE_URL),
                    manage_actions=UserArtifactManage(install="install.sh", remove="remove.sh"),
                    custom_actions=[
                        GalleryApplicationCustomAction(name="restart", script="restart.sh")
                    ],
                    target_regions=[
                        TargetRegion(name="eastus2", regional_replica_count=2),
                        TargetRegion(name="westus"),
                    ],
                )
            ),
        ),
    ).result()
    return group, gallery, application, version


def everything(
    compute: ComputeManagementClient,
    resources: ResourceManagementClient,
    group: str,
    gallery: str,
    application: str,
    version: str,
) -> dict[str, Any]:
    """Every GET and list that shows the resources, as the wire bodies the SDK received."""
    versions = compute.gallery_application_versions
    return {
        "group": resources.resource_groups.get(group).as_dict(),
        "groups": [g.as_dict() for g in resources.resource_groups.list()],
        "gallery": compute.galleries.get(group, gallery).as_dict(),
        "galleries": [g.as_dict() for g in compute.galleries.list()],
        "galleries in group": [
            g.as_dict() for g in compute.galleries.list_by_resource_group(group)
        ],
        "application": compute.gallery_applications.get(group, gallery, application).as_dict(),
        "applications": [
            a.as_dict() for a in compute.gallery_applications.list_by_gallery(group, gallery)
        ],
        "version": versions.get(group, gallery, application, version).as_dict(),
        "replication": versions.get(
            group, gallery, application, version, expand="ReplicationStatus"
        ).as_dict(),
        "versions": [
            v.as_dict() for v in versions.list_by_gallery_application(group, gallery, application)
        ],
    }


def test_restart_after_sigterm_keeps_every_resource(fresh_service: ServiceProcess) -> None:
    service = fresh_service.start()
    with compute_client(service) as compute, resource_client(service) as resources:
        names = create_everything(compute, resources)
        before = everything(compute, resources, *names)

        # The clients stay connected, as a real client would be while the service restarts.
        service.restart()

    with compute_client(service) as compute, resource_client(service) as resources:
        after = everything(compute, resources, *names)

    assert after == before
    assert before["version"]["properties"]["provisioningState"] == "Succeeded"
    assert [g["name"] for g in before["groups"]] == [names[0]]
    assert not [line for line in service.output if " ERROR " in line], service.output


def test_restart_after_sigkill_resumes_unfinished_operations(
    fresh_service: ServiceProcess,
) -> None:
    # On PostgreSQL the restarted process is another instance: it takes the operations over
    # once the killed one's claims lapse.
    fresh_service.args = ["--operation-seconds", "2", "--operation-lease-seconds", "2"]
    service = fresh_service.start()
    arm = Arm(service)
    group, gallery, application = unique("rg"), unique("gal"), unique("app")
    arm.create_group(group)
    gallery_put = arm.put(gallery_path(group, gallery), {"location": "eastus2"})
    arm.create_application(group, gallery, application)
    version_put = arm.put(version_path(group, gallery, application, "1.0.0"), version_body())
    running = arm.session.get(version_put.headers["Azure-AsyncOperation"], timeout=10).json()

    service.stop(signal.SIGKILL)
    service.start()

    assert gallery_put.json()["properties"]["provisioningState"] == "Creating"
    assert version_put.json()["properties"]["provisioningState"] == "Creating"
    assert running["status"] == "InProgress"
    arm = Arm(service)
    with compute_client(service) as compute:
        found = compute.gallery_application_versions.get(group, gallery, application, "1.0.0")
        assert found.properties.provisioning_state in ("Creating", "Succeeded")
        assert arm.wait(version_put)["status"] == "Succeeded"
        assert arm.wait(gallery_put)["status"] == "Succeeded"
        version = compute.gallery_application_versions.get(group, gallery, application, "1.0.0")
        assert version.properties.provisioning_state == "Succeeded"
        assert version.properties.publishing_profile.published_date is not None
        assert compute.galleries.get(group, gallery).properties.provisioning_state == "Succeeded"


def test_restart_keeps_ca_certificate(fresh_service: ServiceProcess) -> None:
    service = fresh_service.start()
    assert service.ca_cert is not None
    ca_path = service.ca_cert
    with open(ca_path, "rb") as file:
        before = file.read()

    service.restart()

    assert service.ca_cert == ca_path
    with open(ca_path, "rb") as file:
        assert file.read() == before
    # Clients that trusted the CA before the restart still connect.
    with resource_client(service) as resources:
        assert resources.resource_groups.check_existence(unique("rg")) is False


def test_restart_in_memory_forgets_every_resource(sqlite_service: ServiceProcess) -> None:
    sqlite_service.args = ["--in-memory"]
    service = sqlite_service.start()
    with compute_client(service) as compute, resource_client(service) as resources:
        group, gallery, application, _ = create_everything(compute, resources)

    service.restart()

    with compute_client(service) as compute, resource_client(service) as resources:
        assert resources.resource_groups.check_existence(group) is False
        assert list(resources.resource_groups.list()) == []
        assert list(compute.galleries.list()) == []
    arm = Arm(service)
    assert arm.get(application_path(group, gallery, application)).status_code == 404
    files = [path for path in service.data_dir.rglob("*") if path.is_file()]
    assert not [path for path in files if path.name.endswith(DATABASE_SUFFIXES)], files
