"""One replication run: a version's sources fetched once, then copied to each target region.

The run streams each source that must be read (package, then configuration) into a staging
file while hashing it, then copies the staging file into every location that lacks the
content, regions side by side, within the service's transfer slots and bandwidth. Progress
goes into the version's stored ``replicationStatus`` about once a second and whenever a
region's state changes while others still wait; every such write first checks that the
operation is still current, and a run whose operation was replaced or ended stops its copies
and leaves the rest to the newer operation. The version's markers that its recorded replicas
no longer need are then removed, with any content that was only theirs, once the replicas it
keeps are stored; and the run ends with one write: the replication state,
``provisioningState`` and the operation, Succeeded or Failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..operations.runner import current, fail, preempt, succeed
from ..storage import Operation, Record, Transaction
from . import layout, sizes
from .artifacts import Canceled, Location, Transfer
from .replicas import Marker, reference
from .sources import SourceError, identity, redact
from .waiting import settle

if TYPE_CHECKING:
    from .replicator import Replicator

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
LOG_SECONDS = 10.0
PROFILE_PATH = "galleryApplicationVersion.properties.publishingProfile"


@dataclass
class _Content:
    """One source of the version (its package or its configuration) and what it holds."""

    role: str
    url: str
    limit: int
    digest: str | None = None
    size: int | None = None
    announced: int | None = None
    fetched: int = 0
    staging: Path | None = None
    fetched_now: bool = False


@dataclass
class _Region:
    """One target region's share of the run."""

    name: str
    key: str
    sets: dict[str, int]
    state: str = "Replicating"
    details: str = ""
    fetching: set[str] = field(default_factory=set)
    missing: list[tuple[Location, str]] = field(default_factory=list)
    copy_total: int = 0
    copy_done: int = 0

    @property
    def locations(self) -> list[Location]:
        return layout.places(self.key, self.sets)


