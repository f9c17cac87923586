"""Replication as a durable job: killed with SIGKILL at any point, it resumes after a restart,
completes, and leaves neither a partial replica nor anything orphaned."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from .azurite import Azurite
from .replicas import holding, leftovers, markers, package, root, wait_for_status
from .support import Arm, ServiceProcess, unique, version_body, version_path

REGIONS = [{"name": "eastus2"}, {"name": "westus"}]
EXPECTED = {"eastus2": ["standard_zrs-1"], "westus": ["standard_lrs-1"]}


def plant_orphans(data_dir: Path) -> list[str]:
    """What other crashes could have left: unused content, a stray marker, half copies."""
    replicas = root(data_dir)
    junk = os.urandom(100)
    digest = hashlib.sha256(junk).hexdigest()
    location = replicas / "eastus2" / "standard_lrs-3"
    (location / "content").mkdir(parents=True)
    (location / "content" / digest).write_bytes(junk)
    (location / "refs" / digest).mkdir(parents=True)
    (location / "refs" / digest / f"{'a' * 32}.package").write_text(
        "/subscriptions/00000000-0000-0000-0000-00000000c0de/resourcegroups/gone/providers/"
        "microsoft.compute/galleries/g/applications/a/versions/9.9.9"
    )
    (location / ".partial").mkdir()
    (location / ".partial" / "interrupted").write_bytes(b"half")
    staging = replicas.parent / "staging" / "abandoned.package"
    staging.write_bytes(b"half a fetch")
    return [str(location / "content" / digest), str(staging)]


@pytest.mark.parametrize(("phase", "reached"), [("fetch", 5), ("copy", 55)])
def test_kill_during_transfer_then_restart_completes_without_orphans(
    fresh_service: ServiceProcess, azurite: Azurite, phase: str, reached: int
) -> None:
    content = package(8 * 1024 * 1024)
    name = unique("big")
    azurite.upload("packages", name, content)
    fresh_service.args = ["--bandwidth", "4M"]
    arm = Arm(fresh_service.start())
    try:
        path = version_path(*arm.parents(), "1.0.0")
        body = version_body(
            source={"mediaLink": azurite.sas_url("packages", name)}, targetRegions=REGIONS
        )
        response = arm.put(path, body)
        assert response.status_code == 201, response.text
        wait_for_status(
            arm,
            path,
            lambda s: all(reached <= r["progress"] < reached + 40 for r in s["summary"]),
        )
        in_flight = leftovers(fresh_service.data_dir)
        arm.close()

        fresh_service.stop(signal.SIGKILL)

        # Killed mid-transfer: work in flight, no replica visible.
        assert in_flight, "nothing was in flight when the service was killed"
        assert holding(fresh_service.data_dir, content) == {}
        planted = plant_orphans(fresh_service.data_dir)
        fresh_service.args = []
        arm = Arm(fresh_service.start())

        assert arm.wait(response, timeout=60)["status"] == "Succeeded"
        status = arm.get(path, params={"$expand": "ReplicationStatus"}).json()["properties"]
        assert status["provisioningState"] == "Succeeded"
        assert status["replicationStatus"]["aggregatedState"] == "Completed"
        assert holding(fresh_service.data_dir, content) == EXPECTED
        assert len(markers(fresh_service.data_dir, content)) == 2
        assert leftovers(fresh_service.data_dir) == []
        assert not any(os.path.exists(path) for path in planted)
        everything = sorted(p for p in root(fresh_service.data_dir).rglob("*") if p.is_file())
        assert len(everything) == 4, everything  # two replicas, two markers
    finally:
        arm.close()
