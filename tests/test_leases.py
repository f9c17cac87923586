"""Operation leases with real stores: runners (as separate instances) sharing one PostgreSQL
database claim, renew, release and take over operations, and a job that lost its claim
writes nothing; on SQLite a restarted runner resumes its own operations at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from compute_gallery import clock
from compute_gallery.operations.runner import OperationRunner, current, succeed
from compute_gallery.storage import Operation, Record, Store, Transaction
from compute_gallery.storage.postgres import PostgresStore
from compute_gallery.storage.sqlite import SqliteStore

from .postgres import PostgresServer

T = TypeVar("T")

KIND = "test"
MARK = "/subscriptions/s/resourcegroups/rg/mark"
# Whole-test deadline for conditions polled below; far beyond what any should take.
PATIENCE = 30.0


def new_operation(runner: OperationRunner) -> Operation:
    op = Operation(str(uuid.uuid4()), KIND, "s", "eastus", MARK, MARK, "2025-03-03")
    op.start_time = clock.iso()
    return runner.own(op)


def mark(tx: Transaction, operation_id: str, who: str) -> bool:
    """A job's write: stamp who finished the operation, if it still may; then end it."""
    if current(tx, operation_id) is None:
        return False
    tx.put(Record(MARK, MARK, "t", "/subscriptions/s/resourcegroups/rg", "s", {"by": who}))
    succeed(tx, operation_id)
    return True


class Gate:
    """A job that waits to be let through, then marks its operation; records what it did."""

    def __init__(self, store: Store, who: str) -> None:
        self.store = store
        self.who = who
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        self.wrote: list[bool] = []
        self.cancelled = False

    async def __call__(self, op: Operation) -> None:
        self.started.set()
        try:
            await self.go.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.wrote.append(await self.store.write(lambda tx: mark(tx, op.id, self.who)))


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not await condition():
        assert time.monotonic() < deadline, f"still not {what} after {PATIENCE} s"
        await asyncio.sleep(0.05)


async def instances(
    store_a: Store, store_b: Store, lease_a: float, lease_b: float
) -> tuple[OperationRunner, OperationRunner, Gate, Gate]:
    """Two started runners, as instances "a" and "b" would have, each with a gated job."""
    runners = []
    jobs = []
    for name, store, lease in (("a", store_a, lease_a), ("b", store_b, lease_b)):
        runner = OperationRunner(store, f"instance-{name}", lease_seconds=lease)
        job = Gate(store, name)
        runner.register(KIND, job)
        await runner.start()
        runners.append(runner)
        jobs.append(job)
    return runners[0], runners[1], jobs[0], jobs[1]


async def run_on(runner: OperationRunner, store: Store) -> Operation:
    """A new operation the way a request starts one: claimed, written, then submitted."""
    op = new_operation(runner)
    await store.write(lambda tx: tx.put_operation(op))
    runner.submit(op)
    return op


def on_postgres(url: str, body: Callable[[PostgresStore, PostgresStore], Awaitable[T]]) -> T:
    async def main() -> T:
        first, second = PostgresStore(url, pool_size=4), PostgresStore(url, pool_size=4)
        await first.open()
        await second.open()
        try:
            return await body(first, second)
        finally:
            await first.close()
            await second.close()

    return asyncio.run(main())


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.create_database()


def test_job_that_lost_its_claim_writes_nothing(database: str) -> None:
    """A holds the operation but stops renewing (as if frozen); its claim lapses and B takes
    over. When A's job wakes and writes, the write is refused; B's goes through."""

    async def body(store_a: PostgresStore, store_b: PostgresStore) -> None:
        # A renews every 20 s: within this test it never notices it lost the claim by itself.
        runner_a, runner_b, job_a, job_b = await instances(store_a, store_b, 60, 1.5)
        op = await run_on(runner_a, store_a)
        await asyncio.wait_for(job_a.started.wait(), PATIENCE)

        def lapse(tx: Transaction) -> None:
            stored = tx.get_operation(op.id)
            assert stored is not None
            stored.lease_until = clock.time() - 1
            tx.put_operation(stored)

        await store_a.write(lapse)
        await asyncio.wait_for(job_b.started.wait(), PATIENCE)
        taken = await store_b.get_operation(op.id)
        assert taken is not None and (taken.owner, taken.lease) == ("instance-b", 2)

        job_a.go.set()
        await until(lambda: _true(bool(job_a.wrote)), "written by A")
        job_b.go.set()
        await until(lambda: _true(bool(job_b.wrote)), "written by B")

        assert job_a.wrote == [False]
        assert job_b.wrote == [True]
        stored_mark = await store_a.get(MARK)
        assert stored_mark is not None and stored_mark.body == {"by": "b"}
        finished = await store_a.get_operation(op.id)
        assert finished is not None and finished.status == "Succeeded"
        await runner_a.stop()
        await runner_b.stop()

    on_postgres(database, body)


