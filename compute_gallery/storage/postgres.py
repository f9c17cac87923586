"""The PostgreSQL store: one database shared by several instances, each write SERIALIZABLE.

Each write function runs on a worker thread, on a pooled connection, inside one database
transaction at the SERIALIZABLE isolation level. PostgreSQL then guarantees that concurrent
writes, from this instance or any other, have the effect of some serial order, which is the
contract write functions are written against: a rule a write checks (a name is free, a
parent exists and is not being deleted, a resource has no children) still holds when it
commits. When PostgreSQL cannot order two writes so, it aborts one (a serialization failure
or a deadlock), and the store rolls it back and runs its write function again, a bounded
number of times. Write functions are built from their request and the transaction alone, so
running one again is safe. Explicit row locks would need every write to say which rows it
only reads and which it will change, and could not lock a row that does not exist yet (two
creates of one new name); SERIALIZABLE needs neither.

A transaction's writes wait in Python until its function returns (reads see them first),
and then go to the server in one pipeline with the COMMIT. Reads outside writes run on the
event loop over an asynchronous pool, each its own snapshot of committed data, so a write
answered by any instance is visible to the next read on every instance.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from .. import guids
from . import Operation, Record, Transaction, Unavailable
from .codec import operation_json, operation_of
from .migrations import Migration, migrate

T = TypeVar("T")
log = logging.getLogger(__name__)

# How often a write that conflicts with concurrent writes is run again before the request is
# answered 503: conflicts are rare outside several clients writing one resource at once.
MAX_ATTEMPTS = 30
_BACKOFF_FIRST = 0.002
_BACKOFF_MOST = 0.1
# How long a request waits for a pooled connection before it is answered 503.
POOL_TIMEOUT = 3.0
CONNECT_TIMEOUT = 5
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


def _not_the_second_report(record: logging.LogRecord) -> bool:
    """Leave out psycopg's report of a pipeline that could not end because a statement in it
    failed: that failure (a serialization failure above all) is raised as well, and the store
    handles it, so the warning would only repeat it in the service's log."""
    return not (
        record.msg == "error ignored terminating %r: %s"
        and isinstance(record.args, tuple)
        and len(record.args) == 2
        and isinstance(record.args[0], psycopg.Pipeline)
        and isinstance(record.args[1], pg_errors.PipelineAborted)
    )


logging.getLogger("psycopg").addFilter(_not_the_second_report)
# A transaction left idle this long is ended by the server, so that an instance frozen in the
# middle of one (a stopped process, a stalled VM) cannot hold its row locks for ever.
_IDLE_IN_TRANSACTION_MS = 30_000

_RESOURCE_COLUMNS = "key, id, type, parent_key, subscription, operation_id, body::text"
_GET_WITH_OPERATION = (
    "SELECT r.key, r.id, r.type, r.parent_key, r.subscription, r.operation_id, r.body::text, "
    "o.body::text FROM resources r LEFT JOIN operations o ON o.id = r.operation_id "
    "WHERE r.key = %s"
)
_UPSERT_RESOURCE = (
    "INSERT INTO resources (key, id, type, parent_key, subscription, operation_id, body) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
    "id = excluded.id, operation_id = excluded.operation_id, body = excluded.body"
)
_UPSERT_OPERATION = (
    "INSERT INTO operations (id, status, due, ended, body) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO UPDATE SET "
    "status = excluded.status, due = excluded.due, ended = excluded.ended, body = excluded.body"
)

Row = tuple[Any, ...]


def redacted(url: str) -> str:
    """The URL without its password, fit for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc}"))


def check_url(url: str) -> None:
    """Refuse what is not a PostgreSQL URL, before anything tries to connect to it."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"'{redacted(url)}' is not a PostgreSQL URL; expected "
            "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        )


def _record(row: Row) -> Record:
    key, id_, type_, parent_key, subscription, operation_id, body = row
    return Record(key, id_, type_, parent_key, subscription, orjson.loads(body), operation_id)


def _resource_row(record: Record) -> Row:
    return (
        record.key,
        record.id,
        record.type,
        record.parent_key,
        record.subscription,
        record.operation_id,
        orjson.dumps(record.body).decode(),
    )


