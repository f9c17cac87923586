"""The operation runner: executes each durable operation once it is due, resumes after a restart.

An operation is written in the same transaction as the resource change that starts it, so a
crash can never leave a resource in ``Creating`` without the job that will finish it. At
start the runner reads every unfinished operation back and schedules it again; a job's work is
idempotent (it ends with one transaction that checks the operation is still InProgress).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .. import clock
from ..storage import Operation, Store, Transaction

log = logging.getLogger(__name__)

Job = Callable[[Operation], Awaitable[None]]


class OperationRunner:
    """Runs operations on the event loop, each as a task that waits until it is due."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def register(self, kind: str, job: Job) -> None:
        """Name the coroutine that carries out operations of ``kind``."""
        self._jobs[kind] = job

    async def start(self) -> None:
        resumed = await self._store.unfinished_operations()
        for op in resumed:
            self.submit(op)
        if resumed:
            log.info("resumed %d unfinished operations", len(resumed))

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no operation is running (tests and snapshots use this)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def submit(self, op: Operation) -> None:
        """Schedule ``op``; called once its starting transaction has committed."""
        if self._stopping or op.id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(op), name=f"operation-{op.id}")
        self._tasks[op.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(op.id, None))

    async def _run(self, op: Operation) -> None:
        delay = op.due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        job = self._jobs.get(op.kind)
        try:
            if job is None:
                raise LookupError(f"no job is registered for operations of kind {op.kind!r}")
            await job(op)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A job that breaks must still end its operation, or clients would poll forever.
            log.exception("operation %s (%s) failed unexpectedly", op.id, op.kind)
            await self._store.write(lambda tx: fail(tx, op.id, _internal_error(op)))


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
    preempted or already ended changes nothing.
    """
    op = tx.get_operation(operation_id)
    if op is None or op.finished:
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
