"""Artifact stores (a directory, and Azure Blob Storage in a real Azurite) and the replicas on
them: a replica is visible only when complete and verified, and goes with its last user."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from compute_gallery.replication.artifacts import (
    ArtifactStore,
    Canceled,
    IntegrityError,
    Location,
    Progress,
    Transfer,
    content_name,
)
from compute_gallery.replication.blob import BlobArtifactStore
from compute_gallery.replication.directory import DirectoryArtifactStore
from compute_gallery.replication.replicas import Marker, Replicas
from compute_gallery.replication.throttle import Throttle

from .azurite import Azurite

T = TypeVar("T")
HERE = Location("eastus2", "Standard_LRS", 1)
THERE = Location("westeurope", "Premium_LRS", 2)
UNLIMITED = Throttle(None)


class Backend:
    """Opens a fresh store of one kind for each test, and shows what it holds underneath."""

    def __init__(self, kind: str, tmp_path: Path, azurite: Azurite) -> None:
        self.kind = kind
        self.root = tmp_path / "replicas"
        self.azurite = azurite
        # Containers of this test alone: <prefix><region>.
        self.prefix = f"t{uuid.uuid4().hex[:12]}-"

    def open(self, executor: ThreadPoolExecutor) -> ArtifactStore:
        if self.kind == "directory":
            return DirectoryArtifactStore(self.root, executor)
        return BlobArtifactStore(self.azurite.connection_string, self.prefix, executor)

    def run(self, body: Callable[[ArtifactStore], Awaitable[T]]) -> T:
        async def main() -> T:
            with ThreadPoolExecutor(4) as executor:
                store = self.open(executor)
                await store.open()
                try:
                    return await body(store)
                finally:
                    await store.close()

        return asyncio.run(main())

    def leftovers(self) -> list[str]:
        """Partial copies: files in ``.partial`` directories, or blobs with only blocks."""
        if self.kind == "directory":
            return sorted(str(path) for path in self.root.glob("*/*/.partial/*"))
        found = []
        with self.azurite.client() as client:
            for container in client.list_containers(name_starts_with=self.prefix):
                blobs = client.get_container_client(container.name)
                committed = {blob.name for blob in blobs.list_blobs()}
                found += [
                    blob.name
                    for blob in blobs.list_blobs(include=["uncommittedblobs"])
                    if blob.name not in committed
                ]
        return found

    def leave_partial(self, location: Location) -> None:
        """What a copy killed halfway leaves behind."""
        if self.kind == "directory":
            partial = self.root / location.region / location.path / ".partial"
            partial.mkdir(parents=True, exist_ok=True)
            (partial / "interrupted").write_bytes(b"half a package")
            return
        with self.azurite.client() as client:
            container = client.get_container_client(self.prefix + location.region)
            if not container.exists():
                container.create_container()
            blob = container.get_blob_client(f"{location.path}/content/{'0' * 64}")
            blob.stage_block(base64.b64encode(b"00000000").decode(), b"half a package")


@pytest.fixture(params=["directory", "blob"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, azurite: Azurite) -> Backend:
    return Backend(request.param, tmp_path, azurite)


def source_file(tmp_path: Path, size: int) -> tuple[Path, bytes, str]:
    data = os.urandom(size)
    path = tmp_path / f"staging-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return path, data, hashlib.sha256(data).hexdigest()


def transfer(
    path: Path,
    size: int,
    digest: str,
    progress: Progress = lambda _: None,
    cancel: threading.Event | None = None,
) -> Transfer:
    return Transfer(path, size, digest, progress, cancel or threading.Event(), UNLIMITED)


def test_copy_verified_becomes_visible_whole(backend: Backend, tmp_path: Path) -> None:
    path, data, digest = source_file(tmp_path, 5 * 1024 * 1024 + 3)
    moved: list[int] = []

    async def body(store: ArtifactStore) -> tuple[bool, bytes, list[Location], list[str]]:
        await store.copy(
            HERE, content_name(digest), transfer(path, len(data), digest, moved.append)
        )
        return (
            await store.exists(HERE, content_name(digest)),
            await store.read(HERE, content_name(digest)),
            await store.locations(),
            await store.names(HERE, "content/"),
        )

    exists, stored, locations, names = backend.run(body)

    assert exists and stored == data
    assert locations == [HERE]
    assert names == [content_name(digest)]
    assert sum(moved) == len(data)
    assert backend.leftovers() == []


@pytest.mark.parametrize("mismatch", ["sha256", "size"])
def test_copy_that_does_not_verify_leaves_nothing(
    backend: Backend, tmp_path: Path, mismatch: str
) -> None:
    path, data, digest = source_file(tmp_path, 300_000)
    claimed_digest = "f" * 64 if mismatch == "sha256" else digest
    claimed_size = len(data) + 1 if mismatch == "size" else len(data)

    async def body(store: ArtifactStore) -> bool:
        with pytest.raises(IntegrityError):
            await store.copy(
                HERE, content_name(claimed_digest), transfer(path, claimed_size, claimed_digest)
            )
        return await store.exists(HERE, content_name(claimed_digest))

    assert backend.run(body) is False
    assert backend.leftovers() == []


def test_copy_canceled_leaves_nothing(backend: Backend, tmp_path: Path) -> None:
    path, data, digest = source_file(tmp_path, 9 * 1024 * 1024)
    cancel = threading.Event()

    def progress(count: int) -> None:
        cancel.set()  # after the first chunk, the copy is no longer wanted

    async def body(store: ArtifactStore) -> bool:
        with pytest.raises(Canceled):
            await store.copy(
                HERE, content_name(digest), transfer(path, len(data), digest, progress, cancel)
            )
        return await store.exists(HERE, content_name(digest))

    assert backend.run(body) is False
    assert backend.leftovers() == []


def test_discard_partial_of_a_shared_store_spares_recent_copies(backend: Backend) -> None:
    backend.leave_partial(THERE)

    removed = backend.run(lambda store: store.discard_partial(older_than=3600))

    # A blob store may be shared with services still copying; a directory never is.
    assert removed == (1 if backend.kind == "directory" else 0)
    assert len(backend.leftovers()) == 1 - removed


def test_discard_partial_removes_what_an_interrupted_copy_left(backend: Backend) -> None:
    backend.leave_partial(THERE)
    assert len(backend.leftovers()) == 1

    removed = backend.run(lambda store: store.discard_partial())

    assert removed == 1
    assert backend.leftovers() == []


def test_put_read_delete_small_blobs(backend: Backend) -> None:
    async def body(store: ArtifactStore) -> tuple[list[str], bytes, list[str]]:
        await store.put(THERE, "refs/abc/one.package", b"owner")
        await store.put(THERE, "refs/abc/two.package", b"other")
        listed = await store.names(THERE, "refs/abc/")
        read = await store.read(THERE, "refs/abc/one.package")
        await store.delete(THERE, "refs/abc/one.package")
        await store.delete(THERE, "refs/abc/never-there")
        return listed, read, await store.names(THERE, "refs/")

    listed, read, after = backend.run(body)

    assert listed == ["refs/abc/one.package", "refs/abc/two.package"]
    assert read == b"owner"
    assert after == ["refs/abc/two.package"]


def test_replicas_keep_shared_content_until_its_last_user_detaches(
    backend: Backend, tmp_path: Path
) -> None:
    path, data, digest = source_file(tmp_path, 100_000)

    async def body(store: ArtifactStore) -> list[bool]:
        replicas = Replicas(store)
        seen = [await replicas.attach(HERE, digest, "a.package", "/versions/a")]
        await replicas.fill(HERE, transfer(path, len(data), digest))
        seen.append(await replicas.attach(HERE, digest, "b.package", "/versions/b"))
        seen.append(await replicas.detach(HERE, digest, "a.package"))
        seen.append(await store.exists(HERE, content_name(digest)))
        seen.append(await replicas.detach(HERE, digest, "b.package"))
        seen.append(await store.exists(HERE, content_name(digest)))
        return seen

    # a: not there yet; b: there; a goes, content stays; b goes, content goes.
    assert backend.run(body) == [False, True, False, True, True, False]


def test_collect_removes_unwanted_markers_and_content_only_they_kept(
    backend: Backend, tmp_path: Path
) -> None:
    path, data, digest = source_file(tmp_path, 10_000)
    orphan = "e" * 64

    async def body(store: ArtifactStore) -> tuple[tuple[int, int], list[str], list[str]]:
        replicas = Replicas(store)
        for location in (HERE, THERE):
            await replicas.attach(location, digest, "kept.package", "/versions/kept")
            await replicas.fill(location, transfer(path, len(data), digest))
        await replicas.attach(THERE, digest, "gone.package", "/versions/gone")
        # Content whose markers went before it could: what a crash between the two leaves.
        await store.put(HERE, content_name(orphan), b"nobody uses this")

        async def alive(marker: Marker) -> bool:
            return marker.owner == "/versions/kept" and marker.location == HERE

        counts = await replicas.collect(alive)
        return counts, await store.names(HERE, ""), await store.names(THERE, "")

    counts, here, there = backend.run(body)

    assert counts == (2, 2)  # THERE's two markers; the orphan and THERE's content
    assert here == [content_name(digest), f"refs/{digest}/kept.package"]
    assert there == []


class _PausingStore:
    """A store that runs ``meanwhile`` right after its first listing of markers, as another
    service sharing the store would between two steps of this one."""

    def __init__(self, store: ArtifactStore, meanwhile: Callable[[], Awaitable[object]]) -> None:
        self._store = store
        self._meanwhile: Callable[[], Awaitable[object]] | None = meanwhile

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def names(self, location: Location, prefix: str) -> list[str]:
        found = await self._store.names(location, prefix)
        if prefix.startswith("refs/") and self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            await meanwhile()
        return found


def test_content_survives_a_user_attaching_while_another_service_drops_it(
    backend: Backend, tmp_path: Path
) -> None:
    path, data, digest = source_file(tmp_path, 50_000)

    async def body(store: ArtifactStore) -> tuple[bool, bool, bool]:
        with ThreadPoolExecutor(2) as executor:
            # Blob Storage is what several services share; a directory has one service.
            other = backend.open(executor) if backend.kind == "blob" else store
            await other.open()
            try:
                first = Replicas(store)
                await first.attach(HERE, digest, "old.package", "/versions/old")
                await first.fill(HERE, transfer(path, len(data), digest))
                attached: list[bool] = []

                async def attach_elsewhere() -> None:
                    attached.append(
                        await Replicas(other).attach(HERE, digest, "new.package", "/versions/new")
                    )

                # The last user detaches; after it found no other marker, a second service
                # attaches a new user, finds the content present and keeps it.
                paused = Replicas(_PausingStore(store, attach_elsewhere))  # type: ignore[arg-type]
                dropped = await paused.detach(HERE, digest, "old.package")
                return dropped, attached[0], await store.exists(HERE, content_name(digest))
            finally:
                if other is not store:
                    await other.close()

    dropped, found_present, still_there = backend.run(body)

    assert (dropped, found_present, still_there) == (False, True, True)


def test_user_attaching_after_the_content_went_copies_it_again(
    backend: Backend, tmp_path: Path
) -> None:
    path, data, digest = source_file(tmp_path, 50_000)

    async def body(store: ArtifactStore) -> tuple[bool, bool, bool, bytes]:
        first, second = Replicas(store), Replicas(store)
        await first.attach(HERE, digest, "old.package", "/versions/old")
        await first.fill(HERE, transfer(path, len(data), digest))
        dropped = await first.detach(HERE, digest, "old.package")
        present = await second.attach(HERE, digest, "new.package", "/versions/new")
        await second.fill(HERE, transfer(path, len(data), digest))
        return (
            dropped,
            present,
            await store.exists(HERE, content_name(digest)),
            (await store.read(HERE, content_name(digest))),
        )

    dropped, present, exists, stored = backend.run(body)

    assert (dropped, present, exists) == (True, False, True)
    assert stored == data


def test_delete_unchanged_refuses_a_blob_touched_since_its_tag_was_read(
    backend: Backend,
) -> None:
    async def body(store: ArtifactStore) -> tuple[bool, bool, bool, bool]:
        await store.put(HERE, "content/x", b"data")
        tag = await store.tag(HERE, "content/x")
        assert tag is not None
        touched = await store.touch(HERE, "content/x")
        refused = not await store.delete_unchanged(HERE, "content/x", tag)
        kept = await store.exists(HERE, "content/x")
        fresh = await store.tag(HERE, "content/x")
        assert fresh is not None and fresh != tag
        return touched, refused, kept, await store.delete_unchanged(HERE, "content/x", fresh)

    assert backend.run(body) == (True, True, True, True)
    assert backend.run(lambda store: store.touch(HERE, "content/x")) is False
