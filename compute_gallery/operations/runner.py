"""The operation runner: executes each durable operation once it is due, resumes after a restart.

An operation is written in the same transaction as the resource change that starts it, so a
crash can never leave a resource in ``Creating`` without the job that will finish it. At
start the runner reads every unfinished operation back and schedules it again; a job's work is
idempotent (it ends with one transaction that checks the operation is still InProgress).

Each operation is leased to one instance at a time (``leases``): the runner claims what it
runs, renews those claims while it runs them, gives them up at a clean stop, and takes over
operations whose claims lapsed on other instances sharing the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .. import clock
from ..storage import Operation, Store, Transaction, Unavailable
from . import leases
from .leases import DEFAULT_LEASE_SECONDS, Lease

log = logging.getLogger(__name__)

Job = Callable[[Operation], Awaitable[None]]

# Most operations one poll takes over, so that instances surviving a lost one share its work.
_CLAIM_BATCH = 64


class OperationRunner:
    """Runs operations on the event loop, each as a task that waits until it is due.

    ``owner`` names this instance in the operations it claims; ``lease_seconds`` is how long
    a claim lasts unrenewed. Every third of it the runner renews its claims and looks for
    operations to take over; every tenth it stops the jobs whose claims it failed to renew.
    """

    def __init__(
        self, store: Store, owner: str = "local", lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> None:
        self._store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, Lease] = {}
        # When each held claim lapses unless renewed (epoch seconds, as stored).
        self._lapses: dict[str, float] = {}
        self._keepers: list[asyncio.Task[None]] = []
        self._stopping = False

    def register(self, kind: str, job: Job) -> None:
        """Name the coroutine that carries out operations of ``kind``."""
        self._jobs[kind] = job

    def own(self, op: Operation) -> Operation:
        """Claim a new operation for this instance, before its first write."""
        op.owner, op.lease, op.lease_until = self.owner, 1, clock.time() + self.lease_seconds
        return op

    async def start(self) -> None:
        await self._claim(at_start=True)
        loop = asyncio.get_running_loop()
        self._keepers = [
            loop.create_task(self._keep_leases(), name="operation-leases"),
            loop.create_task(self._watch_lapses(), name="operation-lapses"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        for keeper in self._keepers:
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)
        held = list(self._held.values())
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not held:
            return
        try:
            released = await self._store.write(lambda tx: leases.release(tx, held))
        except Exception as error:
            log.warning(
                "could not release %d operations (%s); other instances take them over once "
                "their claims lapse",
                len(held),
                error,
            )
            return
        if released:
            log.info("released %d unfinished operations for other instances", released)

    async def idle(self) -> None:
        """Wait until no operation is running (tests and snapshots use this)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def submit(self, op: Operation) -> None:
        """Schedule ``op``, claimed by this instance; called once its claim has committed.

        Operations are claimed as they are made (``own``, which ``new_operation`` calls); one
        made without a claim is left to the next claim round, a third of a lease later.
        """
        if self._stopping or op.id in self._tasks or op.owner != self.owner:
            return
        lease = Lease(op.id, self.owner, op.lease)
        self._held[op.id] = lease
        self._lapses[op.id] = op.lease_until
        task = asyncio.get_running_loop().create_task(
            self._run(op, lease), name=f"operation-{op.id}"
        )
        self._tasks[op.id] = task
        task.add_done_callback(lambda _: self._forget(op.id))

    def _forget(self, operation_id: str) -> None:
        self._tasks.pop(operation_id, None)
        self._held.pop(operation_id, None)
        self._lapses.pop(operation_id, None)

    async def _run(self, op: Operation, lease: Lease) -> None:
        leases.run_under(lease)
        log.debug("operation %s (%s) runs here under claim %d", op.id, op.kind, lease.token)
        job = self._jobs.get(op.kind)
        try:
            delay = op.due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if job is None:
                raise LookupError(f"no job is registered for operations of kind {op.kind!r}")
            await job(op)
        except asyncio.CancelledError:
            log.debug("operation %s (%s) stopped here", op.id, op.kind)
            raise
        except Unavailable as error:
            # Its claim lapses; this or another instance runs it again once the store is back.
            log.warning("operation %s (%s) stopped: %s", op.id, op.kind, error)
            return
        except Exception:
            # A job that breaks must still end its operation, or clients would poll forever.
            log.exception("operation %s (%s) failed unexpectedly", op.id, op.kind)
            try:
                await self._store.write(lambda tx: fail(tx, op.id, _internal_error(op)))
            except Unavailable as error:
                log.warning("operation %s (%s) could not be failed: %s", op.id, op.kind, error)
                return
        log.debug("operation %s (%s) ended here", op.id, op.kind)

    # -- leases ----------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Renew this instance's claims, then take over claims that lapsed elsewhere."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self._renew()
            except Exception as error:
                log.warning("could not renew the claims on running operations: %s", error)
            try:
                await self._claim()
            except Exception as error:
                log.warning("could not look for operations to take over: %s", error)

    async def _watch_lapses(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 10)
            self._stop_lapsed()

    async def _renew(self) -> None:
        held = list(self._held.values())
        if not held:
            return
        until = clock.time() + self.lease_seconds
        lost = await self._store.write(lambda tx: leases.renew(tx, held, until))
        for lease in held:
            task = self._tasks.get(lease.operation_id)
            if lease.operation_id not in lost:
                if lease.operation_id in self._lapses:
                    self._lapses[lease.operation_id] = until
            elif task is not None and not task.done():
                # Ended by a newer request, or taken over: its job has nothing left to do here.
                log.info(
                    "operation %s ended or is claimed elsewhere; stopping it here",
                    lease.operation_id,
                )
                task.cancel()

    def _stop_lapsed(self) -> None:
        """Stop jobs whose claims are about to lapse unrenewed: another instance may take
        them over then, and must not find them still running here."""
        margin = self.lease_seconds / 5
        now = clock.time()
        for operation_id, lapses in list(self._lapses.items()):
            task = self._tasks.get(operation_id)
            if lapses - margin <= now and task is not None and not task.done():
                log.warning(
                    "could not renew the claim on operation %s in time; stopping it here so "
                    "that another instance can take it over",
                    operation_id,
                )
                task.cancel()

    async def _claim(self, *, at_start: bool = False) -> None:
        """Claim and run the operations this instance may take: at start every one left
        unclaimed or claimed by an earlier run of this instance, later those whose claims
        lapsed."""
        now = clock.time()
        candidates = [
            op.id
            for op in await self._store.unfinished_operations()
            if op.id not in self._tasks and leases.claimable(op, self.owner, now, own_too=at_start)
        ]
        if not at_start:
            candidates = candidates[:_CLAIM_BATCH]
        if not candidates or self._stopping:
            return
        until = now + self.lease_seconds
        claimed = await self._store.write(
            lambda tx: leases.claim(tx, candidates, self.owner, now, until, own_too=at_start)
        )
        for op, former in claimed:
            if not at_start:
                log.info(
                    "took over operation %s (%s) %s",
                    op.id,
                    op.kind,
                    "released by its holder"
                    if former is None
                    else f"from {former}, whose claim lapsed",
                )
            self.submit(op)
        if at_start and claimed:
            log.info("resumed %d unfinished operations", len(claimed))
        elif claimed:
            log.info("claimed %d unfinished operations", len(claimed))


