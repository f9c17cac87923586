"""The embedded SQLite store: WAL on disk (or memory), writes batched into group commits.

Write functions run one after another on the event loop's thread, against the store's
caches of the rows written and read and the database read as committed, so that writes are
serial and a rule a write function checks still holds when it commits. Their statements
are collected into a batch, which the writer process (``writer``) executes in one
transaction and commits; it then fsyncs the WAL (``synchronous=NORMAL``: SQLite makes no
fsync of its own), and only then are the batch's writers answered. Writes arriving
meanwhile run at once and form the next batch, sent as soon as the last is on disk: one
fsync serves every write that arrived while the previous one ran, and the event loop neither
runs SQL for writes nor waits for the disk. The writer process also checkpoints the WAL into
the database file now and then, between two commits. Reads use the store's own connection
and see committed data (WAL snapshots), which may include a batch whose fsync is still
running: a power loss at that moment can lose a write that a reader saw, never one that its
writer was told of. Resources read or written are also kept as committed, each commit
bringing them up to date, so that reading one again takes no query. In memory there is one
connection, which also runs each batch as it is formed; nothing is synced.
"""

from __future__ import annotations

import asyncio
import contextvars
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from .. import guids
from . import InUse, Operation, Record, SchemaTooNew, Transaction, Unavailable
from .codec import operation_copy, operation_json, operation_of
from .writer import Statement, Writer

T = TypeVar("T")
log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_MAX_BATCH = 128
# Commits between two checkpoints of the WAL into the database file (by the writer process).
_CHECKPOINT_EVERY = 64

# Rowid tables: a row up to about 4 KiB stays in its leaf page. (In a WITHOUT ROWID table a
# row over about 1 KiB, such as most version bodies, spills into an overflow page, and every
# replacement then writes two pages to the WAL instead of one.)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    key TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    parent_key TEXT NOT NULL,
    subscription TEXT NOT NULL,
    operation_id TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (parent_key, type, key);
CREATE INDEX IF NOT EXISTS resources_by_subscription ON resources (subscription, type, key);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    due REAL NOT NULL,
    ended REAL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_by_status ON operations (status, due);
"""

# From schema 1 (the same tables WITHOUT ROWID) to 2, in one transaction.
_MIGRATE_FROM_1 = (
    """
BEGIN IMMEDIATE;
DROP INDEX resources_by_parent;
DROP INDEX resources_by_subscription;
DROP INDEX operations_by_status;
ALTER TABLE resources RENAME TO resources_1;
ALTER TABLE operations RENAME TO operations_1;
"""
    + _SCHEMA
    + """