def test_running_operation_is_not_taken_over_while_renewed(database: str) -> None:
    async def body(store_a: PostgresStore, store_b: PostgresStore) -> None:
        runner_a, runner_b, job_a, job_b = await instances(store_a, store_b, 1.5, 1.5)
        op = await run_on(runner_a, store_a)

        # Three renewals later the claim is still A's, with its first token, and B never ran.
        seen: list[float] = []

        async def renewed_three_times() -> bool:
            stored = await store_b.get_operation(op.id)
            assert stored is not None and (stored.owner, stored.lease) == ("instance-a", 1)
            if not seen or stored.lease_until != seen[-1]:
                seen.append(stored.lease_until)
            return len(seen) >= 4

        await until(renewed_three_times, "renewed three times")
        job_a.go.set()
        await until(lambda: _true(bool(job_a.wrote)), "written by A")

        assert job_a.wrote == [True]
        assert not job_b.started.is_set()
        await runner_a.stop()
        await runner_b.stop()

    on_postgres(database, body)


def test_clean_stop_releases_operations_for_another_instance(database: str) -> None:
    async def body(store_a: PostgresStore, store_b: PostgresStore) -> None:
        runner_a, runner_b, job_a, job_b = await instances(store_a, store_b, 600, 1.5)
        await run_on(runner_a, store_a)
        await asyncio.wait_for(job_a.started.wait(), PATIENCE)

        await runner_a.stop()
        # A's claim would last ten minutes: B can only have it because A gave it up.
        await asyncio.wait_for(job_b.started.wait(), PATIENCE)
        job_b.go.set()
        await until(lambda: _true(bool(job_b.wrote)), "written by B")

        assert job_a.cancelled and job_a.wrote == []
        assert job_b.wrote == [True]
        await runner_b.stop()

    on_postgres(database, body)


def test_job_stops_when_its_operation_ends_elsewhere(database: str) -> None:
    async def body(store_a: PostgresStore, store_b: PostgresStore) -> None:
        runner_a, runner_b, job_a, _ = await instances(store_a, store_b, 1.5, 600)
        op = await run_on(runner_a, store_a)
        await asyncio.wait_for(job_a.started.wait(), PATIENCE)

        # A newer request on another instance preempts the operation.
        def cancel(tx: Transaction) -> None:
            stored = tx.get_operation(op.id)
            assert stored is not None
            stored.status = "Canceled"
            tx.put_operation(stored)

        await store_b.write(cancel)
        await until(lambda: _true(job_a.cancelled), "stopped on A")
        assert job_a.wrote == []
        await runner_a.stop()
        await runner_b.stop()

    on_postgres(database, body)


def test_sqlite_restart_resumes_own_operations_at_once(tmp_path: Path) -> None:
    """On SQLite the instance is always "local": a restarted process resumes the operations
    it claimed before it died, without waiting for the claims to lapse."""
    path = tmp_path / "store.db"

    async def crash_with_a_claimed_operation() -> str:
        store = SqliteStore(path)
        await store.open()
        runner = OperationRunner(store, lease_seconds=600)
        op = new_operation(runner)
        await store.write(lambda tx: tx.put_operation(op))
        # The process dies here: no stop, so the ten-minute claim stays as written.
        await store.close()
        return op.id

    async def restart(operation_id: str) -> tuple[list[bool], Operation | None]:
        store = SqliteStore(path)
        await store.open()
        runner = OperationRunner(store, lease_seconds=600)
        job = Gate(store, "restarted")
        job.go.set()
        runner.register(KIND, job)
        await runner.start()
        await until(lambda: _true(bool(job.wrote)), "resumed")
        await runner.stop()
        stored = await store.get_operation(operation_id)
        await store.close()
        return job.wrote, stored

    operation_id = asyncio.run(crash_with_a_claimed_operation())
    wrote, stored = asyncio.run(restart(operation_id))
    assert wrote == [True]
    assert stored is not None and stored.status == "Succeeded" and stored.lease == 2


async def _true(value: bool) -> bool:
    return value
