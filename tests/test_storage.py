"""The stores on their own: atomic writes, serial rules, paging; SQLite's persistence and memory
mode. Every test of the storage interface runs on SQLite (on disk and in memory) and on
PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TypeVar

import pytest

from compute_gallery.storage import InUse, Operation, Record, Store, Transaction, writer
from compute_gallery.storage.postgres import PostgresStore
from compute_gallery.storage.sqlite import SqliteStore

T = TypeVar("T")

PARENT = "/subscriptions/s/resourcegroups/rg"


def record(name: str, parent: str = PARENT, type_: str = "t") -> Record:
    key = f"{parent}/{name}".lower()
    return Record(key, key, type_, parent.lower(), "s", {"name": name, "n": 1})


def operation(op_id: str, status: str = "InProgress") -> Operation:
    return Operation(op_id, "provision", "s", "eastus", "k", "K", "2025-03-03", status=status)


S = TypeVar("S", bound=Store)


def run(store: S, body: Callable[[S], Awaitable[T]]) -> T:
    async def main() -> T:
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture(params=["disk", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "postgres":
        return PostgresStore(request.getfixturevalue("postgres").create_database(), pool_size=4)
    return SqliteStore(tmp_path / "store.db" if request.param == "disk" else None)


def test_operation_ids_are_guids_of_the_kind_the_store_indexes_best(store: Store) -> None:
    ids = [store.new_operation_id() for _ in range(1000)]

    assert len(set(ids)) == 1000
    assert all(str(uuid.UUID(text)) == text for text in ids)
    # SQLite appends time-ordered ids; PostgreSQL takes random ones, which SERIALIZABLE
    # writers of different operations do not conflict on.
    expected = 4 if isinstance(store, PostgresStore) else 7
    assert {uuid.UUID(text).version for text in ids} == {expected}


def test_write_is_visible_to_reads(store: Store) -> None:
    async def body(s: Store) -> Record | None:
        await s.write(lambda tx: tx.put(record("a")))
        return await s.get(record("a").key)

    found = run(store, body)
    assert found is not None and found.body == {"name": "a", "n": 1}


def test_write_that_raises_leaves_nothing(store: Store) -> None:
    def broken(tx: Transaction) -> None:
        tx.put(record("a"))
        tx.put_operation(operation("op"))
        raise ValueError("rule failed")

    async def body(s: Store) -> tuple[Record | None, Operation | None]:
        with pytest.raises(ValueError, match="rule failed"):
            await s.write(broken)
        return await s.get(record("a").key), await s.get_operation("op")

    assert run(store, body) == (None, None)


def test_failed_write_does_not_undo_others_in_its_batch(store: Store) -> None:
    def broken(tx: Transaction) -> None:
        tx.put(record("bad"))
        raise ValueError("no")

    async def body(s: Store) -> list[str]:
        results = await asyncio.gather(
            s.write(lambda tx: tx.put(record("one"))),
            s.write(broken),
            s.write(lambda tx: tx.put(record("two"))),
            return_exceptions=True,
        )
        assert isinstance(results[1], ValueError)
        return [r.body["name"] for r in await s.list_children(PARENT.lower(), "t", None, 10)]

    assert run(store, body) == ["one", "two"]


def test_write_sees_its_own_writes(store: Store) -> None:
    def body_of_write(tx: Transaction) -> list[object]:
        tx.put(record("a"))
        seen: list[object] = [tx.get(record("a").key)]
        tx.delete(record("a").key)
        seen.append(tx.get(record("a").key))
        tx.put_operation(operation("op"))
        seen.append(tx.get_operation("op"))
        return seen

    async def body(s: Store) -> list[object]:
        return await s.write(body_of_write)

    put, deleted, op = run(store, body)
    assert isinstance(put, Record) and put.body == {"name": "a", "n": 1}
    assert deleted is None
    assert isinstance(op, Operation) and op.status == "InProgress"


def test_failed_write_is_invisible_to_later_writes_in_its_batch(store: Store) -> None:
    def broken(tx: Transaction) -> None:
        tx.put(record("bad"))
        tx.put_operation(operation("bad-op"))
        raise ValueError("no")

    async def body(s: Store) -> tuple[object, object]:
        results = await asyncio.gather(
            s.write(broken),
            s.write(lambda tx: (tx.get(record("bad").key), tx.get_operation("bad-op"))),
            return_exceptions=True,
        )
        assert isinstance(results[0], ValueError)
        seen = results[1]
        assert isinstance(seen, tuple)
        return seen[0], seen[1]

    assert run(store, body) == (None, None)


def test_failed_write_after_a_query_leaves_nothing(store: Store) -> None:
    """first_child puts the write's rows into the database early; they still roll back."""
    gallery = record("g")

    def broken(tx: Transaction) -> None:
        tx.put(record("a", parent=gallery.key))
        assert tx.first_child(gallery.key) is not None
        raise ValueError("rule failed")

    async def body(s: Store) -> tuple[Record | None, Record | None]:
        await s.write(lambda tx: tx.put(gallery))
        with pytest.raises(ValueError, match="rule failed"):
            await s.write(broken)
        child = await s.write(lambda tx: tx.first_child(gallery.key))
        return child, await s.get(record("a", parent=gallery.key).key)

    assert run(store, body) == (None, None)