INSERT INTO resources SELECT * FROM resources_1;
INSERT INTO operations SELECT * FROM operations_1;
DROP TABLE resources_1;
DROP TABLE operations_1;
UPDATE meta SET value = '2' WHERE name = 'schema';
COMMIT;
"""
)

_RESOURCE_COLUMNS = "key, id, type, parent_key, subscription, operation_id, body"


def _record(row: tuple[Any, ...]) -> Record:
    key, id_, type_, parent_key, subscription, operation_id, body = row
    return Record(key, id_, type_, parent_key, subscription, orjson.loads(body), operation_id)


def _operation_row(op: Operation) -> tuple[Any, ...]:
    ended = time.time() if op.finished else None
    return (op.id, op.status, op.due, ended, operation_json(op))


def _connect(target: str) -> sqlite3.Connection:
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=True)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def _prepare(conn: sqlite3.Connection, *, on_disk: bool) -> None:
    """Journal settings and the schema; migrate an older one, refuse one a newer release wrote."""
    if on_disk:
        # The writer process commits, fsyncs and checkpoints with its own connection.
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    version = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    if version is None:
        conn.executescript(_SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    elif int(version[0]) > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the data directory was written by a newer compute-gallery "
            f"(store schema {version[0]}, this one knows {SCHEMA_VERSION})"
        )
    elif int(version[0]) == 1:
        log.info("migrating the store from schema 1 to %d", SCHEMA_VERSION)
        try:
            conn.executescript(_MIGRATE_FROM_1)
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


_UPSERT_RESOURCE = (
    f"INSERT INTO resources ({_RESOURCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
    # type, parent_key and subscription follow from the key, so a replacement leaves the two
    # indexes on them untouched.
    "ON CONFLICT (key) DO UPDATE SET "
    "id = excluded.id, operation_id = excluded.operation_id, body = excluded.body"
)
_UPSERT_OPERATION = (
    "INSERT INTO operations (id, status, due, ended, body) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET "
    "status = excluded.status, due = excluded.due, ended = excluded.ended, body = excluded.body"
)
_DELETE_RESOURCE = "DELETE FROM resources WHERE key = ?"
# Descendant keys start with "<key>/"; '0' is the character after '/'.
_SUBTREE = "key = ? OR (key > ? AND key < ?)"
_FINISHED_BEFORE = "ended IS NOT NULL AND ended < ?"
# Rows the cache keeps before it starts over; about 2 KiB each.
_CACHE_ROWS = 4096


class _Batch:
    """Writes that commit together: their jobs, statements, and what they leave behind."""

    __slots__ = ("jobs", "operations", "rows", "statements")

    def __init__(self) -> None:
        self.jobs: list[_Job] = []
        self.statements: list[Statement] = []
        # Resource rows by key and operation rows by id, as the batch leaves them (None:
        # deleted).
        self.rows: dict[str, tuple[Any, ...] | None] = {}
        self.operations: dict[str, tuple[Any, ...] | None] = {}


class _Transaction:
    """The SQLite view a write function gets; one per store, reused for every job.

    A job's writes wait in Python until the job returns, so a job that raises has nothing
    to undo; then its statements join the open batch. Reads see the job's own writes first,
    then the cache, then the database as committed. The cache holds every row written by a
    batch not yet committed (None for one deleted), and rows read or committed: this process
    is the database's only writer, so a cached row is the row. ``first_child``,
    ``delete_tree`` and pruning ask the database, then let the cache correct its answer.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._rows: dict[str, tuple[Any, ...] | None] = {}
        self._operations: dict[str, tuple[Any, ...] | None] = {}
        # Operations as parsed from their rows' bodies, by id, with the body each came from:
        # a read hands out a copy of the parse while the row it read is that body's.
        self._parsed_operations: dict[str, tuple[bytes, Operation]] = {}
        # The running job's writes: rows by key and operation rows by id (None: deleted).
        self._own_rows: dict[str, tuple[Any, ...] | None] = {}
        self._own_operations: dict[str, tuple[Any, ...] | None] = {}
        self._statements: list[Statement] = []
        self.batch = _Batch()

    # -- what write functions call ----------------------------------------------------------

    def get(self, key: str) -> Record | None:
        if key in self._own_rows:
            row = self._own_rows[key]
        elif key in self._rows:
            row = self._rows[key]
        else:
            row = self._conn.execute(
                f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE key = ?", (key,)
            ).fetchone()
            self._rows[key] = row
        return _record(row) if row else None

    def put(self, record: Record) -> None:
        row = (
            record.key,
            record.id,
            record.type,
            record.parent_key,
            record.subscription,
            record.operation_id,
            orjson.dumps(record.body),
        )
        self._own_rows[record.key] = row
        self._statements.append((_UPSERT_RESOURCE, row))

    def delete(self, key: str) -> None:
        self._own_rows[key] = None
        self._statements.append((_DELETE_RESOURCE, (key,)))

    def delete_tree(self, key: str) -> int:
        bounds = (key, key + "/", key + "0")
        present = {
            found
            for (found,) in self._conn.execute(
                f"SELECT key FROM resources WHERE {_SUBTREE}", bounds
            )
        }
        # Rows written but not committed, or deleted but still in the database, are cached.
        for cache in (self._rows, self._own_rows):
            for cached, row in cache.items():
                if cached == key or cached.startswith(bounds[1]):
                    if row is None:
                        present.discard(cached)
                    else:
                        present.add(cached)
        for gone in present:
            self._own_rows[gone] = None
        self._statements.append((f"DELETE FROM resources WHERE {_SUBTREE}", bounds))
        return len(present)

    def first_child(self, key: str) -> Record | None:
        for cache in (self._own_rows, self._rows):
            for cached, row in cache.items():
                if row is not None and row[3] == key and self._latest(cached) is row:
                    return _record(row)
        for row in self._conn.execute(
            f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE parent_key = ?", (key,)
        ):
            latest = self._latest(row[0], row)
            if latest is not None:
                return _record(latest)
        return None

    def _latest(self, key: str, stored: tuple[Any, ...] | None = None) -> tuple[Any, ...] | None:
        """The row of ``key`` as this job sees it, ``stored`` unless the cache knows better."""
        if key in self._own_rows:
            return self._own_rows[key]
        return self._rows.get(key, stored)

    def get_operation(self, operation_id: str) -> Operation | None:
        if operation_id in self._own_operations:
            row = self._own_operations[operation_id]
        elif operation_id in self._operations:
            row = self._operations[operation_id]
        else:
            row = self._conn.execute(
                "SELECT id, status, due, ended, body FROM operations WHERE id = ?",
                (operation_id,),
            ).fetchone()
            self._operations[operation_id] = row
        if row is None:
            return None
        body = row[4]
        parsed = self._parsed_operations.get(operation_id)
        if parsed is None or parsed[0] is not body:
            parsed = (body, operation_of(body))
            self._parsed_operations[operation_id] = parsed
        return operation_copy(parsed[1])

    def put_operation(self, operation: Operation) -> None:
        row = _operation_row(operation)
        self._own_operations[operation.id] = row
        # Read back as written, should the job or a later one ask: this job's own writes and
        # the jobs after it would otherwise parse what was just serialised.
        self._parsed_operations[operation.id] = (row[4], operation_copy(operation))
        self._statements.append((_UPSERT_OPERATION, row))

    def prune_operations(self, finished_before: float) -> int:
        pruned = {
            found
            for (found,) in self._conn.execute(
                f"SELECT id FROM operations WHERE {_FINISHED_BEFORE}", (finished_before,)
            )
        }
        for cache in (self._operations, self._own_operations):
            for cached, row in cache.items():
                if row is not None and row[3] is not None and row[3] < finished_before:
                    pruned.add(cached)
                else:
                    pruned.discard(cached)
        for gone in pruned:
            self._own_operations[gone] = None
            self._parsed_operations.pop(gone, None)
        self._statements.append(
            (f"DELETE FROM operations WHERE {_FINISHED_BEFORE}", (finished_before,))
        )
        return len(pruned)

    # -- what the store calls around each job ----------------------------------------------

    def end_job(self) -> None:
        """The job returned: its writes join the open batch and the cache."""
        self._rows.update(self._own_rows)
        self._operations.update(self._own_operations)
        batch = self.batch
        batch.rows.update(self._own_rows)
        batch.operations.update(self._own_operations)
        batch.statements.extend(self._statements)
        self._reset_job()

    def abandon_job(self) -> None:
        """The job raised: nothing it wrote stays."""
        self._reset_job()

    def _reset_job(self) -> None:
        self._own_rows.clear()
        self._own_operations.clear()
        self._statements = []

    def take_batch(self) -> _Batch:
        """The open batch, to be committed; a new one opens."""
        batch, self.batch = self.batch, _Batch()
        return batch

    def trim(self, uncommitted: list[_Batch]) -> None:
        """Start the cache over if it grew large, keeping what ``uncommitted`` batches wrote."""
        if len(self._rows) + len(self._operations) <= _CACHE_ROWS:
            return
        self._rows.clear()
        self._operations.clear()
        self._parsed_operations.clear()
        for batch in uncommitted:
            self._rows.update(batch.rows)
            self._operations.update(batch.operations)

    def forget(self) -> None:
        """Drop the cache and the open batch: what they describe may never have committed."""
        self._rows.clear()
        self._operations.clear()
        self._parsed_operations.clear()
        self._reset_job()
        self.batch = _Batch()


