"""What a service's default artifact store holds on disk: replicas, markers and leftovers.

The layout is the documented one: ``<data dir>/replication/replicas/<region>/<location>/``
with ``content/<sha256>`` and ``refs/<sha256>/<reference>``; copies in flight live in
``<location>/.partial/`` and fetches in ``<data dir>/replication/staging/``.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from .support import Arm


def root(data_dir: Path) -> Path:
    return data_dir / "replication" / "replicas"


def holding(data_dir: Path, content: bytes) -> dict[str, list[str]]:
    """Region -> the locations whose replica of ``content`` is visible, byte for byte."""
    digest = hashlib.sha256(content).hexdigest()
    found: dict[str, list[str]] = {}
    for replica in sorted(root(data_dir).glob(f"*/*/content/{digest}")):
        assert replica.read_bytes() == content, f"{replica} differs from its source"
        location = replica.parent.parent
        found.setdefault(location.parent.name, []).append(location.name)
    return found


def markers(data_dir: Path, content: bytes) -> list[Path]:
    digest = hashlib.sha256(content).hexdigest()
    return sorted(root(data_dir).glob(f"*/*/refs/{digest}/*"))


def leftovers(data_dir: Path) -> list[Path]:
    """Files an interrupted transfer could leave: staging files and partial copies."""
    staging = data_dir / "replication" / "staging"
    partial = root(data_dir).glob("*/*/.partial/*")
    return sorted([*staging.glob("*"), *partial])


def inode(data_dir: Path, region: str, location: str, content: bytes) -> int:
    digest = hashlib.sha256(content).hexdigest()
    return os.stat(root(data_dir) / region / location / "content" / digest).st_ino


def package(size: int) -> bytes:
    """``size`` bytes no other test uses, so that their replicas are this test's alone."""
    return os.urandom(size)


def replication_status(arm: Arm, path: str) -> dict[str, Any]:
    response = arm.get(path, params={"$expand": "ReplicationStatus"})
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()["properties"]["replicationStatus"]
    return status


def wait_for_status(arm: Arm, path: str, predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Poll ``$expand=ReplicationStatus`` until ``predicate(status)`` holds; return it."""
    deadline = time.monotonic() + timeout
    status = replication_status(arm, path)
    while not predicate(status):
        if time.monotonic() > deadline:
            raise AssertionError(f"replication status never matched: {status}")
        time.sleep(0.05)
        status = replication_status(arm, path)
    return status