def _operation_row(op: Operation) -> Row:
    ended = time.time() if op.finished else None
    return (op.id, op.status, op.due, ended, operation_json(op).decode())


class _Transaction:
    """What a write function gets: reads through to the database, writes held until the end.

    Rows read or written are kept for the rest of the transaction (its snapshot does not
    change, so a second read would find the same row), and copied out afresh on each read.
    """

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn
        self._cursor = conn.cursor()
        self._rows: dict[str, Row | None] = {}
        self._operations: dict[str, str | None] = {}
        self._unwritten: list[tuple[str, Row]] = []

    def get(self, key: str) -> Record | None:
        if key in self._rows:
            row = self._rows[key]
        else:
            # The resource's latest operation comes along: the rules read it next.
            found = self._cursor.execute(_GET_WITH_OPERATION, (key,)).fetchone()
            row = found[:-1] if found else None
            self._rows[key] = row
            if found and found[5] is not None and found[5] not in self._operations:
                self._operations[found[5]] = found[-1]
        return _record(row) if row else None

    def put(self, record: Record) -> None:
        row = _resource_row(record)
        self._rows[record.key] = row
        self._unwritten.append((_UPSERT_RESOURCE, row))

    def delete(self, key: str) -> None:
        self._rows[key] = None
        self._unwritten.append(("DELETE FROM resources WHERE key = %s", (key,)))

    def delete_tree(self, key: str) -> int:
        self._write_own()
        # Descendant keys start with "<key>/"; '0' is the character after '/'.
        cursor = self._cursor.execute(
            "DELETE FROM resources WHERE key = %s OR (key > %s AND key < %s)",
            (key, key + "/", key + "0"),
        )
        for gone in [k for k in self._rows if k == key or k.startswith(key + "/")]:
            del self._rows[gone]
        self._rows[key] = None
        return cursor.rowcount

    def first_child(self, key: str) -> Record | None:
        self._write_own()
        row = self._cursor.execute(
            f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE parent_key = %s LIMIT 1", (key,)
        ).fetchone()
        return _record(row) if row else None

    def get_operation(self, operation_id: str) -> Operation | None:
        if operation_id in self._operations:
            body = self._operations[operation_id]
        else:
            row = self._cursor.execute(
                "SELECT body::text FROM operations WHERE id = %s", (operation_id,)
            ).fetchone()
            body = row[0] if row else None
            self._operations[operation_id] = body
        return operation_of(body) if body else None

    def put_operation(self, operation: Operation) -> None:
        row = _operation_row(operation)
        self._operations[operation.id] = row[4]
        self._unwritten.append((_UPSERT_OPERATION, row))

    def prune_operations(self, finished_before: float) -> int:
        self._write_own()
        self._operations.clear()
        cursor = self._cursor.execute(
            "DELETE FROM operations WHERE ended IS NOT NULL AND ended < %s", (finished_before,)
        )
        return cursor.rowcount

    def _write_own(self) -> None:
        """Send the writes held so far, before a query whose answer depends on them."""
        if not self._unwritten:
            return
        with self._conn.pipeline():
            for statement, parameters in self._unwritten:
                self._cursor.execute(statement.encode(), parameters)
        self._unwritten.clear()

    def commit(self) -> None:
        """The held writes and the COMMIT in one round trip."""
        with self._conn.pipeline():
            for statement, parameters in self._unwritten:
                self._cursor.execute(statement.encode(), parameters)
            self._conn.commit()
        self._unwritten.clear()


