"""Create a resource group, gallery, application and version against compute-gallery.

Run ``make serve`` first, then ``python examples/quickstart.py``. The endpoint and the CA
certificate default to what ``make serve`` prints; override them with COMPUTE_GALLERY_ENDPOINT
and COMPUTE_GALLERY_CA.

The service fetches the version's package from its ``mediaLink`` and replicates it, so the
link must be readable: set QUICKSTART_PACKAGE_URL to a blob URL with a SAS (Azure Storage or
Azurite), or leave it unset and the example serves a small package itself, on this machine.
"""

import http.server
import os
import threading
import time
from pathlib import Path

import platformdirs
from azure.core.credentials import AccessToken
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    Gallery,
    GalleryApplication,
    GalleryApplicationProperties,
    GalleryApplicationVersion,
    GalleryApplicationVersionProperties,
    GalleryApplicationVersionPublishingProfile,
    TargetRegion,
    UserArtifactManage,
    UserArtifactSource,
)
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources.models import ResourceGroup

DATA_DIR = Path(platformdirs.user_data_dir("compute-gallery", appauthor=False))
ENDPOINT = os.environ.get("COMPUTE_GALLERY_ENDPOINT", "https://127.0.0.1:8443")
CA = os.environ.get("COMPUTE_GALLERY_CA", str(DATA_DIR / "tls" / "ca.pem"))
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"  # any GUID is a subscription


class AnyToken:
    """By default the service accepts any well-formed bearer token."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken("local", int(time.time()) + 3600)


def serve_package() -> str:
    """Serve a tiny install script over HTTP on 127.0.0.1; return its URL."""

    class Package(http.server.BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # or each small reply waits 40 ms for an acknowledgement

        def do_GET(self):
            body = b"#!/bin/sh\necho installed\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Package)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/app.sh"


PACKAGE_URL = os.environ.get("QUICKSTART_PACKAGE_URL") or serve_package()
options = {"base_url": ENDPOINT, "connection_verify": CA}
resources = ResourceManagementClient(AnyToken(), SUBSCRIPTION, **options)
compute = ComputeManagementClient(AnyToken(), SUBSCRIPTION, **options)

resources.resource_groups.create_or_update("quickstart", ResourceGroup(location="eastus2"))
compute.galleries.begin_create_or_update(
    "quickstart", "gallery", Gallery(location="eastus2")
).result()
compute.gallery_applications.begin_create_or_update(
    "quickstart",
    "gallery",
    "app",
    GalleryApplication(
        location="eastus2", properties=GalleryApplicationProperties(supported_os_type="Linux")
    ),
).result()
version = compute.gallery_application_versions.begin_create_or_update(
    "quickstart",
    "gallery",
    "app",
    "1.0.0",
    GalleryApplicationVersion(
        location="eastus2",
        properties=GalleryApplicationVersionProperties(
            publishing_profile=GalleryApplicationVersionPublishingProfile(
                source=UserArtifactSource(media_link=PACKAGE_URL),
                manage_actions=UserArtifactManage(install="bash install.sh", remove="rm -rf app"),
                target_regions=[
                    TargetRegion(name="eastus2"),
                    TargetRegion(name="westeurope", regional_replica_count=2),
                ],
            )
        ),
    ),
).result()
print(version.name, version.properties.provisioning_state.value)
for region in version.properties.publishing_profile.target_regions:
    replicas, storage = region.regional_replica_count, region.storage_account_type.value
    print(f"  {region.name}: {replicas} x {storage}")