def test_changing_a_read_record_without_put_changes_nothing(store: Store) -> None:
    def meddle(tx: Transaction) -> None:
        found = tx.get(record("a").key)
        assert found is not None
        found.body["n"] = 99

    async def body(s: Store) -> tuple[object, object]:
        await s.write(lambda tx: tx.put(record("a")))
        await s.write(meddle)
        inside = await s.write(lambda tx: tx.get(record("a").key))
        return inside.body["n"] if inside else None, (await s.get(record("a").key))

    inside, outside = run(store, body)
    assert inside == 1
    assert isinstance(outside, Record) and outside.body["n"] == 1


def test_delete_tree_hides_descendants_read_earlier(store: Store) -> None:
    gallery = record("g")
    child = record("a", parent=gallery.key)

    def delete_then_read(tx: Transaction) -> tuple[Record | None, Record | None]:
        tx.delete_tree(gallery.key)
        return tx.get(gallery.key), tx.get(child.key)

    async def body(s: Store) -> tuple[Record | None, Record | None]:
        await s.write(lambda tx: (tx.put(gallery), tx.put(child)))
        # Read both inside a write first, so that they are cached.
        await s.write(lambda tx: (tx.get(gallery.key), tx.get(child.key)))
        return await s.write(delete_then_read)

    assert run(store, body) == (None, None)


def test_reads_follow_every_committed_change(store: Store) -> None:
    gallery = record("g")
    child = record("a", parent=gallery.key)
    changed = record("g")
    changed.body["n"] = 2

    async def body(s: Store) -> list[object]:
        seen: list[object] = []

        async def read() -> None:
            found = [await s.get(gallery.key), await s.get(child.key)]
            seen.append([r.body["n"] if r else None for r in found])

        await s.write(lambda tx: (tx.put(gallery), tx.put(child)))
        await read()
        await s.write(lambda tx: tx.put(changed))
        await read()
        await s.write(lambda tx: tx.delete(child.key))
        await read()
        await s.write(lambda tx: tx.put(child))
        await read()
        await s.write(lambda tx: tx.delete_tree(gallery.key))
        await read()
        # A failed write in a batch leaves the reads as they were.
        failed = await asyncio.gather(
            s.write(lambda tx: tx.put(gallery)),
            s.write(lambda tx: (tx.put(child), 1 / 0)),
            return_exceptions=True,
        )
        assert isinstance(failed[1], ZeroDivisionError)
        await read()
        return seen

    assert run(store, body) == [[1, 1], [2, 1], [2, None], [2, 1], [None, None], [1, None]]


def test_changing_a_record_read_outside_a_write_changes_nothing(store: Store) -> None:
    async def body(s: Store) -> int:
        await s.write(lambda tx: tx.put(record("a")))
        first = await s.get(record("a").key)
        assert first is not None
        first.body["n"] = 99
        again = await s.get(record("a").key)
        assert again is not None
        return int(again.body["n"])

    assert run(store, body) == 1


def test_concurrent_read_modify_writes_are_serial(store: Store) -> None:
    def increment(tx: Transaction) -> None:
        found = tx.get(record("counter").key)
        current = found if found is not None else record("counter")
        current.body["n"] = current.body["n"] + 1 if found else 1
        tx.put(current)

    async def body(s: Store) -> int:
        await asyncio.gather(*(s.write(increment) for _ in range(200)))
        found = await s.get(record("counter").key)
        assert found is not None
        return int(found.body["n"])

    assert run(store, body) == 200


