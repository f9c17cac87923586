"""The PostgreSQL store on its own: migrations, several stores on one database, conflicts that
run a write again, and a database that is unreachable at start or goes away while in use."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from compute_gallery.storage import Record, SchemaTooNew, Transaction, Unavailable
from compute_gallery.storage.migrations import LATEST
from compute_gallery.storage.postgres import PostgresStore, redacted

from .postgres import PostgresServer, free_port

T = TypeVar("T")

PARENT = "/subscriptions/s/resourcegroups/rg"
ROUNDS = 40


def record(name: str, parent: str = PARENT, n: int = 1) -> Record:
    key = f"{parent}/{name}".lower()
    return Record(key, key, "t", parent.lower(), "s", {"name": name, "n": n})


def on_stores(url: str, count: int, body: Callable[[list[PostgresStore]], Awaitable[T]]) -> T:
    """Run ``body`` with ``count`` open stores on one database, as separate instances would."""

    async def main() -> T:
        stores = [PostgresStore(url, pool_size=4) for _ in range(count)]
        await asyncio.gather(*(store.open() for store in stores))
        try:
            return await body(stores)
        finally:
            await asyncio.gather(*(store.close() for store in stores))

    return asyncio.run(main())


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.create_database()


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of the test's own, which it may stop and start."""
    server = PostgresServer()
    yield server
    server.remove()


def test_reopened_store_keeps_state(database: str) -> None:
    async def write(stores: list[PostgresStore]) -> None:
        await stores[0].write(lambda tx: tx.put(record("kept")))

    async def read(stores: list[PostgresStore]) -> Record | None:
        return await stores[0].get(record("kept").key)

    on_stores(database, 1, write)
    found = on_stores(database, 1, read)
    assert found is not None and found.body["name"] == "kept"


def test_stores_opening_together_migrate_once(database: str, postgres: PostgresServer) -> None:
    async def nothing(stores: list[PostgresStore]) -> None:
        return None

    on_stores(database, 4, nothing)
    on_stores(database, 1, nothing)

    rows = postgres.execute(database, "SELECT version, name, release FROM schema_migrations")
    assert [row[0] for row in rows] == list(range(1, LATEST + 1))


