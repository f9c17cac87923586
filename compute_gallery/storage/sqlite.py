"""The embedded SQLite store: WAL on disk (or memory), one writer thread with group commit.

Writes are queued to a single thread that owns the write connection. It takes every write
waiting in the queue, runs each inside its own SAVEPOINT of one transaction and commits once
(``synchronous=FULL``: the commit is on disk before any of those requests is answered). One
fsync thus serves a whole batch of concurrent requests, and writes are serial, so the rules a
write function checks hold when it commits. Reads run on the caller's thread against their
own connection and see only committed data (WAL snapshot isolation). An in-memory database
has a single connection, so its reads queue behind the writer as well.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from . import Operation, Record, Transaction

T = TypeVar("T")
log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_MAX_BATCH = 128

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    key TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    parent_key TEXT NOT NULL,
    subscription TEXT NOT NULL,
    operation_id TEXT,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (parent_key, type, key);
CREATE INDEX IF NOT EXISTS resources_by_subscription ON resources (subscription, type, key);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    due REAL NOT NULL,
    ended REAL,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS operations_by_status ON operations (status, due);
"""

_RESOURCE_COLUMNS = "key, id, type, parent_key, subscription, operation_id, body"


def _record(row: tuple[Any, ...]) -> Record:
    key, id_, type_, parent_key, subscription, operation_id, body = row
    return Record(key, id_, type_, parent_key, subscription, orjson.loads(body), operation_id)


def _operation(body: bytes) -> Operation:
    return Operation(**orjson.loads(body))


def _operation_row(op: Operation) -> tuple[Any, ...]:
    fields = {name: getattr(op, name) for name in Operation.__slots__}
    ended = time.time() if op.finished else None
    return (op.id, op.status, op.due, ended, orjson.dumps(fields))


def _connect(target: str) -> sqlite3.Connection:
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=True)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def _prepare(conn: sqlite3.Connection, *, on_disk: bool) -> None:
    """Journal settings and the schema; refuse a database a newer release wrote."""
    if on_disk:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(_SCHEMA)
    version = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    if version is None:
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    elif int(version[0]) > SCHEMA_VERSION:
        raise RuntimeError(
            f"the data directory was written by a newer compute-gallery "
            f"(store schema {version[0]}, this one knows {SCHEMA_VERSION})"
        )