def _lock(database: Path) -> int:
    """Lock ``database`` for this process until the descriptor closes (or the process ends).

    The store's caches hold rows as this process committed them, which only holds while no
    other process writes the database: a second service on the same data directory is
    refused rather than let the two overwrite each other.
    """
    path = database.with_name(database.name + ".lock")
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise InUse(
            f"{database} is in use by another compute-gallery process (pid {holder}); "
            "stop that one, or give this one a --data-dir of its own"
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor


class _Job:
    __slots__ = ("context", "error", "fn", "future", "result")

    def __init__(self, fn: Callable[[Any], Any], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future
        # A batch runs in one callback; each write function still sees its own caller's context.
        self.context = contextvars.copy_context()
        self.result: Any = None
        self.error: BaseException | None = None


class SqliteStore:
    """The default store. ``path`` None keeps everything in memory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._target = str(path) if path else f"file:cg-{id(self)}?mode=memory"
        self._pending: list[_Job] = []
        self._tx: _Transaction | None = None
        self._reader: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False
        # The batch the writer process holds, and when it is done with it (on disk only).
        self._writer: Writer | None = None
        self._in_writer: _Batch | None = None
        self._written: asyncio.Future[None] | None = None
        # Resource rows as committed, by key: kept by reads and brought up to date as each
        # batch commits. Only this process writes the database (through its writer
        # process), so a row here is the row any read would find.
        self._committed: dict[str, tuple[Any, ...]] = {}
        # The descriptor holding the lock that makes this process the database's only user.
        self._lock: int | None = None

    @property
    def description(self) -> str:
        return f"SQLite at {self.path}" if self.path else "SQLite in memory"

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.path:
            self._lock = _lock(self.path)
        conn = _connect(self._target)
        try:
            _prepare(conn, on_disk=self.path is not None)
            if self.path:
                # Writes go through the writer process; this connection only reads.
                conn.execute("PRAGMA query_only = ON")
                writer = Writer(
                    self.path,
                    _CHECKPOINT_EVERY,
                    self._committed_batch,
                    self._synced,
                    self._not_committed,
                )
                writer.start(self._loop)
                self._writer = writer
        except BaseException:
            conn.close()
            self._unlock()
            raise
        self._reader = conn
        self._tx = _Transaction(conn)
        self._committed.clear()

    async def close(self) -> None:
        if self._reader is None or self._tx is None:
            return
        while self._in_writer is not None or self._pending or self._tx.batch.jobs:
            if self._pending:
                self._flush()
            if self._written is not None:
                await asyncio.shield(self._written)
            elif self._tx.batch.jobs:
                self._commit()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._reader.close()
        self._reader = None
        self._tx = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # -- reads --------------------------------------------------------------------------

    def _read_connection(self) -> sqlite3.Connection:
        if self._reader is None:
            raise RuntimeError("the store is not open")
        return self._reader

    async def get(self, key: str) -> Record | None:
        row = self._committed.get(key)
        if row is None:
            row = (
                self._read_connection()
                .execute(f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE key = ?", (key,))
                .fetchone()
            )
            if row is None:
                return None
            self._keep_committed(key, row)
        return _record(row)

    def _keep_committed(self, key: str, row: tuple[Any, ...]) -> None:
        if len(self._committed) >= _CACHE_ROWS:
            self._committed.clear()
        self._committed[key] = row

    async def list_children(
        self, parent_key: str, type_: str, after: str | None, limit: int
    ) -> list[Record]:
        rows = (
            self._read_connection()
            .execute(
                f"SELECT {_RESOURCE_COLUMNS} FROM resources "
                "WHERE parent_key = ? AND type = ? AND key > ? ORDER BY key LIMIT ?",
                (parent_key, type_, after or "", limit),
            )
            .fetchall()
        )
        return [_record(row) for row in rows]

    async def list_by_subscription(
        self, subscription: str, type_: str, after: str | None, limit: int
    ) -> list[Record]:
        rows = (
            self._read_connection()
            .execute(
                f"SELECT {_RESOURCE_COLUMNS} FROM resources "
                "WHERE subscription = ? AND type = ? AND key > ? ORDER BY key LIMIT ?",
                (subscription, type_, after or "", limit),
            )
            .fetchall()
        )
        return [_record(row) for row in rows]

    async def get_operation(self, operation_id: str) -> Operation | None:
        row = (
            self._read_connection()
            .execute("SELECT body FROM operations WHERE id = ?", (operation_id,))
            .fetchone()
        )
        return operation_of(row[0]) if row else None

    def new_operation_id(self) -> str:
        # Time-ordered: the operations table and its index append instead of writing into
        # random pages; one writer means no concurrent reader to conflict with.
        return guids.sequential_guid()

    async def unfinished_operations(self) -> list[Operation]:
        rows = (
            self._read_connection()
            .execute("SELECT body FROM operations WHERE status = 'InProgress' ORDER BY due")
            .fetchall()
        )
        return [operation_of(row[0]) for row in rows]

    async def prune_operations(self, finished_before: float) -> int:
        def run(tx: Transaction) -> int:
            assert isinstance(tx, _Transaction)
            return tx.prune_operations(finished_before)

        return await self.write(run)

    async def check(self) -> None:
        try:
            self._read_connection().execute("SELECT 1").fetchone()
        except sqlite3.Error as error:
            raise Unavailable(f"the SQLite store cannot be read: {error}") from error

    # -- writes -------------------------------------------------------------------------

    async def write(self, fn: Callable[[Transaction], T]) -> T:
        if self._tx is None or self._loop is None:
            raise RuntimeError("the store is not open")
        future: asyncio.Future[T] = self._loop.create_future()
        self._pending.append(_Job(fn, future))
        if not self._flush_scheduled:
            # Everything queued in this turn of the event loop goes into one batch.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        """Run the pending writes into the open batch; commit it unless the writer is busy.

        The write functions run here, on the event loop's thread, one after another: the
        store is serial by construction. While the writer process commits and syncs one
        batch, the writes that arrive run at once into the next, which goes to the writer
        when it is done: the event loop never waits for the disk, and the next batch is as
        large as the disk is slow.
        """
        self._flush_scheduled = False
        jobs, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
        if self._pending:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)
        if not jobs:
            return
        tx = self._tx
        assert tx is not None
        if not tx.batch.jobs:
            tx.trim([self._in_writer] if self._in_writer is not None else [])
        tx.batch.jobs.extend(jobs)
        for job in jobs:
            try:
                job.result = job.context.run(job.fn, tx)
            except Exception as error:
                job.error = error
                tx.abandon_job()
            else:
                tx.end_job()
        if self._in_writer is None:
            self._commit()

    def _commit(self) -> None:
        """Commit the open batch, then answer its writers (on disk: once synced)."""
        tx, loop = self._tx, self._loop
        assert tx is not None and loop is not None
        batch = tx.take_batch()
        if self._writer is None:
            self._commit_here(batch)
            return
        self._in_writer = batch
        self._written = loop.create_future()
        self._writer.commit(batch.statements)

    def _commit_here(self, batch: _Batch) -> None:
        """In memory: run the batch on the store's one connection, now."""
        conn = self._reader
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement, parameters in batch.statements:
                conn.execute(statement, parameters)
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._roll_back(batch, error)
            return
        self._keep_batch(batch)
        _settle(batch.jobs)

    def _committed_batch(self) -> None:
        """The writer process committed the batch it holds: readers see it now."""
        assert self._in_writer is not None
        self._keep_batch(self._in_writer)

    def _keep_batch(self, batch: _Batch) -> None:
        for key, row in batch.rows.items():
            if row is None:
                self._committed.pop(key, None)
            else:
                self._keep_committed(key, row)

    def _synced(self, error: OSError | None) -> None:
        """The batch the writer process held is on disk (or its fsync failed): answer it."""
        batch = self._finished_in_writer()
        if error is not None:
            # The batch is committed but may not be on disk: say so rather than claim it is.
            log.error(
                "store sync failed (%s); %d writes may not be durable", error, len(batch.jobs)
            )
            for job in batch.jobs:
                job.error = job.error or error
        _settle(batch.jobs)
        assert self._tx is not None
        if self._tx.batch.jobs:
            self._commit()

    def _not_committed(self, error: Exception) -> None:
        """The batch the writer process held did not commit, or may not have."""
        self._roll_back(self._finished_in_writer(), error)

    def _finished_in_writer(self) -> _Batch:
        batch, self._in_writer = self._in_writer, None
        written, self._written = self._written, None
        assert batch is not None and written is not None
        written.set_result(None)
        return batch

    def _roll_back(self, batch: _Batch, error: Exception) -> None:
        """Fail a batch that did not commit, and the open batch, whose writes read its.

        A writer process lost between its COMMIT and its answer may have committed the
        batch: every cached row is dropped, and reads ask the database again.
        """
        tx = self._tx
        assert tx is not None
        jobs = batch.jobs + tx.batch.jobs
        log.error(
            "store write failed (%s); the batch of %d writes is rolled back", error, len(jobs)
        )
        tx.forget()
        self._committed.clear()
        for job in jobs:
            job.error = job.error or error
        _settle(jobs)


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