class Run:
    """The work of one provisioning operation of one version."""

    def __init__(self, replicator: Replicator, op: Operation, record: Record) -> None:
        self.replicator = replicator
        self.op = op
        self.key = record.key
        self.version_id = record.id
        properties = record.body["properties"]
        profile = properties["publishingProfile"]
        previous = layout.state_of(properties)
        self.recorded: layout.Layout = dict(previous.get("replicas") or {})
        self.known = {role: previous.get(role) for role in layout.ROLES}
        settings = replicator.settings
        limits = {"package": settings.max_package_bytes, "config": settings.max_config_bytes}
        self.contents = {
            role: _Content(role, url, limits[role]) for role, url in layout.links(profile).items()
        }
        for role, content in self.contents.items():
            known = self.known[role]
            if known and known.get("source") == _identity(content.url):
                content.digest, content.size = known["sha256"], known["size"]
        done = layout.settled(properties)
        desired = layout.desired(profile)
        self.desired = desired
        self.regions = [
            _Region(
                target["name"],
                layout.region_name(target["name"]),
                desired[layout.region_name(target["name"])],
                "Completed" if layout.region_name(target["name"]) in done else "Replicating",
            )
            for target in profile.get("targetRegions") or []
        ]
        self.cancel = threading.Event()
        self.superseded = False
        self.started = time.monotonic()
        # Changes made, and how many of them the stored state shows.
        self._changes = 0
        self._written = -1
        self._flush_lock = asyncio.Lock()

    # -- the run -------------------------------------------------------------------------

    async def execute(self) -> None:
        pending = [region for region in self.regions if region.state != "Completed"]
        log.info(
            "replicating %s: %d of its %d regions need work",
            self.version_id,
            len(pending),
            len(self.regions),
        )
        reporter = asyncio.get_running_loop().create_task(self._report())
        try:
            try:
                error = await self._replicate()
            except Canceled:
                if not self.superseded:
                    raise
                return
            except Exception:
                # A fault of the service itself: the regions show it, and the runner ends the
                # operation with its internal error.
                for region in self._pending():
                    region.state = "Failed"
                    region.details = "The replication failed with an internal error."
                await self._flush(final=True)
                raise
            finally:
                reporter.cancel()
                await asyncio.gather(reporter, return_exceptions=True)
            # The replicas the version keeps are stored before any other of its markers go,
            # and the operation ends only once they went. With none to remove, the final write
            # stores them.
            unused = await self._unused_markers()
            if unused:
                await self._flush()
                if self.superseded:
                    return
                await self._detach(unused)
            await self._finish(error)
        finally:
            self.cancel.set()
            await self._discard_staging()

    async def _replicate(self) -> dict[str, str] | None:
        """Fetch and copy; the operation's error when a source or a region failed."""
        for content in self.contents.values():
            if content.digest is not None:
                await self._place(content, self._pending())

        for content in self.contents.values():
            if content.digest is not None and not any(
                content.role in {role for _, role in region.missing} for region in self._pending()
            ):
                continue
            for region in self._pending():
                region.fetching.add(content.role)
            self._changed()
            known = content.digest
            try:
                await self._fetch(content)
            except SourceError as error:
                return self._source_failed(content, error)
            reopened = []
            if known is not None and known != content.digest:
                # The source now holds other bytes than the replicas: every region gets them.
                log.warning(
                    "the %s of %s changed at its source; replicating it to every region again",
                    content.role,
                    self.version_id,
                )
                reopened = [region for region in self.regions if region.state == "Completed"]
                for region in reopened:
                    region.state = "Replicating"
                    self.recorded.pop(region.key, None)
            for region in self._pending():
                region.missing = [item for item in region.missing if item[1] != content.role]
            for other in self.contents.values():
                if other is not content and other.digest is not None:
                    await self._place(other, reopened)
            await self._place(content, self._pending())

        outcomes = await asyncio.gather(
            *(self._copy_region(region) for region in self._pending()), return_exceptions=True
        )
        _raise_first(outcomes)
        failed = [region for region in self.regions if region.state == "Failed"]
        if failed:
            return {
                "code": "ReplicationJobsNotCompleted",
                "message": "Replication job not completed in region: "
                + ", ".join(f"'{region.name}', reason: '{region.details}'" for region in failed),
            }
        return None

    def _pending(self) -> list[_Region]:
        return [region for region in self.regions if region.state == "Replicating"]

    async def _place(self, content: _Content, regions: list[_Region]) -> None:
        """Mark the content used in each region's locations; note where it is missing."""
        assert content.digest is not None
        ref = reference(self.key, content.role)
        for region in regions:
            try:
                for location in region.locations:
                    present = await self.replicator.replicas.attach(
                        location, content.digest, ref, self.key
                    )
                    if not present and (location, content.role) not in region.missing:
                        region.missing.append((location, content.role))
            except Exception as error:
                self._region_failed(region, error)

    def _region_failed(self, region: _Region, error: Exception) -> None:
        """A region whose artifact store failed; the other regions go on."""
        reason = str(error) or type(error).__name__
        log.warning("replication of %s to %s failed: %s", self.version_id, region.name, reason)
        region.state, region.details = "Failed", reason
        self._changed()

    def _source_failed(self, content: _Content, error: SourceError) -> dict[str, str]:
        for region in self._pending():
            region.state, region.details = "Failed", error.message
        self._changed()
        return {
            "code": "InvalidParameter",
            "message": error.message,
            "target": f"{PROFILE_PATH}.source.{layout.LINKS[content.role]}",
        }

    async def _fetch(self, content: _Content) -> None:
        """Stream the source into a staging file, hashing it on the way."""
        replicator = self.replicator
        loop = asyncio.get_running_loop()
        path = replicator.staging / f"{self.op.id}.{content.role}"
        content.staging = path
        content.fetched = 0
        hasher = hashlib.sha256()
        async with replicator.slots, replicator.sources.open(content.url, content.limit) as source:
            content.announced = source.size
            log.info(
                "fetching the %s of %s from %s (%s)",
                content.role,
                self.version_id,
                redact(content.url),
                sizes.describe(source.size) if source.size is not None else "size not given",
            )
            staging = _Staging(path)
            writing: asyncio.Future[None] | None = None
            try:
                async for chunk in source.chunks:
                    if self.cancel.is_set():
                        raise Canceled(f"the fetch of {redact(content.url)} was canceled")
                    await asyncio.sleep(replicator.throttle.delay(len(chunk)))
                    if writing is not None:
                        await writing
                    # Hash and write on a thread while the next chunk arrives.
                    writing = loop.run_in_executor(
                        replicator.executor, staging.absorb, hasher, chunk
                    )
                    content.fetched += len(chunk)
                    self._changed()
                if writing is not None:
                    await writing
            finally:
                # No thread may touch the file once this run removes it.
                if writing is not None:
                    await settle(writing)
                await settle(loop.run_in_executor(replicator.executor, staging.close))
        content.digest, content.size = hasher.hexdigest(), content.fetched
        content.fetched_now = True
        log.info(
            "fetched the %s of %s: %s, sha256 %s",
            content.role,
            self.version_id,
            sizes.describe(content.size),
            content.digest,
        )

    async def _copy_region(self, region: _Region) -> None:
        """Copy what the region lacks, wait out the configured region time, mark it done."""
        replicator = self.replicator
        for _, role in region.missing:
            region.copy_total += self.contents[role].size or 0

        def moved(count: int) -> None:
            region.copy_done += count
            self._changed()

        async def copy(location: Location, role: str) -> None:
            content = self.contents[role]
            assert content.digest is not None and content.size is not None
            if content.staging is None:
                raise RuntimeError(f"the {role} was not fetched but {location} lacks it")
            transfer = Transfer(
                content.staging,
                content.size,
                content.digest,
                moved,
                self.cancel,
                replicator.throttle,
            )
            async with replicator.slots:
                await replicator.replicas.fill(location, transfer)

        try:
            # Every copy ends before the region does: none may outlive the run that wants it.
            outcomes = await asyncio.gather(
                *(copy(location, role) for location, role in region.missing),
                return_exceptions=True,
            )
            _raise_first(outcomes)
            wait = self.started + replicator.settings.region_seconds - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        except (Canceled, asyncio.CancelledError):
            raise
        except Exception as error:
            self._region_failed(region, error)
        else:
            region.state = "Completed"
            self.recorded[region.key] = region.sets
            self._changed()
        if self._pending():
            # Progress for those still waiting; the run's next write reports the last region.
            await self._flush()

    # -- progress ------------------------------------------------------------------------

    def _changed(self) -> None:
        self._changes += 1

    def _progress(self, region: _Region) -> int:
        if region.state == "Completed":
            return 100
        fetch = 1.0
        if region.fetching:
            expected = fetched = 0
            for role in region.fetching:
                content = self.contents[role]
                size = content.size if content.fetched_now else content.announced
                expected += size or 0
                fetched += content.fetched
            fetch = min(fetched / expected, 1.0) if expected else 0.0
        if fetch < 1.0:
            copied = 0.0
        else:
            copied = region.copy_done / region.copy_total if region.copy_total else 1.0
        value = 50 * (fetch + copied) if region.fetching else 100 * copied
        seconds = self.replicator.settings.region_seconds
        if seconds > 0:
            value = min(value, 100 * (time.monotonic() - self.started) / seconds)
        # 100 is for a region whose replicas are all in place.
        return min(int(value), 99)

    def status(self, final: bool = False) -> dict[str, Any]:
        summary = [
            layout.region_status(region.name, region.state, self._progress(region), region.details)
            for region in self.regions
        ]
        if not final:
            aggregated = "InProgress"
        elif any(region.state == "Failed" for region in self.regions):
            aggregated = "Failed"
        else:
            aggregated = "Completed"
        return {"aggregatedState": aggregated, "summary": summary}

    def state(self, final: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = {"status": self.status(final)}
        for role in layout.ROLES:
            content = self.contents.get(role)
            if content is not None and content.digest is not None and content.size is not None:
                state[role] = {
                    "source": _identity(content.url),
                    "sha256": content.digest,
                    "size": content.size,
                }
        state["replicas"] = {
            region: sets for region, sets in self.recorded.items() if region in self.desired
        }
        return state

    async def _report(self) -> None:
        logged = 0
        last_log = time.monotonic()
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if self.replicator.settings.region_seconds > 0:
                self._changed()  # progress advances with the time itself
            await self._flush()
            if time.monotonic() - last_log >= LOG_SECONDS and self._changes != logged:
                logged, last_log = self._changes, time.monotonic()
                log.info(
                    "replicating %s: %s",
                    self.version_id,
                    ", ".join(f"{r.name} {self._progress(r)}%" for r in self._pending()),
                )

    async def _flush(self, final: bool = False) -> None:
        """Store the current state, if the operation is still the version's current one.

        A state already stored as it is now is not written again.
        """
        if self._changes == self._written and not final:
            return
        changes, state = self._changes, self.state(final)

        def write(tx: Transaction) -> bool:
            record = self._own_record(tx)
            if record is None:
                return False
            record.body["properties"][layout.STATE] = state
            tx.put(record)
            return True

        async with self._flush_lock:
            if not self.superseded and not await self.replicator.store.write(write):
                self.supersede()
            self._written = changes

    def supersede(self) -> None:
        self.superseded = True
        self.cancel.set()

    def _own_record(self, tx: Transaction) -> Record | None:
        """The version, if this run's operation is still running and still its latest."""
        if current(tx, self.op.id) is None:
            return None
        record = tx.get(self.key)
        if record is None:
            # The version went with its resource group: the operation ends with it.
            preempt(tx, self.op.id)
            return None
        return record if record.operation_id == self.op.id else None

    # -- the end -------------------------------------------------------------------------

    async def _finish(self, error: dict[str, str] | None) -> bool:
        """The one write that ends the operation; False when it was no longer current."""
        state = self.state(final=True)

        def write(tx: Transaction) -> bool:
            record = self._own_record(tx)
            if record is None:
                return False
            properties = record.body["properties"]
            properties[layout.STATE] = state
            if error is None:
                properties["provisioningState"] = "Succeeded"
                tx.put(record)
                succeed(tx, self.op.id)
            else:
                tx.put(record)
                fail(tx, self.op.id, error)
            return True

        async with self._flush_lock:
            finished = await self.replicator.store.write(write)
        elapsed = time.monotonic() - self.started
        if finished and error is None:
            log.info("replicated %s to every region in %.1f s", self.version_id, elapsed)
        elif finished and error is not None:
            log.warning("replication of %s failed: %s", self.version_id, error["message"])
        return finished

    async def _unused_markers(self) -> list[Marker]:
        """The version's markers its recorded replicas do not use."""
        keep = layout.wanted({layout.STATE: self.state(final=True)})
        references = {reference(self.key, role): role for role in layout.ROLES}
        return [
            marker
            for marker in await self.replicator.replicas.markers_of(set(references))
            if (marker.location, references[marker.reference], marker.digest) not in keep
        ]

    async def _detach(self, markers: list[Marker]) -> None:
        for marker in markers:
            await self.replicator.replicas.detach(marker.location, marker.digest, marker.reference)

    async def _discard_staging(self) -> None:
        for content in self.contents.values():
            if content.staging is not None:
                await self._thread(content.staging.unlink, True)

    async def _thread(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.replicator.executor, fn, *args)


def _identity(url: str) -> str:
    value = identity(url)
    assert value is not None
    return value


def _raise_first(outcomes: list[Any]) -> None:
    """Raise a cancellation among gathered outcomes first, else the first error, if any."""
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    for error in errors:
        if isinstance(error, Canceled | asyncio.CancelledError):
            raise error
    if errors:
        raise errors[0]


class _Staging:
    """A staging file, opened by its first write; used only on replication threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    def absorb(self, hasher: Any, chunk: bytes) -> None:
        if self._file is None:
            self._file = self.path.open("wb")
        hasher.update(chunk)
        self._file.write(chunk)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