class _Transaction:
    """The SQLite view a write function gets; always used on the writer thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, key: str) -> Record | None:
        row = self._conn.execute(
            f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE key = ?", (key,)
        ).fetchone()
        return _record(row) if row else None

    def put(self, record: Record) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO resources ({_RESOURCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.key,
                record.id,
                record.type,
                record.parent_key,
                record.subscription,
                record.operation_id,
                orjson.dumps(record.body),
            ),
        )

    def delete(self, key: str) -> None:
        self._conn.execute("DELETE FROM resources WHERE key = ?", (key,))

    def delete_tree(self, key: str) -> int:
        # Descendant keys start with "<key>/"; '0' is the character after '/'.
        cursor = self._conn.execute(
            "DELETE FROM resources WHERE key = ? OR (key > ? AND key < ?)",
            (key, key + "/", key + "0"),
        )
        return cursor.rowcount

    def first_child(self, key: str) -> Record | None:
        row = self._conn.execute(
            f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE parent_key = ? LIMIT 1", (key,)
        ).fetchone()
        return _record(row) if row else None

    def get_operation(self, operation_id: str) -> Operation | None:
        row = self._conn.execute(
            "SELECT body FROM operations WHERE id = ?", (operation_id,)
        ).fetchone()
        return _operation(row[0]) if row else None

    def put_operation(self, operation: Operation) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO operations (id, status, due, ended, body) "
            "VALUES (?, ?, ?, ?, ?)",
            _operation_row(operation),
        )


class _Job:
    __slots__ = ("error", "fn", "future", "result")

    def __init__(self, fn: Callable[[Any], Any], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future
        self.result: Any = None
        self.error: BaseException | None = None


class SqliteStore:
    """The default store. ``path`` None keeps everything in memory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._target = str(path) if path else f"file:cg-{id(self)}?mode=memory"
        self._queue: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._pending: list[_Job] = []
        self._thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def description(self) -> str:
        return f"SQLite at {self.path}" if self.path else "SQLite in memory"

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        writer = _connect(self._target)
        try:
            _prepare(writer, on_disk=self.path is not None)
        except BaseException:
            writer.close()
            raise
        if self.path:
            self._reader = _connect(self._target)
            self._reader.execute("PRAGMA query_only = ON")
        self._thread = threading.Thread(
            target=self._write_loop, args=(writer,), name="sqlite-writer", daemon=True
        )
        self._thread.start()

    async def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- reads --------------------------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is not None:
            return fn(self._reader)
        # In memory there is one connection, owned by the writer thread.
        return await self._submit(lambda tx: fn(tx._conn))

    async def get(self, key: str) -> Record | None:
        def run(conn: sqlite3.Connection) -> Record | None:
            row = conn.execute(
                f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE key = ?", (key,)
            ).fetchone()
            return _record(row) if row else None

        return await self._read(run)

    async def list_children(
        self, parent_key: str, type_: str, after: str | None, limit: int
    ) -> list[Record]:
        def run(conn: sqlite3.Connection) -> list[Record]:
            rows = conn.execute(
                f"SELECT {_RESOURCE_COLUMNS} FROM resources "
                "WHERE parent_key = ? AND type = ? AND key > ? ORDER BY key LIMIT ?",
                (parent_key, type_, after or "", limit),
            ).fetchall()
            return [_record(row) for row in rows]

        return await self._read(run)

    async def list_by_subscription(
        self, subscription: str, type_: str, after: str | None, limit: int
    ) -> list[Record]:
        def run(conn: sqlite3.Connection) -> list[Record]:
            rows = conn.execute(
                f"SELECT {_RESOURCE_COLUMNS} FROM resources "
                "WHERE subscription = ? AND type = ? AND key > ? ORDER BY key LIMIT ?",
                (subscription, type_, after or "", limit),
            ).fetchall()
            return [_record(row) for row in rows]

        return await self._read(run)

    async def get_operation(self, operation_id: str) -> Operation | None:
        def run(conn: sqlite3.Connection) -> Operation | None:
            row = conn.execute(
                "SELECT body FROM operations WHERE id = ?", (operation_id,)
            ).fetchone()
            return _operation(row[0]) if row else None

        return await self._read(run)

    async def unfinished_operations(self) -> list[Operation]:
        def run(conn: sqlite3.Connection) -> list[Operation]:
            rows = conn.execute(
                "SELECT body FROM operations WHERE status = 'InProgress' ORDER BY due"
            ).fetchall()
            return [_operation(row[0]) for row in rows]

        return await self._read(run)

    async def prune_operations(self, finished_before: float) -> int:
        def run(tx: Transaction) -> int:
            assert isinstance(tx, _Transaction)
            cursor = tx._conn.execute(
                "DELETE FROM operations WHERE ended IS NOT NULL AND ended < ?", (finished_before,)
            )
            return cursor.rowcount

        return await self.write(run)

    # -- writes -------------------------------------------------------------------------

    async def write(self, fn: Callable[[Transaction], T]) -> T:
        return await self._submit(fn)

    async def _submit(self, fn: Callable[[Any], T]) -> T:
        if self._thread is None or self._loop is None:
            raise RuntimeError("the store is not open")
        future: asyncio.Future[T] = self._loop.create_future()
        self._pending.append(_Job(fn, future))
        if len(self._pending) == 1:
            # Hand the writer everything queued in this turn of the event loop at once.
            self._loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        jobs, self._pending = self._pending, []
        if jobs:
            self._queue.put(jobs)

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        tx = _Transaction(conn)
        while True:
            jobs = self._queue.get()
            if jobs is None:
                break
            while len(jobs) < _MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                jobs.extend(more)
            self._run_batch(conn, tx, jobs)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_settle, jobs)
        conn.close()

    @staticmethod
    def _run_batch(conn: sqlite3.Connection, tx: _Transaction, jobs: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                conn.execute("SAVEPOINT job")
                try:
                    job.result = job.fn(tx)
                except BaseException as error:
                    job.error = error
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            log.exception("store write failed; the batch of %d writes is rolled back", len(jobs))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in jobs:
                job.error = job.error or error


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