def test_write_functions_run_in_their_callers_context(store: Store) -> None:
    """Writes from several tasks (one SQLite batch) each see their own caller's variables:
    the operation runner's claim on an operation travels so."""
    caller: ContextVar[str] = ContextVar("caller")

    async def body(s: Store) -> list[str]:
        async def write_as(name: str) -> str:
            caller.set(name)
            return await s.write(lambda tx: caller.get())

        return list(await asyncio.gather(*(write_as(name) for name in "abcd")))

    assert run(store, body) == ["a", "b", "c", "d"]


def test_delete_tree_removes_descendants_only(store: Store) -> None:
    gallery = record("g")
    child = record("a", parent=gallery.key)
    grandchild = record("v", parent=child.key)
    sibling = record("g2")

    def seed(tx: Transaction) -> None:
        for item in (gallery, child, grandchild, sibling):
            tx.put(item)

    async def body(s: Store) -> tuple[int, list[str]]:
        await s.write(seed)
        removed = await s.write(lambda tx: tx.delete_tree(gallery.key))
        left = [r.key for r in await s.list_children(PARENT.lower(), "t", None, 10)]
        return removed, left

    removed, left = run(store, body)
    assert removed == 3
    assert left == [sibling.key]


def test_first_child_finds_a_direct_child(store: Store) -> None:
    gallery = record("g")

    async def body(s: Store) -> tuple[Record | None, Record | None]:
        await s.write(lambda tx: tx.put(gallery))
        before = await s.write(lambda tx: tx.first_child(gallery.key))
        await s.write(lambda tx: tx.put(record("a", parent=gallery.key)))
        after = await s.write(lambda tx: tx.first_child(gallery.key))
        return before, after

    before, after = run(store, body)
    assert before is None
    assert after is not None and after.body["name"] == "a"


def test_queries_inside_a_write_see_its_own_writes(store: Store) -> None:
    gallery = record("g")
    kept = record("a", parent=gallery.key)
    gone = record("b", parent=gallery.key)

    def write(tx: Transaction) -> list[object]:
        seen: list[object] = []
        tx.delete(gone.key)
        seen.append(tx.first_child(gallery.key))  # only the deleted child is stored
        tx.put(kept)
        found = tx.first_child(gallery.key)
        seen.append(found.key if found else None)
        tx.put(record("v", parent=kept.key))
        seen.append(tx.delete_tree(gallery.key))  # the stored gallery and two written here
        seen.append(tx.get(kept.key))
        return seen

    async def body(s: Store) -> tuple[list[object], list[str]]:
        await s.write(lambda tx: (tx.put(gallery), tx.put(gone)))
        seen = await s.write(write)
        left = [r.key for r in await s.list_children(PARENT.lower(), "t", None, 10)]
        return seen, left

    seen, left = run(store, body)
    assert seen == [None, kept.key, 3, None]
    assert left == []


def test_pruning_sees_operations_written_in_its_batch(store: Store) -> None:
    async def body(s: Store) -> tuple[int, Operation | None, Operation | None]:
        # Written and pruned in one batch (SQLite), before the first commits.
        _, pruned = await asyncio.gather(
            s.write(lambda tx: tx.put_operation(operation("done", status="Succeeded"))),
            s.prune_operations(finished_before=float("inf")),
        )
        kept = await s.write(lambda tx: tx.get_operation("done"))
        return pruned, kept, await s.get_operation("done")

    assert run(store, body) == (1, None, None)


def test_list_pages_in_key_order(store: Store) -> None:
    names = [f"r{i:02d}" for i in range(7)]

    def seed(tx: Transaction) -> None:
        for name in reversed(names):
            tx.put(record(name))

    async def body(s: Store) -> list[list[str]]:
        await s.write(seed)
        pages, after = [], None
        while True:
            page = await s.list_children(PARENT.lower(), "t", after, 3)
            if not page:
                return pages
            pages.append([r.body["name"] for r in page])
            after = page[-1].key

    assert run(store, body) == [names[0:3], names[3:6], names[6:7]]


def test_list_by_subscription_filters_type(store: Store) -> None:
    async def body(s: Store) -> list[str]:
        await s.write(lambda tx: tx.put(record("x", type_="galleries")))
        await s.write(lambda tx: tx.put(record("y", type_="other")))
        return [r.body["name"] for r in await s.list_by_subscription("s", "galleries", None, 10)]

    assert run(store, body) == ["x"]


