"""The embedded SQLite store: WAL on disk (or memory), writes batched into group commits.

Write functions run one after another on the event loop's thread, inside one open
transaction, so that writes are serial and a rule a write function checks still holds when
it commits. The COMMIT hands the batch to the WAL file (``synchronous=NORMAL``: no fsync of
its own); the sync process (``walsync``) then fsyncs the WAL, and only then are the batch's
writers answered. Writes arriving during that fsync run at once in the next open
transaction, which commits as soon as the fsync ends: one fsync serves every write that
arrived while the previous one ran, and the event loop never waits for the disk. The sync
process also checkpoints the WAL into the database file now and then, between two commits.
Reads use their own connection and see committed data (WAL snapshots), which may include a
batch whose fsync is still running: a power loss at that moment can lose a write that a
reader saw, never one that its writer was told of. Resources read or written are also kept
as committed, each COMMIT bringing them up to date, so that reading one again takes no
query. In memory there is one connection, each batch commits at once and nothing is synced.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from . import Operation, Record, SchemaTooNew, Transaction, Unavailable
from .codec import operation_copy, operation_json, operation_of
from .walsync import WalSync

T = TypeVar("T")
log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_MAX_BATCH = 128
# Commits between two checkpoints of the WAL into the database file (by the sync process).
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
        conn.execute("PRAGMA journal_mode = WAL")
        # The WAL is fsynced by the store's sync thread before any write is answered, and
        # checkpointed by that thread too, so the event loop never copies pages or waits.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
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
# Rows the cache keeps before it starts over; about 2 KiB each.
_CACHE_ROWS = 4096


class _Transaction:
    """The SQLite view a write function gets; one per store, reused for every job.

    A job's writes wait in Python until the job returns, so a job that raises has nothing
    to undo and the common one needs no savepoint. Reads see the job's own writes first,
    then the row cache, then the database. The cache holds rows that committed or earlier
    jobs of this batch wrote or read: this process is the database's only writer, so a
    cached row is the row. Queries the cache cannot answer (``first_child``,
    ``delete_tree``) first put the job's writes into the database under a savepoint.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._rows: dict[str, tuple[Any, ...]] = {}
        self._operations: dict[str, tuple[Any, ...]] = {}
        # Operations as parsed from their rows' bodies, by id, with the body each came from:
        # a read hands out a copy of the parse while the row it read is that body's.
        self._parsed_operations: dict[str, tuple[bytes, Operation]] = {}
        # The running job's writes: rows by key (None: deleted) and operation rows by id.
        self._own_rows: dict[str, tuple[Any, ...] | None] = {}
        self._own_operations: dict[str, tuple[Any, ...]] = {}
        self._unwritten: list[tuple[str, tuple[Any, ...]]] = []
        self._savepoint = False
        # What the open batch changed, for the store's rows as committed: rows by key (None:
        # deleted), and whether it removed a subtree (whose rows it does not list).
        self.batch_rows: dict[str, tuple[Any, ...] | None] = {}
        self.batch_removed_subtree = False

    # -- what write functions call ----------------------------------------------------------

    def get(self, key: str) -> Record | None:
        if key in self._own_rows:
            row = self._own_rows[key]
        else:
            row = self._rows.get(key)
            if row is None:
                row = self._conn.execute(
                    f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE key = ?", (key,)
                ).fetchone()
                if row is not None:
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
        self._unwritten.append((_UPSERT_RESOURCE, row))

    def delete(self, key: str) -> None:
        self._own_rows[key] = None
        self._unwritten.append(("DELETE FROM resources WHERE key = ?", (key,)))

    def delete_tree(self, key: str) -> int:
        self._write_own()
        self.batch_removed_subtree = True
        # Descendant keys start with "<key>/"; '0' is the character after '/'.
        cursor = self._conn.execute(
            "DELETE FROM resources WHERE key = ? OR (key > ? AND key < ?)",
            (key, key + "/", key + "0"),
        )
        for cached in (self._rows, self._own_rows):
            for gone in [k for k in cached if k == key or k.startswith(key + "/")]:
                del cached[gone]
        self._own_rows[key] = None
        return cursor.rowcount

    def first_child(self, key: str) -> Record | None:
        self._write_own()
        row = self._conn.execute(
            f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE parent_key = ? LIMIT 1", (key,)
        ).fetchone()
        return _record(row) if row else None

    def get_operation(self, operation_id: str) -> Operation | None:
        row = self._own_operations.get(operation_id) or self._operations.get(operation_id)
        if row is None:
            row = self._conn.execute(
                "SELECT id, status, due, ended, body FROM operations WHERE id = ?",
                (operation_id,),
            ).fetchone()
            if row is None:
                return None
            self._operations[operation_id] = row
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
        self._unwritten.append((_UPSERT_OPERATION, row))

    def prune_operations(self, finished_before: float) -> int:
        self._write_own()
        self._operations.clear()
        self._parsed_operations.clear()
        cursor = self._conn.execute(
            "DELETE FROM operations WHERE ended IS NOT NULL AND ended < ?", (finished_before,)
        )
        return cursor.rowcount

    # -- what the store calls around each job ----------------------------------------------

    def _write_own(self) -> None:
        """Put the job's writes so far into the database, under a savepoint."""
        if not self._savepoint:
            self._conn.execute("SAVEPOINT job")
            self._savepoint = True
        for statement, parameters in self._unwritten:
            self._conn.execute(statement, parameters)
        self._unwritten.clear()

    def end_job(self) -> None:
        """The job returned: its writes go into the batch and the cache."""
        for statement, parameters in self._unwritten:
            self._conn.execute(statement, parameters)
        if self._savepoint:
            self._conn.execute("RELEASE job")
        for key, row in self._own_rows.items():
            if row is None:
                self._rows.pop(key, None)
            else:
                self._rows[key] = row
        self.batch_rows.update(self._own_rows)
        self._operations.update(self._own_operations)
        self._reset_job()

    def abandon_job(self) -> None:
        """The job raised: nothing it wrote stays."""
        if self._savepoint:
            self._conn.execute("ROLLBACK TO job")
            self._conn.execute("RELEASE job")
        self._reset_job()

    def _reset_job(self) -> None:
        self._own_rows.clear()
        self._own_operations.clear()
        self._unwritten.clear()
        self._savepoint = False

    def begin_batch(self) -> None:
        if len(self._rows) + len(self._operations) > _CACHE_ROWS:
            self.forget()

    def forget(self) -> None:
        """Drop the cache: the batch it may describe was rolled back."""
        self._rows.clear()
        self._operations.clear()
        self._parsed_operations.clear()
        self._reset_job()
        self.end_batch()

    def end_batch(self) -> None:
        """The batch committed or rolled back: what it changed is no longer pending."""
        self.batch_rows = {}
        self.batch_removed_subtree = False


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
        self._writer: sqlite3.Connection | None = None
        self._tx: _Transaction | None = None
        self._reader: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False
        # Writes run in the open transaction, and those of the batch whose sync is running.
        self._uncommitted: list[_Job] = []
        self._syncing: asyncio.Future[None] | None = None
        self._in_sync: list[_Job] = []
        self._syncer: WalSync | None = None
        # Resource rows as committed, by key: kept by reads and brought up to date by each
        # COMMIT on this (the event loop's) thread, which makes every commit. Only this
        # process writes the database, so a row here is the row any read would find.
        self._committed: dict[str, tuple[Any, ...]] = {}

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
        self._writer = writer
        self._tx = _Transaction(writer)
        self._committed.clear()
        # In memory there is one connection: every batch commits before control returns to
        # the event loop, so reads on it never see an uncommitted write.
        self._reader = writer
        if self.path:
            self._reader = _connect(self._target)
            self._reader.execute("PRAGMA query_only = ON")
            syncer = WalSync(self.path, self._synced, _CHECKPOINT_EVERY)
            try:
                syncer.start(self._loop)
            except OSError:
                self._reader.close()
                writer.close()
                self._writer = self._reader = self._tx = None
                raise
            self._syncer = syncer

    async def close(self) -> None:
        if self._writer is None:
            return
        while self._syncing is not None or self._pending or self._uncommitted:
            if self._pending:
                self._flush()
            if self._syncing is not None:
                await asyncio.shield(self._syncing)
            elif self._uncommitted:
                self._commit()
        if self._syncer is not None:
            self._syncer.close()
            self._syncer = None
        if self._reader is not None and self._reader is not self._writer:
            self._reader.close()
        self._writer.close()
        self._writer = self._reader = None
        self._tx = None

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
        if self._writer is None or self._loop is None:
            raise RuntimeError("the store is not open")
        future: asyncio.Future[T] = self._loop.create_future()
        self._pending.append(_Job(fn, future))
        if not self._flush_scheduled:
            # Everything queued in this turn of the event loop goes into one batch.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        """Run the pending writes in the open transaction; commit it unless a sync runs.

        The write functions run here, on the event loop's thread, one after another: the
        store is serial by construction. While the sync thread fsyncs one batch, the writes
        that arrive run at once but stay in the open transaction, which commits when that
        fsync ends: the event loop never waits for the disk, and the next batch is as large
        as the disk is slow.
        """
        self._flush_scheduled = False
        jobs, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
        if self._pending:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)
        if not jobs:
            return
        conn, tx = self._writer, self._tx
        assert conn is not None and tx is not None
        # The jobs join the open transaction first: if it cannot even begin, they fail with it.
        beginning = not self._uncommitted
        self._uncommitted.extend(jobs)
        try:
            if beginning:
                conn.execute("BEGIN IMMEDIATE")
                tx.begin_batch()
            for job in jobs:
                try:
                    job.result = job.context.run(job.fn, tx)
                except Exception as error:
                    job.error = error
                    tx.abandon_job()
                else:
                    tx.end_job()
        except sqlite3.Error as error:
            self._abort(conn, error)
            return
        if self._syncing is None:
            self._commit()

    def _commit(self) -> None:
        """COMMIT the open transaction, then answer its writers (on disk: once synced)."""
        conn = self._writer
        assert conn is not None and self._loop is not None
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            self._abort(conn, error)
            return
        self._committed_batch()
        jobs, self._uncommitted = self._uncommitted, []
        if self._syncer is None:
            _settle(jobs)
            return
        self._in_sync = jobs
        self._syncing = self._loop.create_future()
        self._syncer.sync()

    def _committed_batch(self) -> None:
        """Bring the committed rows up to date with the batch that has just committed."""
        tx = self._tx
        assert tx is not None
        if tx.batch_removed_subtree:
            self._committed.clear()
        else:
            for key, row in tx.batch_rows.items():
                if row is None:
                    self._committed.pop(key, None)
                else:
                    self._keep_committed(key, row)
        tx.end_batch()

    def _synced(self, error: OSError | None) -> None:
        """The sync process answered for the batch in sync: answer its writers."""
        jobs, self._in_sync = self._in_sync, []
        syncing, self._syncing = self._syncing, None
        if syncing is not None:
            syncing.set_result(None)
        if error is not None:
            # The batch is committed but may not be on disk: say so rather than claim it is.
            log.error("store sync failed (%s); %d writes may not be durable", error, len(jobs))
            for job in jobs:
                job.error = job.error or error
        _settle(jobs)
        if self._uncommitted:
            self._commit()

    def _abort(self, conn: sqlite3.Connection, error: sqlite3.Error) -> None:
        """Roll the open transaction back and fail every write in it."""
        jobs, self._uncommitted = self._uncommitted, []
        log.error(
            "store write failed (%s); the batch of %d writes is rolled back", error, len(jobs)
        )
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if self._tx is not None:
            self._tx.forget()
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