async def reach_and_migrate(url: str, wait_seconds: float) -> list[Migration]:
    """Migrate the database at ``url``; while it cannot be reached, retry with backoff for up
    to ``wait_seconds``, logging each attempt. Returns the migration steps applied."""
    where = f"PostgreSQL at {redacted(url)}"
    deadline = time.monotonic() + wait_seconds
    delay = 0.5
    attempt = 1
    while True:
        try:
            return await asyncio.to_thread(_migrate, url)
        except psycopg.OperationalError as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no reason"
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(
                    f"could not reach {where} within {wait_seconds:g} s (last error: {reason}). "
                    "Check that the server is running and reachable from this host, that the "
                    "URL's host, port, database, user and password are right (the password "
                    "may also come from PGPASSWORD or ~/.pgpass), and that pg_hba.conf admits "
                    "this client; --database-wait-seconds sets how long to keep trying."
                ) from None
            delay = min(delay, left)
            log.warning(
                "%s is not reachable (attempt %d: %s); retrying in %.1f s",
                where,
                attempt,
                reason,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            attempt += 1


def _migrate(url: str) -> list[Migration]:
    with psycopg.connect(
        url, connect_timeout=CONNECT_TIMEOUT, application_name="compute-gallery"
    ) as conn:
        return migrate(conn)


class _CommitUnknown(Exception):
    """The connection broke while the COMMIT was on its way: the write may have happened."""


class PostgresStore:
    """Resources and operations in one PostgreSQL database that several instances share.

    ``pool_size`` is the most connections this instance opens: half of them (rounded up) run
    write transactions, the rest serve reads. ``wait_seconds`` is how long ``open`` keeps
    trying to reach a database that does not answer, before it gives up.
    """

    def __init__(self, url: str, *, pool_size: int = 10, wait_seconds: float = 60.0) -> None:
        check_url(url)
        if pool_size < 2:
            raise ValueError("the pool needs at least 2 connections: one to write, one to read")
        self.url = url
        self.wait_seconds = wait_seconds
        self._write_slots = (pool_size + 1) // 2
        self._read_slots = pool_size - self._write_slots
        self._writers: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._readers: AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None
        self._threads: ThreadPoolExecutor | None = None

    @property
    def description(self) -> str:
        return f"PostgreSQL at {redacted(self.url)}"

    # -- opening and closing ---------------------------------------------------------------

    async def open(self) -> None:
        """Reach the database (retrying with backoff), migrate it, then open the pools."""
        applied = await reach_and_migrate(self.url, self.wait_seconds)
        if applied:
            log.info("%s migrated to schema version %d", self.description, applied[-1].version)
        options = {
            "application_name": "compute-gallery",
            "connect_timeout": CONNECT_TIMEOUT,
            # Notice a peer that vanished without closing (a cut network) within a minute.
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        self._writers = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self._write_slots,
            timeout=POOL_TIMEOUT,
            kwargs={
                **options,
                "options": f"-c idle_in_transaction_session_timeout={_IDLE_IN_TRANSACTION_MS}",
            },
            configure=_serializable,
            open=False,
            name="compute-gallery-writes",
        )
        self._readers = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self._read_slots,
            timeout=POOL_TIMEOUT,
            kwargs={**options, "autocommit": True},
            open=False,
            name="compute-gallery-reads",
        )
        self._threads = ThreadPoolExecutor(self._write_slots, thread_name_prefix="pg-write")
        await asyncio.to_thread(self._writers.open, True, POOL_TIMEOUT)
        await self._readers.open(wait=True, timeout=POOL_TIMEOUT)

    async def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
        if self._writers is not None:
            await asyncio.to_thread(self._writers.close)
            self._writers = None
        if self._readers is not None:
            await self._readers.close()
            self._readers = None

    # -- reads -----------------------------------------------------------------------------

    async def _fetch(self, query: str, parameters: Sequence[Any]) -> list[Row]:
        """Rows of one query on a pooled connection; a connection found broken (the server
        restarted since it was opened) is dropped and the query tried on another."""
        if self._readers is None:
            raise RuntimeError("the store is not open")
        for attempt in range(self._read_slots + 1):
            try:
                async with self._readers.connection() as conn:
                    cursor = await conn.execute(query.encode(), parameters)
                    return await cursor.fetchall()
            except PoolTimeout as error:
                raise Unavailable(f"no connection to {self.description}: {error}") from None
            except psycopg.OperationalError as error:
                if attempt == self._read_slots:
                    raise Unavailable(f"{self.description} failed: {error}") from None
        raise AssertionError("unreachable")

    async def get(self, key: str) -> Record | None:
        rows = await self._fetch(
            f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE key = %s", (key,)
        )
        return _record(rows[0]) if rows else None

    async def list_children(
        self, parent_key: str, type_: str, after: str | None, limit: int
    ) -> list[Record]:
        rows = await self._fetch(
            f"SELECT {_RESOURCE_COLUMNS} FROM resources "
            "WHERE parent_key = %s AND type = %s AND key > %s ORDER BY key LIMIT %s",
            (parent_key, type_, after or "", limit),
        )
        return [_record(row) for row in rows]

    async def list_by_subscription(
        self, subscription: str, type_: str, after: str | None, limit: int
    ) -> list[Record]:
        rows = await self._fetch(
            f"SELECT {_RESOURCE_COLUMNS} FROM resources "
            "WHERE subscription = %s AND type = %s AND key > %s ORDER BY key LIMIT %s",
            (subscription, type_, after or "", limit),
        )
        return [_record(row) for row in rows]

    async def get_operation(self, operation_id: str) -> Operation | None:
        rows = await self._fetch("SELECT body::text FROM operations WHERE id = %s", (operation_id,))
        return operation_of(rows[0][0]) if rows else None

    def new_operation_id(self) -> str:
        # Random, not time-ordered: SERIALIZABLE transactions lock the index pages they read,
        # and time-ordered ids would put every new operation into the page where concurrent
        # writes read the latest operations, making them conflict. Measured with 16
        # concurrent PUTs: time-ordered ids halved their rate and doubled the server's work.
        return guids.random_guid()

    async def unfinished_operations(self) -> list[Operation]:
        rows = await self._fetch(
            "SELECT body::text FROM operations WHERE status = 'InProgress' ORDER BY due", ()
        )
        return [operation_of(row[0]) for row in rows]

    async def check(self) -> None:
        await self._fetch("SELECT 1", ())

    # -- writes ----------------------------------------------------------------------------

    async def write(self, fn: Callable[[Transaction], T]) -> T:
        if self._threads is None:
            raise RuntimeError("the store is not open")
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, context.run, self._write, fn)
        except _CommitUnknown as error:
            raise Unavailable(str(error)) from None

    def _write(self, fn: Callable[[Transaction], T]) -> T:
        """Runs on a worker thread: ``fn`` in a transaction, again after each conflict."""
        assert self._writers is not None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._writers.connection() as conn:
                    return self._attempt(conn, fn)
            except _RETRYABLE as error:
                if attempt == MAX_ATTEMPTS:
                    raise Unavailable(
                        f"the write conflicted with concurrent writes {attempt} times; retry it"
                    ) from error
                # Full jitter: writers that collided spread out rather than collide again.
                time.sleep(random.uniform(0, min(_BACKOFF_MOST, _BACKOFF_FIRST * 2**attempt)))
            except PoolTimeout as error:
                raise Unavailable(f"no connection to {self.description}: {error}") from None
            except psycopg.OperationalError as error:
                # Nothing was committed (else _attempt raised _CommitUnknown): the connection
                # was found broken, and the pool drops it. Another may be sound.
                if attempt > self._write_slots:
                    raise Unavailable(f"{self.description} failed: {error}") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _attempt(conn: psycopg.Connection[Row], fn: Callable[[Transaction], T]) -> T:
        """One run of ``fn``; the pool's connection block rolls back whatever it raises."""
        tx = _Transaction(conn)
        result = fn(tx)
        try:
            tx.commit()
        except _RETRYABLE:
            raise
        except psycopg.OperationalError as error:
            if conn.broken:
                raise _CommitUnknown(
                    f"the connection to the database broke during a COMMIT ({error}); the "
                    "write may or may not have been stored: read the resource, or retry"
                ) from error
            raise
        return result

    async def prune_operations(self, finished_before: float) -> int:
        def prune(tx: Transaction) -> int:
            assert isinstance(tx, _Transaction)
            return tx.prune_operations(finished_before)

        return await self.write(prune)


def _serializable(conn: psycopg.Connection[Row]) -> None:
    conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