def test_unfinished_operations_and_pruning(store: Store) -> None:
    async def body(s: Store) -> tuple[list[str], int, Operation | None]:
        await s.write(lambda tx: tx.put_operation(operation("running")))
        await s.write(lambda tx: tx.put_operation(operation("done", status="Succeeded")))
        unfinished = [op.id for op in await s.unfinished_operations()]
        pruned = await s.prune_operations(finished_before=float("inf"))
        return unfinished, pruned, await s.get_operation("running")

    unfinished, pruned, still = run(store, body)
    assert unfinished == ["running"]
    assert pruned == 1
    assert still is not None and still.status == "InProgress"


def test_operation_reads_back_with_every_field(store: Store) -> None:
    full = Operation(
        "op-full",
        "delete",
        "s",
        "westus",
        "k",
        "K",
        "2024-03-03",
        status="Failed",
        start_time="2025-01-01T00:00:00.0000000+00:00",
        end_time="2025-01-01T00:00:01.0000000+00:00",
        error={"code": "Bad", "message": "m"},
        due=12.5,
        payload={"a": [1, 2]},
        owner="instance-a",
        lease=3,
        lease_until=99.5,
    )

    async def body(s: Store) -> tuple[Operation | None, Operation | None]:
        def write(tx: Transaction) -> Operation | None:
            tx.put_operation(full)
            return tx.get_operation(full.id)

        return await s.write(write), await s.get_operation(full.id)

    assert run(store, body) == (full, full)


def test_operation_row_without_later_fields_reads_with_their_defaults() -> None:
    from compute_gallery.storage.codec import operation_of

    written = b'{"id": "op", "kind": "provision", "subscription": "s", "location": "eastus", '
    written += b'"resource_key": "k", "resource_id": "K", "api_version": "2025-03-03"}'
    assert operation_of(written) == operation("op")


def test_disk_store_keeps_state_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    run(SqliteStore(path), lambda s: s.write(lambda tx: tx.put(record("kept"))))
    found = run(SqliteStore(path), lambda s: s.get(record("kept").key))
    assert found is not None and found.body["name"] == "kept"


def test_memory_store_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run(SqliteStore(None), lambda s: s.write(lambda tx: tx.put(record("gone"))))
    assert list(tmp_path.iterdir()) == []


def test_newer_store_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "store.db"
    run(SqliteStore(path), lambda s: s.get("x"))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")
    with pytest.raises(RuntimeError, match="newer compute-gallery"):
        run(SqliteStore(path), lambda s: s.get("x"))


def test_a_database_has_one_store_open_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "store.db"

    async def both() -> None:
        first = SqliteStore(path)
        await first.open()
        try:
            with pytest.raises(
                InUse, match=f"in use by another compute-gallery process \\(pid {os.getpid()}\\)"
            ):
                await SqliteStore(path).open()
        finally:
            await first.close()
        # Once the first closes, the database opens again.
        second = SqliteStore(path)
        await second.open()
        await second.close()

    asyncio.run(both())