def test_database_of_a_newer_release_is_refused(database: str, postgres: PostgresServer) -> None:
    async def nothing(stores: list[PostgresStore]) -> None:
        return None

    on_stores(database, 1, nothing)
    postgres.execute(
        database,
        "INSERT INTO schema_migrations (version, name, release) VALUES (99, 'future', '9.9')",
    )

    with pytest.raises(SchemaTooNew, match="schema version 99, written by a newer"):
        on_stores(database, 1, nothing)
    migrate = subprocess.run(
        [sys.executable, "-m", "compute_gallery", "migrate", "--database-url", database],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 1
    assert "newer compute-gallery" in migrate.stderr
    assert "Traceback" not in migrate.stderr


def test_migrate_command_migrates_then_finds_nothing_to_do(database: str) -> None:
    command = [sys.executable, "-m", "compute_gallery", "migrate", "--database-url", database]

    first = subprocess.run(command, capture_output=True, text=True, timeout=60)
    second = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert first.returncode == 0, first.stderr
    assert "applied migration 1: resources and operations" in first.stdout
    assert f"is at schema version {LATEST}" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout and "applied" not in second.stdout


def test_increments_through_two_stores_are_serial(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    def increment(tx: Transaction) -> None:
        found = tx.get(record("counter").key)
        tx.put(record("counter", n=found.body["n"] + 1 if found else 1))

    async def body(stores: list[PostgresStore]) -> int:
        await asyncio.gather(*(stores[i % 2].write(increment) for i in range(200)))
        found = await stores[1].get(record("counter").key)
        assert found is not None
        return int(found.body["n"])

    assert on_stores(database, 2, body) == 200
    # Conflicts are run again, and the driver has nothing to warn of.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []


def test_a_write_that_conflicts_runs_again_and_sees_the_other(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A reads the counter, B changes it and commits, then A writes: A must not lose B's
    change. PostgreSQL aborts A, and the store runs A's function again on fresh data."""
    read_by_a = threading.Event()
    b_committed = threading.Event()
    runs: list[int] = []

    def a_increment(tx: Transaction) -> None:
        found = tx.get(record("counter").key)
        assert found is not None
        runs.append(found.body["n"])
        if len(runs) == 1:
            read_by_a.set()
            assert b_committed.wait(30)
        tx.put(record("counter", n=found.body["n"] + 1))

    async def body(stores: list[PostgresStore]) -> int:
        await stores[0].write(lambda tx: tx.put(record("counter", n=10)))
        a = asyncio.ensure_future(stores[0].write(a_increment))
        assert await asyncio.to_thread(read_by_a.wait, 30)
        await stores[1].write(lambda tx: tx.put(record("counter", n=100)))
        b_committed.set()
        await a
        found = await stores[1].get(record("counter").key)
        assert found is not None
        return int(found.body["n"])

    assert on_stores(database, 2, body) == 101
    assert runs == [10, 100]
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []


def test_parent_delete_racing_child_create_on_two_stores_leaves_no_orphan(database: str) -> None:
    """The rule every resource type keeps: a parent goes only when it has no children, and a
    child comes only while its parent exists."""

    def create_child(parent: Record) -> Callable[[Transaction], bool]:
        def write(tx: Transaction) -> bool:
            if tx.get(parent.key) is None:
                return False
            tx.put(record("child", parent=parent.key))
            return True

        return write

    def delete_parent(parent: Record) -> Callable[[Transaction], bool]:
        def write(tx: Transaction) -> bool:
            if tx.first_child(parent.key) is not None:
                return False
            tx.delete(parent.key)
            return True

        return write

    async def body(stores: list[PostgresStore]) -> set[tuple[bool, bool]]:
        outcomes = set()
        for index in range(ROUNDS):
            parent = record(f"parent{index}")
            await stores[0].write(lambda tx, parent=parent: tx.put(parent))
            created, deleted = await asyncio.gather(
                stores[0].write(create_child(parent)), stores[1].write(delete_parent(parent))
            )
            kept = await stores[0].get(parent.key) is not None
            child = await stores[1].get(record("child", parent=parent.key).key) is not None
            assert (kept, child) in {(True, True), (False, False)}, (created, deleted)
            assert (created, deleted) in {(True, False), (False, True)}
            outcomes.add((created, deleted))
        return outcomes

    on_stores(database, 2, body)


def test_unreachable_database_at_open_gives_up_with_what_to_check(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/nowhere"
    store = PostgresStore(url, wait_seconds=1.5)

    with caplog.at_level(logging.WARNING), pytest.raises(Unavailable) as raised:
        asyncio.run(store.open())

    message = str(raised.value)
    assert "could not reach PostgreSQL at" in message and "within 1.5 s" in message
    assert "--database-wait-seconds" in message and "pg_hba.conf" in message
    assert "hunter2" not in message
    attempts = [r for r in caplog.records if "is not reachable (attempt" in r.getMessage()]
    assert len(attempts) >= 2
    assert all("hunter2" not in r.getMessage() for r in caplog.records)


def test_open_waits_for_a_database_that_comes_up(
    own_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> Record | None:
        store = PostgresStore(own_server.url(), pool_size=2, wait_seconds=120)
        opening = asyncio.ensure_future(store.open())
        while not any("is not reachable" in r.getMessage() for r in caplog.records):
            assert not opening.done()
            await asyncio.sleep(0.05)
        await asyncio.to_thread(own_server.start)
        await asyncio.wait_for(opening, 60)
        try:
            await store.write(lambda tx: tx.put(record("late")))
            return await store.get(record("late").key)
        finally:
            await store.close()

    with caplog.at_level(logging.WARNING):
        found = asyncio.run(main())
    assert found is not None


def test_store_is_unavailable_while_the_server_is_down_and_recovers(
    own_server: PostgresServer,
) -> None:
    own_server.start()

    async def main() -> None:
        store = PostgresStore(own_server.url(), pool_size=4)
        await store.open()
        try:
            await store.write(lambda tx: tx.put(record("before")))
            await asyncio.to_thread(own_server.stop)

            with pytest.raises(Unavailable):
                await store.check()
            with pytest.raises(Unavailable):
                await store.get(record("before").key)
            with pytest.raises(Unavailable):
                await store.write(lambda tx: tx.put(record("during")))

            await asyncio.to_thread(own_server.start)
            for _ in range(600):
                try:
                    await store.check()
                    break
                except Unavailable:
                    await asyncio.sleep(0.1)
            await store.write(lambda tx: tx.put(record("after")))
            assert await store.get(record("before").key) is not None
            assert await store.get(record("during").key) is None
            assert await store.get(record("after").key) is not None
        finally:
            await store.close()

    asyncio.run(main())


def test_description_hides_the_password() -> None:
    url = "postgresql://app:s3cret@db.internal:5433/gallery"
    assert redacted(url) == "postgresql://app@db.internal:5433/gallery"
    assert (
        PostgresStore(url).description == "PostgreSQL at postgresql://app@db.internal:5433/gallery"
    )
    assert redacted("postgresql://db/gallery") == "postgresql://db/gallery"


def test_refuses_a_url_that_is_not_postgresql() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        PostgresStore("sqlite:///x.db")
    with pytest.raises(ValueError, match="at least 2"):
        PostgresStore("postgresql://db/x", pool_size=1)
