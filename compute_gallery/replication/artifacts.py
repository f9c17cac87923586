"""Artifact stores: the storage locations that hold replicas, one location per replica.

A target region with ``regionalReplicaCount`` 2 of ``Standard_LRS`` has two locations,
``standard_lrs-1`` and ``standard_lrs-2``, as Azure keeps each replica in a storage account of
its own; each additional replica set adds locations of its storage type. A location holds
content by its sha256 (``content/<sha256>``), so a package that several versions use is
stored once per location, and one small marker per user of it (``refs/<sha256>/<reference>``).

Stores make a blob visible only once it is complete and verified: a copy is written under a
temporary name (or as uncommitted blocks) and renamed (or committed) after its size and
sha256 have been checked. ``discard_partial`` removes what an interrupted copy left behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .throttle import Throttle

Progress = Callable[[int], None]


@dataclass(frozen=True, order=True, slots=True)
class Location:
    """One replica's storage location: a region, a storage account type and a number."""

    region: str
    storage_type: str
    index: int

    @property
    def path(self) -> str:
        """The location's name within its region: ``standard_lrs-1``."""
        return f"{self.storage_type.lower()}-{self.index}"

    @classmethod
    def parse(cls, region: str, path: str) -> Location | None:
        """The location named ``path`` in ``region``, or None for any other name."""
        kind, _, number = path.rpartition("-")
        if not kind or not number.isdigit() or int(number) < 1:
            return None
        return cls(region, _STORAGE_TYPES.get(kind, kind), int(number))

    def __str__(self) -> str:
        return f"{self.region}/{self.path}"


_STORAGE_TYPES = {
    name.lower(): name for name in ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")
}


@dataclass(frozen=True, slots=True)
class Transfer:
    """One copy of a staging file into a location: what it must hold, and how it runs."""

    source: Path
    size: int
    digest: str
    # Called with each count of bytes written.
    progress: Progress
    # Set when the copy is no longer wanted; the copy stops at its next chunk.
    cancel: threading.Event
    throttle: Throttle


class IntegrityError(Exception):
    """A copy whose size or sha256 differs from its source's: it was not made visible."""


class Canceled(Exception):
    """A copy stopped because its operation no longer wants it."""


def content_name(digest: str) -> str:
    return f"content/{digest}"


def marker_name(digest: str, reference: str) -> str:
    return f"refs/{digest}/{reference}"


class ArtifactStore(Protocol):
    """Where replicas live: a directory tree, or an Azure Blob Storage account."""

    description: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def locations(self) -> list[Location]:
        """Every location that holds anything."""

    async def exists(self, location: Location, name: str) -> bool: ...

    async def names(self, location: Location, prefix: str) -> list[str]:
        """The names of the visible blobs in ``location`` that start with ``prefix``."""

    async def read(self, location: Location, name: str) -> bytes:
        """A small blob's bytes (markers)."""

    async def put(self, location: Location, name: str, data: bytes) -> None:
        """Write a small blob (a marker) at once."""

    async def copy(self, location: Location, name: str, transfer: Transfer) -> None:
        """Copy the transfer's source to ``name``; visible only once size and sha256 match.

        Raises IntegrityError when they do not, Canceled once the transfer is canceled; either
        way nothing new is visible.
        """

    async def delete(self, location: Location, name: str) -> None:
        """Remove a blob; one that is not there is no error."""

    async def tag(self, location: Location, name: str) -> str | None:
        """The blob's current version tag (it changes with every change), or None if absent."""

    async def touch(self, location: Location, name: str) -> bool:
        """Change the blob's version tag without changing its content; whether it exists."""

    async def delete_unchanged(self, location: Location, name: str, tag: str) -> bool:
        """Remove the blob only if its version tag is still ``tag``; whether it is gone."""

    async def discard_partial(self, older_than: float = 0.0) -> int:
        """Remove what interrupted copies left; return how many.

        Only while no copy of this service runs; with ``older_than`` (seconds), only what was
        last written that long ago, so that copies of other services sharing the store go on.
        """
