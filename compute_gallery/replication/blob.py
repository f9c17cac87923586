"""An artifact store in Azure Blob Storage: one container per region, locations as prefixes.

Blob ``<location>/<name>`` in container ``<prefix><region>``. A copy is uploaded as blocks,
each checked by the storage service against its MD5 (transactional validation); the blocks
stay uncommitted, so invisible, until their sizes and the sha256 of everything sent match
the source's, and one Put Block List then makes the replica visible whole.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import io
from concurrent.futures import Executor
from typing import TYPE_CHECKING, BinaryIO

from .artifacts import Canceled, IntegrityError, Location, Transfer

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobClient, BlobServiceClient, ContainerClient

BLOCK = 4 * 1024 * 1024


class BlobArtifactStore:
    """Replicas as block blobs in the account a connection string names."""

    def __init__(self, connection_string: str, container_prefix: str, executor: Executor) -> None:
        self._connection_string = connection_string
        self._prefix = container_prefix
        self._executor = executor
        self._service: BlobServiceClient | None = None
        self._containers: set[str] = set()
        self.description = f"Azure Blob Storage, containers {container_prefix}<region>"

    async def open(self) -> None:
        # Imported here: the Blob SDK is only needed when the operator chooses this store.
        from azure.storage.blob.aio import BlobServiceClient

        self._service = BlobServiceClient.from_connection_string(self._connection_string)
        account = self._service.account_name
        self.description = (
            f"Azure Blob Storage account {account}, containers {self._prefix}<region>"
        )

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
            self._service = None

    def _container(self, region: str) -> ContainerClient:
        assert self._service is not None, "the artifact store is not open"
        return self._service.get_container_client(self._prefix + region)

    def _blob(self, location: Location, name: str) -> BlobClient:
        return self._container(location.region).get_blob_client(f"{location.path}/{name}")

    async def _ensure_container(self, region: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        if region in self._containers:
            return
        with contextlib.suppress(ResourceExistsError):
            await self._container(region).create_container()
        self._containers.add(region)

    async def _regions(self) -> list[str]:
        assert self._service is not None, "the artifact store is not open"
        return [
            container.name[len(self._prefix) :]
            async for container in self._service.list_containers(name_starts_with=self._prefix)
        ]

    async def locations(self) -> list[Location]:
        from azure.storage.blob.aio import BlobPrefix

        found = []
        for region in await self._regions():
            async for item in self._container(region).walk_blobs(delimiter="/"):
                if isinstance(item, BlobPrefix):
                    location = Location.parse(region, item.name.rstrip("/"))
                    if location is not None:
                        found.append(location)
        return sorted(found)

    async def exists(self, location: Location, name: str) -> bool:
        exists: bool = await self._blob(location, name).exists()
        return exists

    async def names(self, location: Location, prefix: str) -> list[str]:
        start = f"{location.path}/"
        container = self._container(location.region)
        return sorted(
            [
                blob.name[len(start) :]
                async for blob in container.list_blobs(name_starts_with=start + prefix)
            ]
        )

    async def read(self, location: Location, name: str) -> bytes:
        download = await self._blob(location, name).download_blob()
        data: bytes = await download.readall()
        return data

    async def put(self, location: Location, name: str, data: bytes) -> None:
        await self._ensure_container(location.region)
        await self._blob(location, name).upload_blob(data, overwrite=True)

    async def copy(self, location: Location, name: str, transfer: Transfer) -> None:
        from azure.storage.blob import BlobBlock

        size, digest = transfer.size, transfer.digest
        await self._ensure_container(location.region)
        blob = self._blob(location, name)
        loop = asyncio.get_running_loop()
        hasher = hashlib.sha256()
        blocks: list[str] = []
        committed = False
        reader = await loop.run_in_executor(self._executor, transfer.source.open, "rb")
        try:
            while chunk := await loop.run_in_executor(self._executor, _read, reader, hasher):
                if transfer.cancel.is_set():
                    raise Canceled(f"the copy to {location} was canceled")
                await asyncio.sleep(transfer.throttle.delay(len(chunk)))
                # Block ids must all have one length within a blob.
                block_id = base64.b64encode(f"{len(blocks):08d}".encode()).decode()
                # A stream, not bytes: aiohttp would otherwise copy a large body on the loop.
                await blob.stage_block(
                    block_id, io.BytesIO(chunk), length=len(chunk), validate_content=True
                )
                blocks.append(block_id)
                transfer.progress(len(chunk))

            _, staged = await blob.get_block_list("uncommitted")
            staged_sizes = {block.id: block.size for block in staged}
            sent = sum(staged_sizes.get(block_id, 0) for block_id in blocks)
            if sent != size or hasher.hexdigest() != digest:
                raise IntegrityError(
                    f"the copy to {location} has {sent} bytes with sha256 "
                    f"{hasher.hexdigest()}, expected {size} bytes with sha256 {digest}"
                )
            await blob.commit_block_list(
                [BlobBlock(block_id) for block_id in blocks], metadata={"sha256": digest}
            )
            committed = True
        finally:
            await loop.run_in_executor(self._executor, reader.close)
            if not committed and blocks:
                await asyncio.shield(self._discard(blob))

    async def _discard(self, blob: BlobClient) -> None:
        """Drop uncommitted blocks now rather than leave them for the service to expire."""
        from azure.core.exceptions import AzureError

        try:
            if not await blob.exists():
                await blob.delete_blob()
        except AzureError:
            pass  # Blob Storage expires uncommitted blocks itself after a week.

    async def delete(self, location: Location, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            await self._blob(location, name).delete_blob()

    async def tag(self, location: Location, name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            properties = await self._blob(location, name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        etag: str = properties.etag
        return etag

    async def touch(self, location: Location, name: str) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        blob = self._blob(location, name)
        try:
            properties = await blob.get_blob_properties()
            # The same metadata again: a write all the same, so the ETag changes.
            await blob.set_blob_metadata(
                properties.metadata,
                etag=properties.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceNotFoundError:
            return False
        except ResourceModifiedError:
            pass  # changed by someone else meanwhile, which moved its ETag just as well
        return True

    async def delete_unchanged(self, location: Location, name: str, tag: str) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            await self._blob(location, name).delete_blob(
                etag=tag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceNotFoundError:
            return True
        except ResourceModifiedError:
            return False
        return True

    async def discard_partial(self, older_than: float = 0.0) -> int:
        removed = 0
        before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=older_than)
        for region in await self._regions():
            container = self._container(region)
            committed = {blob.name async for blob in container.list_blobs()}
            for blob in [b async for b in container.list_blobs(include=["uncommittedblobs"])]:
                # Staging a block moves an uncommitted blob's last-modified time.
                if blob.name not in committed and blob.last_modified <= before:
                    await self._discard(container.get_blob_client(blob.name))
                    removed += 1
        return removed


def _read(reader: BinaryIO, hasher: hashlib._Hash) -> bytes:
    chunk = reader.read(BLOCK)
    hasher.update(chunk)
    return chunk