def _internal_error(op: Operation) -> dict[str, str]:
    return {
        "code": "InternalOperationError",
        "message": f"The operation '{op.id}' failed with an internal error; "
        "retry the request, and report it if it persists.",
    }


def succeed(tx: Transaction, operation_id: str) -> Operation | None:
    """Mark an operation Succeeded, if it is still running; return it."""
    return _finish(tx, operation_id, "Succeeded", None)


def fail(tx: Transaction, operation_id: str, error: dict[str, str]) -> Operation | None:
    """Mark an operation Failed with a CloudError ``error`` object, and its resource Failed."""
    op = _finish(tx, operation_id, "Failed", error)
    if op is not None:
        record = tx.get(op.resource_key)
        if record is not None and record.operation_id == op.id:
            record.body.setdefault("properties", {})["provisioningState"] = "Failed"
            tx.put(record)
    return op


def preempt(tx: Transaction, operation_id: str | None) -> None:
    """End a running operation because a newer request on the same resource replaced it."""
    if operation_id is None:
        return
    _finish(
        tx,
        operation_id,
        "Canceled",
        {
            "code": "OperationPreempted",
            "message": "Operation execution has been preempted by a more recent operation.",
        },
    )


def current(tx: Transaction, operation_id: str) -> Operation | None:
    """The operation as stored, if it is still running; else None.

    Every write a job makes starts with this check, so that a job whose operation was
    preempted or already ended, or whose instance no longer holds the operation's claim (see
    ``leases``), changes nothing.
    """
    op = tx.get_operation(operation_id)
    if op is None or op.finished or not leases.allows(op):
        return None
    return op


def _finish(
    tx: Transaction, operation_id: str, status: str, error: dict[str, str] | None
) -> Operation | None:
    op = current(tx, operation_id)
    if op is None:
        return None
    op.status = status
    op.end_time = clock.iso()
    op.error = error
    tx.put_operation(op)
    log.debug("operation %s (%s) %s", op.id, op.kind, status)
    return op
