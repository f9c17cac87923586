"""The service's replication: its artifact store, sources, limits, and the jobs that use them.

Versions' provisioning and deletion operations run here (``replicate``, ``remove``). At most
one job per version runs at a time: a newer operation on a version cancels the older job and
waits for it to stop before it starts. At start, before any operation resumes, everything an
interrupted run can leave behind goes: staging files, partial copies, and replicas and markers
that no version uses.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from ..arm.ids import VERSION_TYPE
from ..operations.runner import current, preempt
from ..settings import Settings
from ..storage import Operation, Store, Transaction
from . import layout
from .artifacts import ArtifactStore
from .blob import BlobArtifactStore
from .directory import DirectoryArtifactStore
from .job import Run
from .replicas import Marker, Replicas, reference
from .sources import Sources
from .throttle import Throttle
from .waiting import settle

log = logging.getLogger(__name__)

SHARED_PARTIAL_GRACE_SECONDS = 3600.0


def open_artifacts(settings: Settings, executor: ThreadPoolExecutor) -> ArtifactStore:
    """The artifact store the settings name."""
    options = settings.replication
    if options.blob_connection_string:
        return BlobArtifactStore(options.blob_connection_string, options.container_prefix, executor)
    return DirectoryArtifactStore(replication_dir(settings) / "replicas", executor)


def replication_dir(settings: Settings) -> Path:
    """Where replicas and staging files live; an in-memory service uses a directory of its own,
    emptied at every start and stop, so that it never touches a persistent service's replicas."""
    return settings.data_dir / ("replication-in-memory" if settings.in_memory else "replication")


class Replicator:
    """Fetches sources and keeps replicas for every version of the service."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings.replication
        self.store = store
        self.executor = ThreadPoolExecutor(
            self.settings.max_transfers + 2, thread_name_prefix="replication"
        )
        self.artifacts = open_artifacts(settings, self.executor)
        self.replicas = Replicas(self.artifacts)
        self.sources = Sources(self.settings, self.executor)
        self.throttle = Throttle(self.settings.bandwidth)
        self.slots = asyncio.Semaphore(self.settings.max_transfers)
        self.staging = replication_dir(settings) / "staging"
        self._in_memory = settings.in_memory
        # Services on one PostgreSQL database may share a blob store: partial copies younger
        # than this may be another service's copy in progress, not a leftover.
        self._partial_grace = SHARED_PARTIAL_GRACE_SECONDS if settings.database_url else 0.0
        # The job running for each version, and its operation.
        self._running: dict[str, tuple[asyncio.Task[None], str]] = {}

    async def start(self) -> None:
        """Open the artifact store and clear what earlier runs left; before jobs resume."""
        await asyncio.get_running_loop().run_in_executor(self.executor, self._clear_staging)
        await self.artifacts.open()
        log.info("replicas in %s", self.artifacts.description)
        try:
            discarded = await self.artifacts.discard_partial(self._partial_grace)
            if discarded:
                log.info("removed %d partial replicas left by an interrupted run", discarded)
            await self.collect()
        except Exception:
            # An unreachable blob account must not keep the API down: replications will
            # report it, and the next start cleans up.
            log.exception("could not clean up the artifact store (%s)", self.artifacts.description)

    async def stop(self) -> None:
        await self.sources.close()
        await self.artifacts.close()
        self.executor.shutdown(wait=True, cancel_futures=True)
        if self._in_memory:
            # What an in-memory service replicated goes with it.
            shutil.rmtree(self.staging.parent, ignore_errors=True)

    def _clear_staging(self) -> None:
        if self._in_memory:
            shutil.rmtree(self.staging.parent, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True, exist_ok=True)

    # -- jobs ----------------------------------------------------------------------------

    async def replicate(self, op: Operation) -> None:
        """The provisioning job of a version: make its replicas what its profile asks for."""
        async with self._exclusive(op):
            record = await self.store.get(op.resource_key)
            if record is None or record.operation_id != op.id:
                await self.store.write(lambda tx: _orphaned(tx, op))
                return
            await Run(self, op, record).execute()

    async def remove(self, op: Operation) -> None:
        """Before a version's deletion completes: remove its replicas and markers."""
        async with self._exclusive(op):
            references = {reference(op.resource_key, role) for role in layout.ROLES}
            for marker in await self.replicas.markers_of(references):
                await self.replicas.detach(marker.location, marker.digest, marker.reference)

    async def forget(self, group_key: str) -> None:
        """After a resource group's deletion: stop its versions' jobs, collect their replicas."""
        stopped = [
            (key, task, op_id)
            for key, (task, op_id) in self._running.items()
            if key.startswith(group_key + "/")
        ]
        for _, task, _ in stopped:
            task.cancel()
        for _, task, op_id in stopped:
            await settle(task)
            await self.store.write(partial(preempt, operation_id=op_id))
        await self.collect()

    @asynccontextmanager
    async def _exclusive(self, op: Operation) -> AsyncIterator[None]:
        """Run as the version's only job: cancel the one before and wait until it stopped."""
        task = asyncio.current_task()
        assert task is not None
        key = op.resource_key
        previous = self._running.get(key)
        self._running[key] = (task, op.id)
        try:
            if previous is not None and not previous[0].done():
                previous[0].cancel()
                await settle(previous[0])
            yield
        finally:
            if self._running.get(key, (None, ""))[0] is task:
                del self._running[key]

    # -- garbage -------------------------------------------------------------------------

    async def collect(self) -> None:
        """Remove markers no version wants and the replicas only they kept."""
        await self.replicas.collect(self._alive)

    async def _alive(self, marker: Marker) -> bool:
        record = await self.store.get(marker.owner)
        if record is None or record.type != VERSION_TYPE.lower():
            return False
        role = marker.reference.rpartition(".")[2]
        if marker.reference != reference(record.key, role):
            return False
        if record.operation_id is not None:
            op = await self.store.get_operation(record.operation_id)
            if op is not None and not op.finished:
                return True  # its job decides, once it runs
        return (marker.location, role, marker.digest) in layout.wanted(record.body["properties"])


def _orphaned(tx: Transaction, op: Operation) -> None:
    """A job whose version is gone ends its operation; one that was replaced changes nothing."""
    if current(tx, op.id) is not None and tx.get(op.resource_key) is None:
        preempt(tx, op.id)
