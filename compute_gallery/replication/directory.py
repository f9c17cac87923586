"""The default artifact store: a directory tree, ``<root>/<region>/<location>/<name>``.

A copy is written to ``<location>/.partial/`` while it is hashed, fsynced, checked, then
renamed into place, so a replica file is either absent or complete, even after a crash. File
work runs on the replication threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TypeVar

from .artifacts import Canceled, IntegrityError, Location, Transfer
from .waiting import settle

T = TypeVar("T")

CHUNK = 1024 * 1024
PARTIAL = ".partial"


class DirectoryArtifactStore:
    """Replicas as files under ``root``."""

    def __init__(self, root: Path, executor: Executor) -> None:
        self.root = root
        self.description = f"directory {root}"
        self._executor = executor
        # Touches per blob: file times are too coarse (a clock tick) to tell two writes apart,
        # and a directory store belongs to one process, which can count them itself.
        self._touches: dict[tuple[Location, str], int] = {}

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _dir(self, location: Location) -> Path:
        return self.root / location.region / location.path

    async def open(self) -> None:
        await self._run(lambda: self.root.mkdir(parents=True, exist_ok=True))

    async def close(self) -> None:
        return None

    async def locations(self) -> list[Location]:
        def scan() -> list[Location]:
            found = []
            for region in _subdirectories(self.root):
                for path in _subdirectories(region):
                    location = Location.parse(region.name, path.name)
                    if location is not None:
                        found.append(location)
            return sorted(found)

        return await self._run(scan)

    async def exists(self, location: Location, name: str) -> bool:
        return await self._run((self._dir(location) / name).is_file)

    async def names(self, location: Location, prefix: str) -> list[str]:
        def scan() -> list[str]:
            base = self._dir(location)
            # Only the directory the prefix ends in, and below it, can hold matching names.
            start = base / prefix.rpartition("/")[0]
            found = []
            for directory, subdirectories, files in os.walk(start):
                subdirectories[:] = [d for d in subdirectories if d != PARTIAL]
                relative = Path(directory).relative_to(base).as_posix()
                for file in files:
                    name = file if relative == "." else f"{relative}/{file}"
                    if name.startswith(prefix):
                        found.append(name)
            return sorted(found)

        return await self._run(scan)

    async def read(self, location: Location, name: str) -> bytes:
        return await self._run((self._dir(location) / name).read_bytes)

    async def put(self, location: Location, name: str, data: bytes) -> None:
        def write() -> None:
            temp = self._partial(location)
            try:
                with temp.open("xb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                _publish(temp, self._dir(location) / name)
            finally:
                temp.unlink(missing_ok=True)

        await self._run(write)

    async def copy(self, location: Location, name: str, transfer: Transfer) -> None:
        size, digest, cancel = transfer.size, transfer.digest, transfer.cancel

        def copy() -> None:
            temp = self._partial(location)
            try:
                hasher = hashlib.sha256()
                with transfer.source.open("rb") as reader, temp.open("xb") as writer:
                    while chunk := reader.read(CHUNK):
                        if cancel.is_set():
                            raise Canceled(f"the copy to {location} was canceled")
                        time.sleep(transfer.throttle.delay(len(chunk)))
                        hasher.update(chunk)
                        writer.write(chunk)
                        transfer.progress(len(chunk))
                    writer.flush()
                    os.fsync(writer.fileno())
                    written = os.fstat(writer.fileno()).st_size
                if written != size or hasher.hexdigest() != digest:
                    raise IntegrityError(
                        f"the copy to {location} has {written} bytes with sha256 "
                        f"{hasher.hexdigest()}, expected {size} bytes with sha256 {digest}"
                    )
                _publish(temp, self._dir(location) / name)
            finally:
                temp.unlink(missing_ok=True)

        # The thread must finish (and remove its temporary file) before a cancellation of
        # the awaiting task goes on: it sees ``cancel`` at its next chunk.
        future = asyncio.get_running_loop().run_in_executor(self._executor, copy)
        await settle(future, on_cancel=cancel.set)
        future.result()

    async def delete(self, location: Location, name: str) -> None:
        def remove() -> None:
            path = self._dir(location) / name
            path.unlink(missing_ok=True)
            # Empty marker directories go too, so that a location holds only what is used.
            parent = path.parent
            while parent != self._dir(location) and parent.name != "content":
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

        await self._run(remove)

    async def tag(self, location: Location, name: str) -> str | None:
        def stat() -> str | None:
            try:
                found = (self._dir(location) / name).stat()
            except FileNotFoundError:
                return None
            touches = self._touches.get((location, name), 0)
            return f"{found.st_ino}:{found.st_mtime_ns}:{touches}"

        return await self._run(stat)

    async def touch(self, location: Location, name: str) -> bool:
        def touch() -> bool:
            try:
                os.utime(self._dir(location) / name)
            except FileNotFoundError:
                return False
            return True

        self._touches[location, name] = self._touches.get((location, name), 0) + 1
        return await self._run(touch)

    async def delete_unchanged(self, location: Location, name: str, tag: str) -> bool:
        # A directory belongs to one service process, whose location lock already keeps this
        # from racing a touch; the check guards the same rule as the blob store's ETags.
        current = await self.tag(location, name)
        if current is None:
            return True
        if current != tag:
            return False
        await self.delete(location, name)
        return True

    async def discard_partial(self, older_than: float = 0.0) -> int:
        # A directory belongs to one service: whatever is partial at its start is left over.
        def sweep() -> int:
            removed = 0
            for region in _subdirectories(self.root):
                for location in _subdirectories(region):
                    for leftover in _files(location / PARTIAL):
                        leftover.unlink(missing_ok=True)
                        removed += 1
            return removed

        return await self._run(sweep)

    def _partial(self, location: Location) -> Path:
        directory = self._dir(location) / PARTIAL
        directory.mkdir(parents=True, exist_ok=True)
        return directory / uuid.uuid4().hex


def _publish(temp: Path, final: Path) -> None:
    """Rename a complete file into place and make the rename durable."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, final)
    descriptor = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _subdirectories(path: Path) -> list[Path]:
    try:
        return [entry for entry in path.iterdir() if entry.is_dir() and entry.name != PARTIAL]
    except FileNotFoundError:
        return []


def _files(path: Path) -> list[Path]:
    try:
        return [entry for entry in path.iterdir() if entry.is_file()]
    except FileNotFoundError:
        return []
