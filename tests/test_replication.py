"""Replication through the service: packages read from real blobs, copied to every region."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from compute_gallery import tls

from .azurite import Azurite
from .http_sources import Resource, refused, serving, silent
from .replicas import (
    holding,
    inode,
    leftovers,
    markers,
    package,
    replication_status,
    root,
    wait_for_status,
)
from .support import (
    Arm,
    ServiceProcess,
    resource_group_path,
    unique,
    version_body,
    version_path,
)

PROFILE = "galleryApplicationVersion.properties.publishingProfile"
Upload = Callable[..., str]


@pytest.fixture
def blob(azurite: Azurite) -> Upload:
    """Store bytes as a new blob in Azurite; return its URL with a read SAS."""

    def upload(data: bytes, name: str | None = None) -> str:
        name = name or unique("pkg")
        azurite.upload("packages", name, data)
        return azurite.sas_url("packages", name)

    return upload


def new_version(arm: Arm, name: str = "1.0.0") -> str:
    return version_path(*arm.parents(), name)


def create(arm: Arm, path: str, url: str, **profile: Any) -> requests.Response:
    """PUT a version whose package is ``url``; the response (not waited for)."""
    source = {"mediaLink": url, **profile.pop("source", {})}
    response = arm.put(path, version_body(source=source, **profile))
    assert response.status_code in (200, 201), response.text
    return response


def shown(url: str) -> str:
    """``url`` as messages show it: its SAS signature redacted."""
    return url.split("sig=")[0] + "sig=REDACTED"


def provisioning_state(arm: Arm, path: str) -> str:
    return str(arm.get(path).json()["properties"]["provisioningState"])


def delete(arm: Arm, path: str) -> None:
    response = arm.request("DELETE", path)
    assert response.status_code == 202, response.text
    assert arm.wait(response)["status"] == "Succeeded"


# -- replicas -----------------------------------------------------------------------------------


def test_create_version_puts_each_replica_in_each_region(
    arm: Arm, service: ServiceProcess, blob: Upload
) -> None:
    content = package(700_000)
    path = new_version(arm)
    regions = [
        {"name": "eastus2", "regionalReplicaCount": 2},
        {
            "name": "West Europe",
            "storageAccountType": "Premium_LRS",
            "additionalReplicaSets": [
                {"storageAccountType": "Standard_LRS", "regionalReplicaCount": 2}
            ],
        },
        {"name": "northcentralus"},
    ]

    response = create(arm, path, blob(content), targetRegions=regions)

    assert response.status_code == 201
    assert response.json()["properties"]["provisioningState"] == "Creating"
    assert arm.wait(response)["status"] == "Succeeded"
    assert provisioning_state(arm, path) == "Succeeded"
    assert replication_status(arm, path) == {
        "aggregatedState": "Completed",
        "summary": [
            {"region": region, "state": "Completed", "details": "", "progress": 100}
            for region in ("East US 2", "West Europe", "North Central US")
        ],
    }
    assert holding(service.data_dir, content) == {
        "eastus2": ["standard_zrs-1", "standard_zrs-2"],
        "northcentralus": ["standard_lrs-1"],
        "westeurope": ["premium_lrs-1", "standard_lrs-1", "standard_lrs-2"],
    }
    assert len(markers(service.data_dir, content)) == 6
    # The replication state the service keeps in the record never shows.
    listed = arm.get(path.rsplit("/", 1)[0]).json()["value"]
    assert "_replication" not in arm.get(path).json()["properties"]
    assert all("_replication" not in version["properties"] for version in listed)


def test_create_version_with_default_configuration_replicates_both(
    arm: Arm, service: ServiceProcess, blob: Upload
) -> None:
    content, configuration = package(50_000), package(300)
    path = new_version(arm)

    response = create(
        arm,
        path,
        blob(content),
        source={"defaultConfigurationLink": blob(configuration)},
        targetRegions=[{"name": "eastus2"}, {"name": "westus"}],
    )

    assert arm.wait(response)["status"] == "Succeeded"
    expected = {"eastus2": ["standard_zrs-1"], "westus": ["standard_lrs-1"]}
    assert holding(service.data_dir, content) == expected
    assert holding(service.data_dir, configuration) == expected


def test_versions_of_one_package_share_each_replica_until_the_last_is_deleted(
    arm: Arm, service: ServiceProcess, blob: Upload
) -> None:
    content = package(40_000)
    url = blob(content)
    first = new_version(arm)
    second = first.rsplit("/", 1)[0] + "/1.0.1"
    for path in (first, second):
        assert arm.wait(create(arm, path, url))["status"] == "Succeeded"
    assert holding(service.data_dir, content) == {"eastus2": ["standard_zrs-1"]}
    assert len(markers(service.data_dir, content)) == 2

    delete(arm, first)

    assert holding(service.data_dir, content) == {"eastus2": ["standard_zrs-1"]}
    assert len(markers(service.data_dir, content)) == 1

    delete(arm, second)

    assert holding(service.data_dir, content) == {}
    assert markers(service.data_dir, content) == []


def test_delete_resource_group_removes_its_versions_replicas(
    arm: Arm, service: ServiceProcess, blob: Upload
) -> None:
    content = package(20_000)
    group, gallery, application = arm.parents()
    path = version_path(group, gallery, application, "2.0.0")
    response = create(
        arm, path, blob(content), targetRegions=[{"name": "eastus2"}, {"name": "westus"}]
    )
    assert arm.wait(response)["status"] == "Succeeded"

    deleted = arm.request("DELETE", resource_group_path(group), "2025-04-01")
    assert deleted.status_code == 202, deleted.text
    assert arm.poll(deleted.headers["Location"]).status_code == 200

    deadline = time.monotonic() + 10
    while holding(service.data_dir, content) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holding(service.data_dir, content) == {}
    assert markers(service.data_dir, content) == []


# -- sources that cannot be read ------------------------------------------------------------------


def assert_failed(arm: Arm, path: str, response: requests.Response, message: str) -> None:
    """The operation, the version and every region Failed with ``message``."""
    status = arm.wait(response)
    assert status["status"] == "Failed"
    assert status["error"] == {
        "code": "InvalidParameter",
        "message": message,
        "target": f"{PROFILE}.source.mediaLink",
    }
    assert provisioning_state(arm, path) == "Failed"
    replication = replication_status(arm, path)
    assert replication["aggregatedState"] == "Failed"
    assert [(r["state"], r["details"]) for r in replication["summary"]] == [("Failed", message)]
    # The service itself is unharmed.
    health = arm.session.get(arm.service.url("/_emulator/health"), timeout=10)
    assert health.status_code == 200


def test_create_version_of_missing_blob_fails(arm: Arm, azurite: Azurite) -> None:
    url = azurite.sas_url("packages", unique("never"))
    path = new_version(arm)

    response = create(arm, path, url)

    assert_failed(
        arm, path, response, f"The blob referenced by source uri {shown(url)} does not exist."
    )


@pytest.mark.parametrize("spoil", ["signature", "expired"])
def test_create_version_with_unusable_sas_fails(
    arm: Arm, azurite: Azurite, blob: Upload, spoil: str
) -> None:
    name = unique("pkg")
    url = blob(package(100), name)
    if spoil == "signature":
        url = url.replace("sig=", "sig=AAAA")
    else:
        url = azurite.sas_url("packages", name, hours=-1)
    path = new_version(arm)

    response = create(arm, path, url)

    assert_failed(arm, path, response, f"The SAS is not valid for source uri {shown(url)}.")


def test_create_version_of_empty_blob_fails(arm: Arm, azurite: Azurite) -> None:
    name = unique("empty")
    azurite.upload("packages", name, b"")
    url = azurite.sas_url("packages", name)
    path = new_version(arm)

    response = create(arm, path, url)

    assert_failed(arm, path, response, f"The blob referenced by source uri {shown(url)} is empty.")


def test_create_version_of_append_blob_fails(arm: Arm, azurite: Azurite) -> None:
    name = unique("log")
    azurite.append("packages", name, b"appended")
    path = new_version(arm)

    response = create(arm, path, azurite.sas_url("packages", name))

    assert_failed(
        arm,
        path,
        response,
        "AppendBlob blob type is not supported for CreateOrUpdateGalleryApplicationVersion "
        "operation. Only page blobs and block blobs are supported.",
    )


def test_create_version_from_refused_connection_fails(arm: Arm) -> None:
    url = f"{refused()}/app.zip"
    path = new_version(arm)

    response = create(arm, path, url)

    assert_failed(
        arm,
        path,
        response,
        f"The gallery application version url {url} cannot be accessed due to the following "
        "error: the connection was refused. Ensure that the blob exists and that it is either "
        "publicly accessible or is a SAS url with read privileges.",
    )


def test_failed_version_is_fixed_by_a_new_put(
    arm: Arm, service: ServiceProcess, azurite: Azurite
) -> None:
    name, content = unique("late"), package(5000)
    url = azurite.sas_url("packages", name)
    path = new_version(arm)
    assert arm.wait(create(arm, path, url))["status"] == "Failed"

    azurite.upload("packages", name, content)
    response = create(arm, path, url)

    assert response.status_code == 200
    assert response.json()["properties"]["provisioningState"] == "Updating"
    assert arm.wait(response)["status"] == "Succeeded"
    assert provisioning_state(arm, path) == "Succeeded"
    assert replication_status(arm, path)["aggregatedState"] == "Completed"
    assert holding(service.data_dir, content) == {"eastus2": ["standard_zrs-1"]}


def test_region_whose_store_fails_fails_alone_and_a_new_put_fixes_it(
    arm: Arm, service: ServiceProcess, blob: Upload
) -> None:
    content = package(20_000)
    url = blob(content)
    path = new_version(arm)
    # A file where the region's directory belongs: its replicas cannot be written.
    blocker = root(service.data_dir) / "japaneast"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"in the way")
    regions = [{"name": "eastus2"}, {"name": "japaneast"}]
    try:
        status = arm.wait(create(arm, path, url, targetRegions=regions))
    finally:
        blocker.unlink()

    assert status["status"] == "Failed"
    assert status["error"]["code"] == "ReplicationJobsNotCompleted"
    assert status["error"]["message"].startswith(
        "Replication job not completed in region: 'Japan East', reason: "
    )
    summary = replication_status(arm, path)["summary"]
    assert [(r["region"], r["state"]) for r in summary] == [
        ("East US 2", "Completed"),
        ("Japan East", "Failed"),
    ]
    assert "Not a directory" in summary[1]["details"]
    assert holding(service.data_dir, content) == {"eastus2": ["standard_zrs-1"]}

    fixed = create(arm, path, url, targetRegions=regions)

    assert arm.wait(fixed)["status"] == "Succeeded"
    assert holding(service.data_dir, content) == {
        "eastus2": ["standard_zrs-1"],
        "japaneast": ["standard_zrs-1"],
    }


# -- updates ---------------------------------------------------------------------------------


def test_update_adding_a_region_copies_only_to_it(
    arm: Arm, service: ServiceProcess, blob: Upload
) -> None:
    content = package(60_000)
    url = blob(content)
    path = new_version(arm)
    assert arm.wait(create(arm, path, url))["status"] == "Succeeded"
    before = inode(service.data_dir, "eastus2", "standard_zrs-1", content)

    response = create(arm, path, url, targetRegions=[{"name": "eastus2"}, {"name": "westus"}])

    assert arm.wait(response)["status"] == "Succeeded"
    assert holding(service.data_dir, content) == {
        "eastus2": ["standard_zrs-1"],
        "westus": ["standard_lrs-1"],
    }
    assert inode(service.data_dir, "eastus2", "standard_zrs-1", content) == before
    assert [r["state"] for r in replication_status(arm, path)["summary"]] == [
        "Completed",
        "Completed",
    ]


def test_update_replica_counts_adds_and_removes_replicas(
    arm: Arm, service: ServiceProcess, blob: Upload
) -> None:
    content = package(30_000)
    url = blob(content)
    path = new_version(arm)
    assert arm.wait(create(arm, path, url))["status"] == "Succeeded"

    grown = create(arm, path, url, targetRegions=[{"name": "eastus2", "regionalReplicaCount": 3}])
    assert arm.wait(grown)["status"] == "Succeeded"
    assert holding(service.data_dir, content) == {
        "eastus2": ["standard_zrs-1", "standard_zrs-2", "standard_zrs-3"]
    }

    shrunk = create(arm, path, url, replicaCount=2)
    assert arm.wait(shrunk)["status"] == "Succeeded"
    assert holding(service.data_dir, content) == {"eastus2": ["standard_zrs-1", "standard_zrs-2"]}
    assert len(markers(service.data_dir, content)) == 2


def test_update_removing_a_replicated_region_needs_the_safety_profile(
    arm: Arm, service: ServiceProcess, blob: Upload
) -> None:
    content = package(30_000)
    url = blob(content)
    path = new_version(arm)
    both = [{"name": "eastus2"}, {"name": "westus"}]
    assert arm.wait(create(arm, path, url, targetRegions=both))["status"] == "Succeeded"

    refused_update = arm.put(path, version_body(source={"mediaLink": url}))
    assert refused_update.status_code == 400, refused_update.text
    assert holding(service.data_dir, content) == {
        "eastus2": ["standard_zrs-1"],
        "westus": ["standard_lrs-1"],
    }

    body = version_body(source={"mediaLink": url})
    body["properties"]["safetyProfile"] = {"allowDeletionOfReplicatedLocations": True}
    allowed = arm.put(path, body)

    assert allowed.status_code == 200, allowed.text
    assert arm.wait(allowed)["status"] == "Succeeded"
    assert holding(service.data_dir, content) == {"eastus2": ["standard_zrs-1"]}
    assert [r["region"] for r in replication_status(arm, path)["summary"]] == ["East US 2"]


def test_update_that_transfers_nothing_ends_with_its_put_and_reads_no_source(
    arm: Arm, service: ServiceProcess, azurite: Azurite, blob: Upload
) -> None:
    name, content = unique("pkg"), package(25_000)
    blob(content, name)
    path = new_version(arm)
    regions = [{"name": "eastus2"}, {"name": "westus"}]
    url = azurite.sas_url("packages", name)
    assert arm.wait(create(arm, path, url, targetRegions=regions))["status"] == "Succeeded"
    before = inode(service.data_dir, "westus", "standard_lrs-1", content)
    # Azure lets the package go once replicated; a new SAS is what an update sends.
    azurite.delete("packages", name)
    rotated = azurite.sas_url("packages", name, hours=72)
    end_of_life = "2099-01-01T00:00:00+00:00"

    response = create(
        arm,
        path,
        rotated,
        excludeFromLatest=True,
        endOfLifeDate=end_of_life,
        targetRegions=[{"name": "eastus2"}, {"name": "westus", "excludeFromLatest": True}],
    )

    assert response.status_code == 200
    assert response.json()["properties"]["provisioningState"] == "Updating"
    assert arm.status_of(response)["status"] == "Succeeded"  # the very first poll
    profile = arm.get(path).json()["properties"]["publishingProfile"]
    assert profile["source"]["mediaLink"] == rotated
    assert profile["excludeFromLatest"] is True
    assert profile["endOfLifeDate"] == end_of_life
    assert [r.get("excludeFromLatest") for r in profile["targetRegions"]] == [None, True]
    assert replication_status(arm, path)["aggregatedState"] == "Completed"
    assert inode(service.data_dir, "westus", "standard_lrs-1", content) == before


# -- what the operator sets -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tls.Certificates:
    return tls.ensure(tmp_path_factory.mktemp("source-tls"), "127.0.0.1")


@pytest.fixture(scope="module")
def strict(
    tmp_path_factory: pytest.TempPathFactory, certificates: tls.Certificates
) -> Iterator[Arm]:
    """A service with small limits, a short source timeout, file sources and an extra CA."""
    process = ServiceProcess(
        tmp_path_factory.mktemp("strict"),
        args=[
            "--source-timeout",
            "1",
            "--max-package-size",
            "64K",
            "--max-config-size",
            "1K",
            "--allow-file-sources",
            "--source-ca",
            str(certificates.ca_cert),
        ],
    ).start()
    arm = Arm(process)
    yield arm
    arm.close()
    process.stop()


def test_create_version_over_the_size_limits_fails(strict: Arm, blob: Upload) -> None:
    url = blob(package(64 * 1024 + 1))
    path = new_version(strict)

    response = create(strict, path, url)

    assert_failed(
        strict,
        path,
        response,
        f"The blob referenced by source uri {shown(url)} is too large: size = 65537. The maximum "
        "blob size allowed is '64 KB'.",
    )

    config_url = blob(package(1025))
    other = new_version(strict)
    failed = strict.wait(
        create(strict, other, blob(package(10)), source={"defaultConfigurationLink": config_url})
    )
    assert failed["status"] == "Failed"
    assert failed["error"]["target"] == f"{PROFILE}.source.defaultConfigurationLink"
    assert failed["error"]["message"].endswith("The maximum blob size allowed is '1 KB'.")


def test_create_version_from_silent_source_times_out(strict: Arm) -> None:
    path = new_version(strict)
    with silent() as base:
        response = create(strict, path, f"{base}/app.zip")

        assert_failed(
            strict,
            path,
            response,
            f"The gallery application version url {base}/app.zip cannot be accessed due to the "
            "following error: the server did not answer within 1 seconds. Ensure that the blob "
            "exists and that it is either publicly accessible or is a SAS url with read "
            "privileges.",
        )


def test_create_version_from_https_source_trusts_the_operators_ca(
    strict: Arm, arm: Arm, certificates: tls.Certificates
) -> None:
    content = package(9000)
    pair = (certificates.server_cert, certificates.server_key)
    with serving({"/app.zip": Resource(content)}, certificate=pair) as base:
        trusted = new_version(strict)
        untrusted = new_version(arm)
        trusted_status = strict.wait(create(strict, trusted, f"{base}/app.zip"))
        untrusted_status = arm.wait(create(arm, untrusted, f"{base}/app.zip"))

    assert trusted_status["status"] == "Succeeded"
    assert holding(strict.service.data_dir, content) == {"eastus2": ["standard_zrs-1"]}
    assert untrusted_status["status"] == "Failed"
    assert "the server's certificate is not trusted" in untrusted_status["error"]["message"]


def test_create_version_from_file_url_only_where_allowed(
    strict: Arm, arm: Arm, tmp_path: Path
) -> None:
    content = package(12_000)
    source = tmp_path / "app.zip"
    source.write_bytes(content)

    allowed = create(strict, new_version(strict), source.as_uri())
    refused_put = arm.put(new_version(arm), version_body(source={"mediaLink": source.as_uri()}))

    assert strict.wait(allowed)["status"] == "Succeeded"
    assert holding(strict.service.data_dir, content) == {"eastus2": ["standard_zrs-1"]}
    assert refused_put.status_code == 400
    assert refused_put.json()["error"]["message"] == (
        f"Source uri: '{source.as_uri()}' must be an absolute uri."
    )


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm]:
    """A service whose transfers move 2 MiB a second and whose regions take 2 s at least."""
    process = ServiceProcess(
        tmp_path_factory.mktemp("slow"),
        args=["--bandwidth", "2M", "--replication-seconds", "2", "--log-level", "info"],
    ).start()
    arm = Arm(process)
    yield arm
    arm.close()
    process.stop()


def test_expand_during_a_slow_transfer_shows_progress(slow: Arm, blob: Upload) -> None:
    content = package(3 * 1024 * 1024)
    path = new_version(slow)
    response = create(
        slow, path, blob(content), targetRegions=[{"name": "eastus2"}, {"name": "westus"}]
    )

    status = wait_for_status(
        slow,
        path,
        lambda s: all(0 < r["progress"] < 100 for r in s["summary"]),
    )

    assert status["aggregatedState"] == "InProgress"
    assert {r["state"] for r in status["summary"]} == {"Replicating"}
    assert slow.status_of(response)["status"] == "InProgress"
    assert provisioning_state(slow, path) == "Creating"
    assert slow.wait(response, timeout=60)["status"] == "Succeeded"
    assert replication_status(slow, path)["aggregatedState"] == "Completed"
    assert holding(slow.service.data_dir, content) == {
        "eastus2": ["standard_zrs-1"],
        "westus": ["standard_lrs-1"],
    }
    assert any("replicated" in line and path in line for line in slow.service.output)


def test_put_during_replication_preempts_it_and_leaves_no_orphan(slow: Arm, blob: Upload) -> None:
    content = package(3 * 1024 * 1024)
    url = blob(content)
    path = new_version(slow)
    first = create(slow, path, url, targetRegions=[{"name": "eastus2"}, {"name": "westus"}])
    wait_for_status(slow, path, lambda s: any(r["progress"] > 0 for r in s["summary"]))

    second = create(
        slow,
        path,
        url,
        targetRegions=[{"name": "eastus2"}, {"name": "westus"}, {"name": "westeurope"}],
    )

    assert slow.wait(first)["error"]["code"] == "OperationPreempted"
    assert slow.wait(second, timeout=60)["status"] == "Succeeded"
    assert holding(slow.service.data_dir, content) == {
        "eastus2": ["standard_zrs-1"],
        "westeurope": ["standard_zrs-1"],
        "westus": ["standard_lrs-1"],
    }
    assert len(markers(slow.service.data_dir, content)) == 3
    assert leftovers(slow.service.data_dir) == []


def test_blob_artifact_store_keeps_replicas_in_one_container_per_region(
    fresh_service: ServiceProcess, azurite: Azurite, blob: Upload
) -> None:
    prefix = f"r{os.urandom(6).hex()}-"
    fresh_service.args = ["--blob-container-prefix", prefix]
    fresh_service.env = {"COMPUTE_GALLERY_BLOB_REPLICAS": azurite.connection_string}
    arm = Arm(fresh_service.start())
    content = package(6 * 1024 * 1024 + 11)
    digest = hashlib.sha256(content).hexdigest()
    path = new_version(arm)
    try:
        response = create(
            arm,
            path,
            blob(content),
            targetRegions=[{"name": "eastus2", "regionalReplicaCount": 2}, {"name": "westus"}],
        )
        assert arm.wait(response)["status"] == "Succeeded"

        with azurite.client() as client:
            stored = {
                container.name: sorted(
                    b.name for b in client.get_container_client(container.name).list_blobs()
                )
                for container in client.list_containers(name_starts_with=prefix)
            }
            replica = client.get_blob_client(f"{prefix}westus", f"standard_lrs-1/content/{digest}")
            assert replica.download_blob().readall() == content
            assert replica.get_blob_properties().metadata == {"sha256": digest}
        assert {name: [n for n in names if "/content/" in n] for name, names in stored.items()} == {
            f"{prefix}eastus2": [
                f"standard_zrs-1/content/{digest}",
                f"standard_zrs-2/content/{digest}",
            ],
            f"{prefix}westus": [f"standard_lrs-1/content/{digest}"],
        }

        delete(arm, path)

        with azurite.client() as client:
            left = [
                b.name
                for container in client.list_containers(name_starts_with=prefix)
                for b in client.get_container_client(container.name).list_blobs()
            ]
        assert left == []
    finally:
        arm.close()