def _writer_in_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve the store's writer protocol from a thread of the test, where os.fsync can be
    replaced, instead of from a child process."""

    def spawn(self: writer.Writer) -> writer.Channel:
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        thread = threading.Thread(
            target=writer.serve,
            args=(requests_read, answers_write, str(self.database), self.checkpoint_every),
            daemon=True,
        )
        thread.start()

        def stop() -> None:
            os.close(requests_write)
            thread.join(10)
            for descriptor in (requests_read, answers_write, answers_read):
                os.close(descriptor)

        return writer.Channel(requests_write, answers_read, stop)

    monkeypatch.setattr(writer.Writer, "_spawn", spawn)


def test_write_is_answered_only_after_the_wal_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _writer_in_thread(monkeypatch)
    store = SqliteStore(tmp_path / "store.db")
    released = threading.Event()
    synced: list[int] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        released.wait(5)
        real_fsync(fd)
        synced.append(fd)

    async def body(s: Store) -> tuple[bool, bool, Record | None]:
        monkeypatch.setattr(os, "fsync", slow_fsync)
        write = asyncio.ensure_future(s.write(lambda tx: tx.put(record("a"))))
        await asyncio.sleep(0.2)
        answered_before_sync = write.done()
        # A second write arrives while the first batch's fsync runs: it waits for its own.
        second = asyncio.ensure_future(s.write(lambda tx: tx.put(record("b"))))
        await asyncio.sleep(0.05)
        released.set()
        await asyncio.gather(write, second)
        monkeypatch.setattr(os, "fsync", real_fsync)
        return answered_before_sync, bool(synced), await s.get(record("b").key)

    answered_before_sync, synced_any, second = run(store, body)
    assert not answered_before_sync
    assert synced_any
    assert second is not None


def test_failed_sync_fails_the_writes_it_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _writer_in_thread(monkeypatch)
    store = SqliteStore(tmp_path / "store.db")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    async def body(s: Store) -> None:
        await s.write(lambda tx: tx.put(record("a")))
        monkeypatch.setattr(os, "fsync", broken_fsync)
        try:
            with pytest.raises(OSError, match="Input/output error"):
                await s.write(lambda tx: tx.put(record("b")))
        finally:
            monkeypatch.undo()

    run(store, body)


def _writer_process(store: Store) -> int:
    assert isinstance(store, SqliteStore) and store._writer is not None
    pid = store._writer.pid
    assert pid is not None and pid != os.getpid()
    return pid


def test_write_waits_for_the_writer_process(tmp_path: Path) -> None:
    async def body(s: Store) -> tuple[bool, Record | None]:
        await s.write(lambda tx: tx.put(record("a")))
        pid = _writer_process(s)
        os.kill(pid, signal.SIGSTOP)
        try:
            write = asyncio.ensure_future(s.write(lambda tx: tx.put(record("b"))))
            await asyncio.sleep(0.3)
            answered_while_stopped = write.done()
        finally:
            os.kill(pid, signal.SIGCONT)
        await asyncio.wait_for(write, 10)
        return answered_while_stopped, await s.get(record("b").key)

    answered_while_stopped, written = run(SqliteStore(tmp_path / "store.db"), body)
    assert not answered_while_stopped
    assert written is not None


def test_writer_process_that_dies_fails_its_writes_and_is_replaced(tmp_path: Path) -> None:
    async def body(s: Store) -> tuple[Record | None, Record | None]:
        await s.write(lambda tx: tx.put(record("a")))
        first = _writer_process(s)
        os.kill(first, signal.SIGSTOP)
        write = asyncio.ensure_future(s.write(lambda tx: tx.put(record("b"))))
        await asyncio.sleep(0.2)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(OSError, match="SQLite writer process ended"):
            await asyncio.wait_for(write, 10)
        await asyncio.wait_for(s.write(lambda tx: tx.put(record("c"))), 10)
        assert _writer_process(s) != first
        return await s.get(record("a").key), await s.get(record("c").key)

    kept, written = run(SqliteStore(tmp_path / "store.db"), body)
    assert kept is not None and written is not None


def test_writer_process_is_apart_from_interrupts_and_ends_with_the_store(
    tmp_path: Path,
) -> None:
    async def body(s: Store) -> int:
        pid = _writer_process(s)
        # A terminal's Ctrl-C goes to the service's process group, not to the writer process.
        assert os.getpgid(pid) != os.getpgid(0)
        await asyncio.wait_for(s.write(lambda tx: tx.put(record("a"))), 10)
        return pid

    pid = run(SqliteStore(tmp_path / "store.db"), body)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_batch_committed_but_not_reported_is_read_from_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer commits a batch and is lost before it says so: the batch's writes fail
    (they may not have committed), and reads then find what the database holds, not what
    the store remembered of the rows before."""
    lose_next_commit = threading.Event()

    def spawn(self: writer.Writer) -> writer.Channel:
        requests_read, requests_write = os.pipe()
        relay_read, relay_write = os.pipe()
        answers_read, answers_write = os.pipe()
        server = threading.Thread(
            target=writer.serve,
            args=(requests_read, relay_write, str(self.database), self.checkpoint_every),
            daemon=True,
        )

        def relay() -> None:
            # The writer's answers, until the armed "committed": the store then reads an end.
            forwarding = True
            with os.fdopen(relay_read, "rb") as lines:
                for line in lines:
                    if forwarding and line == b"committed\n" and lose_next_commit.is_set():
                        lose_next_commit.clear()
                        forwarding = False
                        os.close(answers_write)
                    elif forwarding:
                        os.write(answers_write, line)
            if forwarding:
                os.close(answers_write)

        relaying = threading.Thread(target=relay, daemon=True)
        server.start()
        relaying.start()

        def stop() -> None:
            os.close(requests_write)
            server.join(10)
            os.close(relay_write)
            relaying.join(10)
            os.close(requests_read)
            os.close(answers_read)

        return writer.Channel(requests_write, answers_read, stop)

    monkeypatch.setattr(writer.Writer, "_spawn", spawn)
    changed = record("a")
    changed.body["n"] = 2

    async def body(s: Store) -> tuple[Record | None, Record | None]:
        await s.write(lambda tx: tx.put(record("a")))
        before = await s.get(record("a").key)
        lose_next_commit.set()
        with pytest.raises(OSError, match="before the batch was known to commit"):
            await asyncio.wait_for(s.write(lambda tx: tx.put(changed)), 10)
        return before, await s.get(record("a").key)

    before, after = run(SqliteStore(tmp_path / "store.db"), body)
    assert before is not None and before.body["n"] == 1
    assert after is not None and after.body["n"] == 2


