"""Replicas on an artifact store: content kept once per location, counted by its markers.

A version that uses content in a location writes a marker there first, then touches the
content (a write that changes its version tag) to learn whether it is present; one that stops
using it removes its marker, and the content goes with its last marker. Removing content reads
its version tag first, then looks for markers, then deletes it only if the tag is unchanged.
So whatever the order of the two, between processes too (several instances sharing one Blob
Storage account): either the remover sees the new marker, or its delete fails because the
touch moved the tag, or the delete comes before the touch and the user finds the content gone
and copies it again. Within one process a lock per location orders them as well. The copy
itself runs outside the lock. Everything here is idempotent: a step interrupted by a crash is
simply done again, or undone by ``collect``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .artifacts import ArtifactStore, Location, Transfer, content_name, marker_name

log = logging.getLogger(__name__)


def reference(version_key: str, role: str) -> str:
    """The marker name of one version's use of one blob (``package`` or ``config``)."""
    return f"{hashlib.sha256(version_key.encode()).hexdigest()[:32]}.{role}"


@dataclass(frozen=True, slots=True)
class Marker:
    """One use of content in a location: by which version, under which reference."""

    location: Location
    digest: str
    reference: str
    owner: str


# Whether a marker is still wanted: the version exists and uses that content there.
Liveness = Callable[[Marker], Awaitable[bool]]


class _Locks:
    """One asyncio lock per key, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Replicas:
    """Reference-counted content on one artifact store."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._locations = _Locks()
        self._copies = _Locks()

    async def attach(self, location: Location, digest: str, ref: str, owner: str) -> bool:
        """Mark ``digest`` in ``location`` as used by ``ref``; whether it is already there."""
        async with self._locations.hold(location):
            await self.store.put(location, marker_name(digest, ref), owner.encode())
            return await self.store.touch(location, content_name(digest))

    async def fill(self, location: Location, transfer: Transfer) -> None:
        """Copy the transfer's content into ``location``, unless it got there meanwhile.

        Call after ``attach``: the marker keeps the content from being collected. Two versions
        that need the same content in the same location copy it once.
        """
        name = content_name(transfer.digest)
        async with self._copies.hold((location, transfer.digest)):
            if await self.store.exists(location, name):
                transfer.progress(transfer.size)
                return
            await self.store.copy(location, name, transfer)

    async def detach(self, location: Location, digest: str, ref: str) -> bool:
        """Remove ``ref``'s marker; the content too once no marker is left. Whether it went."""
        async with self._locations.hold(location):
            await self.store.delete(location, marker_name(digest, ref))
            return await self._drop_if_unused(location, digest)

    async def _drop_if_unused(self, location: Location, digest: str) -> bool:
        name = content_name(digest)
        # The tag first: a user that attaches after it is read changes it (see the module).
        tag = await self.store.tag(location, name)
        if tag is None or await self.store.names(location, f"refs/{digest}/"):
            return False
        return await self.store.delete_unchanged(location, name, tag)

    async def markers_of(self, references: set[str]) -> list[Marker]:
        """Every marker, anywhere, with one of these references."""
        found = []
        for location in await self.store.locations():
            for name in await self.store.names(location, "refs/"):
                _, digest, ref = name.split("/", 2)
                if ref in references:
                    found.append(Marker(location, digest, ref, ""))
        return found

    async def collect(self, alive: Liveness) -> tuple[int, int]:
        """Remove markers nobody wants and content without markers; return both counts."""
        markers = contents = 0
        for location in await self.store.locations():
            async with self._locations.hold(location):
                for name in await self.store.names(location, "refs/"):
                    _, digest, ref = name.split("/", 2)
                    owner = (await self.store.read(location, name)).decode()
                    if not await alive(Marker(location, digest, ref, owner)):
                        await self.store.delete(location, name)
                        markers += 1
                for name in await self.store.names(location, "content/"):
                    if await self._drop_if_unused(location, name.split("/", 1)[1]):
                        contents += 1
        if markers or contents:
            log.info("removed %d unused replica markers and %d unused replicas", markers, contents)
        return markers, contents
