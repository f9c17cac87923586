"""The SQLite store's writer process: it runs each batch of writes, commits it, fsyncs the WAL.

The service decides every write (its rules run on the event loop against the store's caches)
but hands the statements to this child process, which executes them in one transaction,
COMMITs and fsyncs the WAL: the event loop's thread neither executes SQL for writes nor waits
for the disk, and no thread of the service ever waits for the interpreter lock held by the
busy event loop (a hand-over that cost the event loop's thread system calls).

The protocol, over the process's stdin and stdout: one request per batch, a 4-byte length
and a ``marshal``-encoded list of ``(statement, parameters)``; the process answers
``committed`` once the batch is committed (readers see it), then ``synced`` once the WAL is
on disk (its writers may be answered), or ``error sql CLASS MESSAGE`` for a batch it rolled
back, or ``error os ERRNO MESSAGE`` for a committed batch whose fsync failed. The first sync
also fsyncs the WAL's directory (the WAL is new then). Every so many batches it copies the
WAL into the database file before it answers ``synced``, while no batch can commit (the next
is sent only after that answer), so that the checkpoint reaches the WAL's end and the writer
can start it over; the answer then says how it went (``synced checkpoint FRAMES COPIED BUSY``
or ``synced checkpoint-failed MESSAGE``).

The process runs this module as a script on the standard library alone
(``python -I -S writer.py DATABASE CHECKPOINT_EVERY``). It ends when its stdin closes, as it
does when the service stops or dies. It runs in a session of its own, so that a terminal's
Ctrl-C, sent to the service's whole process group, leaves it to the service to end it.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from pathlib import Path

log = logging.getLogger(__name__)

Statement = tuple[str, Sequence[Any]]

# How long a stopping store waits for the process to end before it kills it.
_STOP_SECONDS = 10.0
_BUSY_TIMEOUT_MS = 5000
_LENGTH = 4


def serve(requests: int, answers: int, database: str, checkpoint_every: int) -> None:
    """Run each batch read from ``requests`` and answer on ``answers``, until it closes."""
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    # The WAL is fsynced below, and checkpointed below between two commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    wal: int | None = None
    since_checkpoint = 0
    try:
        for request in _requests(requests):
            statements: list[Statement] = marshal.loads(request)
            try:
                conn.execute("BEGIN IMMEDIATE")
                for statement, parameters in statements:
                    conn.execute(statement, parameters)
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                _answer(answers, f"error sql {type(error).__name__} {error}")
                continue
            _answer(answers, "committed")
            try:
                if wal is None:
                    wal = os.open(f"{database}-wal", os.O_RDONLY)
                    _fsync_directory(os.path.dirname(database) or ".")
                os.fsync(wal)
            except OSError as error:
                _answer(answers, f"error os {error.errno or 0} {error.strerror or error}")
                continue
            since_checkpoint += 1
            if since_checkpoint < checkpoint_every:
                _answer(answers, "synced")
                continue
            since_checkpoint = 0
            try:
                busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as error:
                _answer(answers, f"synced checkpoint-failed {error}")
            else:
                _answer(answers, f"synced checkpoint {frames} {copied} {busy}")
    finally:
        conn.close()
        if wal is not None:
            os.close(wal)


def _requests(requests: int) -> Iterator[bytes]:
    """Each length-prefixed request read from ``requests``, until it closes."""
    buffered = b""
    while True:
        while len(buffered) >= _LENGTH:
            size = int.from_bytes(buffered[:_LENGTH], "big")
            if len(buffered) < _LENGTH + size:
                break
            yield buffered[_LENGTH : _LENGTH + size]
            buffered = buffered[_LENGTH + size :]
        data = os.read(requests, 1 << 20)
        if not data:
            return
        buffered += data


def _fsync_directory(path: str) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _answer(answers: int, line: str) -> None:
    os.write(answers, " ".join(line.split()).encode() + b"\n")


class Channel:
    """The two pipes to a process (or thread) serving the protocol, and how to end it."""

    def __init__(
        self, requests: int, answers: int, stop: Callable[[], None], pid: int | None = None
    ) -> None:
        self.requests = requests
        self.answers = answers
        self.stop = stop
        self.pid = pid

    @classmethod
    def process(cls, database: Path, checkpoint_every: int) -> Channel:
        """A new writer process for ``database``; OSError when it cannot be started."""
        child = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, str(database), str(checkpoint_every)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert child.stdin is not None and child.stdout is not None
        requests, answers = child.stdin, child.stdout

        def stop() -> None:
            requests.close()
            try:
                child.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            answers.close()

        return cls(requests.fileno(), answers.fileno(), stop, child.pid)


class Writer:
    """The store's side of the writer process: one batch at a time.

    ``commit`` sends a batch; then ``committed`` is called once readers can see it, and
    ``synced`` with None once it is on disk, or with the OSError of its fsync (it is
    committed all the same); or ``failed`` alone with the error of a batch that did not
    commit, or that may not have: a process that ends unasked is one, and the next batch
    starts another. All are called on the event loop.
    """

    def __init__(
        self,
        database: Path,
        checkpoint_every: int,
        committed: Callable[[], None],
        synced: Callable[[OSError | None], None],
        failed: Callable[[Exception], None],
    ) -> None:
        self.database = database
        self.checkpoint_every = checkpoint_every
        self.checkpoints = 0
        self._committed = committed
        self._synced = synced
        self._failed = failed
        self._loop: AbstractEventLoop | None = None
        self._channel: Channel | None = None
        # Whether a batch was sent and not yet answered for, and whether it committed.
        self._owed = False
        self._owed_committed = False
        self._partial = b""

    @property
    def pid(self) -> int | None:
        """The writer process's id, while there is one."""
        return self._channel.pid if self._channel is not None else None

    def start(self, loop: AbstractEventLoop) -> None:
        self._loop = loop
        self._open()

    def _open(self) -> None:
        assert self._loop is not None
        channel = self._spawn()
        os.set_blocking(channel.answers, False)
        self._loop.add_reader(channel.answers, self._read)
        self._channel = channel

    def _spawn(self) -> Channel:
        return Channel.process(self.database, self.checkpoint_every)

    def commit(self, statements: list[Statement]) -> None:
        assert self._loop is not None and not self._owed
        self._owed, self._owed_committed = True, False
        request = marshal.dumps(statements)
        try:
            if self._channel is None:
                self._open()
            assert self._channel is not None
            _write_all(self._channel.requests, len(request).to_bytes(_LENGTH, "big") + request)
        except OSError as error:
            # Answered on the event loop, as every batch is, not inside the caller.
            self._loop.call_soon(
                self._lost, f"the SQLite writer process could not be reached ({error})"
            )

    def _read(self) -> None:
        assert self._channel is not None
        try:
            data = os.read(self._channel.answers, 4096)
        except BlockingIOError:
            return
        except OSError as error:
            self._lost(f"the SQLite writer process could not be read ({error})")
            return
        if not data:
            self._lost("the SQLite writer process ended")
            return
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self._answered(line.decode())

    def _answered(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        if word == "committed":
            self._owed_committed = True
            self._committed()
            return
        self._owed = False
        if word == "synced":
            self._note_checkpoint(rest)
            self._synced(None)
            return
        kind, _, detail = rest.partition(" ")
        if kind == "os":
            code, _, message = detail.partition(" ")
            self._synced(OSError(int(code), message))
            return
        name, _, message = detail.partition(" ")
        error_class = getattr(sqlite3, name, sqlite3.DatabaseError)
        if not (isinstance(error_class, type) and issubclass(error_class, sqlite3.Error)):
            error_class = sqlite3.DatabaseError
        self._failed(error_class(message))

    def _note_checkpoint(self, outcome: str) -> None:
        if outcome.startswith("checkpoint-failed"):
            log.warning(
                "store checkpoint failed (%s); the WAL keeps growing until one works",
                outcome.partition(" ")[2],
            )
        elif outcome.startswith("checkpoint"):
            frames, copied, busy = outcome.split()[1:]
            self.checkpoints += 1
            log.debug(
                "store checkpoint: %s of %s WAL frames copied (busy: %s)", copied, frames, busy
            )

    def _lost(self, reason: str) -> None:
        """The process is gone: fail the batch it owed; the next batch starts another."""
        self._close_channel()
        if not self._owed:
            return
        self._owed = False
        log.error("%s; its batch is failed, the next one starts a new process", reason)
        if self._owed_committed:
            self._synced(OSError(f"{reason} before the WAL was synced"))
        else:
            self._failed(OSError(f"{reason} before the batch was known to commit"))

    def _close_channel(self) -> None:
        channel, self._channel = self._channel, None
        self._partial = b""
        if channel is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(channel.answers)
        channel.stop()

    def close(self) -> None:
        """End the process; call once no batch is owed."""
        self._close_channel()


def _write_all(descriptor: int, data: bytes) -> None:
    """Write all of ``data`` to a blocking pipe (a large batch takes more than one write)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def main(argv: list[str]) -> int:
    database, checkpoint_every = argv[1], int(argv[2])
    serve(sys.stdin.fileno(), sys.stdout.fileno(), database, checkpoint_every)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