def _refused(name: str) -> Record:
    """A record the database refuses (its id is NULL): the batch holding it rolls back."""
    refused = record(name)
    refused.id = None  # type: ignore[assignment]
    return refused


@pytest.mark.parametrize("where", ["disk", "memory"])
def test_batch_the_database_refuses_fails_all_its_writes(tmp_path: Path, where: str) -> None:
    import sqlite3

    changed = record("a")
    changed.body["n"] = 2

    async def body(s: Store) -> list[object]:
        await s.write(lambda tx: tx.put(record("a")))
        assert await s.get(record("a").key) is not None
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                # Both in one batch: it rolls back whole, the write before the refused one too.
                s.write(lambda tx: tx.put(changed)),
                s.write(lambda tx: tx.put(_refused("b"))),
                return_exceptions=True,
            ),
            10,
        )
        assert all(isinstance(outcome, sqlite3.IntegrityError) for outcome in outcomes)
        # Later writes, and the next batch to commit, know nothing of the rolled back one.
        inside = await s.write(lambda tx: (tx.put(record("c")), tx.get(record("a").key))[1])
        after_rollback = await s.get(record("a").key)
        await s.write(lambda tx: tx.put(changed))
        after_retry = await s.get(record("a").key)
        return [
            found.body["n"] if found else None for found in (inside, after_rollback, after_retry)
        ]

    path = tmp_path / "store.db" if where == "disk" else None
    assert run(SqliteStore(path), body) == [1, 1, 2]


_SCHEMA_1 = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE resources (
    key TEXT PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, parent_key TEXT NOT NULL,
    subscription TEXT NOT NULL, operation_id TEXT, body BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX resources_by_parent ON resources (parent_key, type, key);
CREATE INDEX resources_by_subscription ON resources (subscription, type, key);
CREATE TABLE operations (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, due REAL NOT NULL, ended REAL,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX operations_by_status ON operations (status, due);
INSERT INTO meta VALUES ('schema', '1');
"""


def test_store_of_the_first_schema_is_migrated_with_its_data(tmp_path: Path) -> None:
    import sqlite3

    import orjson

    from compute_gallery.storage.sqlite import SCHEMA_VERSION, _operation_row

    path = tmp_path / "store.db"
    kept = record("kept")
    op = operation("op-1")
    with sqlite3.connect(path) as conn:
        conn.executescript(_SCHEMA_1)
        conn.execute(
            "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kept.key, kept.id, kept.type, kept.parent_key, "s", "op-1", orjson.dumps(kept.body)),
        )
        conn.execute("INSERT INTO operations VALUES (?, ?, ?, ?, ?)", _operation_row(op))

    async def body(s: Store) -> tuple[Record | None, Operation | None, list[Operation]]:
        return await s.get(kept.key), await s.get_operation("op-1"), await s.unfinished_operations()

    found, found_op, unfinished = run(SqliteStore(path), body)
    assert found is not None and found.body == kept.body and found.operation_id == "op-1"
    assert found_op is not None and found_op.status == "InProgress"
    assert [o.id for o in unfinished] == ["op-1"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)
        tables = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        assert not [name for name, sql in tables if "WITHOUT ROWID" in sql or "_1" in name]
    # Opening it again finds it migrated and changes nothing.
    assert run(SqliteStore(path), lambda s: s.get(kept.key)) == found


def test_wal_is_checkpointed_by_the_writer_process(tmp_path: Path) -> None:
    import sqlite3

    from compute_gallery.storage import sqlite as sqlite_store

    path = tmp_path / "store.db"

    async def body(s: Store) -> int:
        for index in range(sqlite_store._CHECKPOINT_EVERY + 1):
            await s.write(lambda tx, index=index: tx.put(record(f"r{index}")))
        assert isinstance(s, SqliteStore) and s._writer is not None
        return s._writer.checkpoints

    assert run(SqliteStore(path), body) == 1
    with sqlite3.connect(path) as conn:
        count = conn.execute("SELECT count(*) FROM resources").fetchone()[0]
    assert count == sqlite_store._CHECKPOINT_EVERY + 1
