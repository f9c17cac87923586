"""The SQLite store's sync process: fsyncs of the WAL, and its checkpoints, outside the service.

Waiting for the disk must not hold up the service's event loop, and a thread of the service
would not do: after each fsync it needs the interpreter lock back from the busy event loop,
and every hand-over costs the event loop's thread system calls. So a child process waits for
the disk instead. The store writes one byte to its stdin per committed batch; the process
fsyncs the WAL (its directory too, the first time: the WAL is new then) and answers one line
on its stdout: ``ok``, or ``error ERRNO MESSAGE``. Every so many syncs it also copies the WAL
into the database file before it answers, while no COMMIT can run (the next one waits for
the answer), so that the checkpoint reaches the WAL's end and the writer can start it over;
the answer then says how it went (``ok checkpoint FRAMES COPIED BUSY`` or
``ok checkpoint-failed MESSAGE``). fsync makes a file's data durable whichever process asks.

The process runs this module as a script on the standard library alone
(``python -I -S walsync.py DATABASE CHECKPOINT_EVERY``). It ends when its stdin closes, as it
does when the service stops or dies. It runs in a session of its own, so that a terminal's
Ctrl-C, sent to the service's whole process group, leaves it to the service to end it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from pathlib import Path

log = logging.getLogger(__name__)

# How long a stopping store waits for the process to end before it kills it.
_STOP_SECONDS = 10.0
_BUSY_TIMEOUT_MS = 5000


def serve(requests: int, answers: int, database: str, checkpoint_every: int) -> None:
    """Answer each byte read from ``requests`` with one line on ``answers``, until it closes."""
    wal: int | None = None
    checkpointer: sqlite3.Connection | None = None
    since_checkpoint = 0
    try:
        while data := os.read(requests, 4096):
            for _ in data:
                try:
                    if wal is None:
                        wal = os.open(f"{database}-wal", os.O_RDONLY)
                        _fsync_directory(os.path.dirname(database) or ".")
                    os.fsync(wal)
                except OSError as error:
                    _answer(answers, f"error {error.errno or 0} {error.strerror or error}")
                    continue
                since_checkpoint += 1
                if since_checkpoint < checkpoint_every:
                    _answer(answers, "ok")
                    continue
                since_checkpoint = 0
                try:
                    if checkpointer is None:
                        checkpointer = sqlite3.connect(database, isolation_level=None)
                        checkpointer.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
                    busy, frames, copied = checkpointer.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                except sqlite3.Error as error:
                    _answer(answers, f"ok checkpoint-failed {error}")
                else:
                    _answer(answers, f"ok checkpoint {frames} {copied} {busy}")
    finally:
        if checkpointer is not None:
            checkpointer.close()
        if wal is not None:
            os.close(wal)


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
        """A new sync process for ``database``; OSError when it cannot be started."""
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


class WalSync:
    """The store's side of the sync process.

    ``sync`` asks for one sync; ``synced`` is then called on the event loop with its outcome
    (None, or the OSError), once per request and in order. A process that ends unasked fails
    the syncs it owed; the next sync starts a new one.
    """

    def __init__(
        self,
        database: Path,
        synced: Callable[[OSError | None], None],
        checkpoint_every: int,
    ) -> None:
        self.database = database
        self.checkpoint_every = checkpoint_every
        self.checkpoints = 0
        self._synced = synced
        self._loop: AbstractEventLoop | None = None
        self._channel: Channel | None = None
        self._owed = 0
        self._partial = b""

    @property
    def pid(self) -> int | None:
        """The sync process's id, while there is one."""
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

    def sync(self) -> None:
        assert self._loop is not None
        self._owed += 1
        try:
            if self._channel is None:
                self._open()
            assert self._channel is not None
            os.write(self._channel.requests, b"s")
        except OSError as error:
            # Answered on the event loop, as every sync is, not inside the caller.
            self._loop.call_soon(self._lost, f"the WAL sync process could not be reached ({error})")

    def _read(self) -> None:
        assert self._channel is not None
        try:
            data = os.read(self._channel.answers, 4096)
        except BlockingIOError:
            return
        except OSError as error:
            self._lost(f"the WAL sync process could not be read ({error})")
            return
        if not data:
            self._lost("the WAL sync process ended")
            return
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self._owed -= 1
            self._synced(self._outcome(line.decode()))

    def _outcome(self, line: str) -> OSError | None:
        word, _, rest = line.partition(" ")
        if word == "error":
            code, _, message = rest.partition(" ")
            return OSError(int(code), message)
        if rest.startswith("checkpoint-failed"):
            log.warning(
                "store checkpoint failed (%s); the WAL keeps growing until one works",
                rest.partition(" ")[2],
            )
        elif rest.startswith("checkpoint"):
            frames, copied, busy = rest.split()[1:]
            self.checkpoints += 1
            log.debug(
                "store checkpoint: %s of %s WAL frames copied (busy: %s)", copied, frames, busy
            )
        return None

    def _lost(self, reason: str) -> None:
        """The process is gone: fail what it owed; the next sync starts another."""
        self._close_channel()
        owed, self._owed = self._owed, 0
        if owed:
            log.error("%s; %d syncs are failed, the next one starts a new process", reason, owed)
        for _ in range(owed):
            self._synced(OSError(f"{reason} before the WAL was synced"))

    def _close_channel(self) -> None:
        channel, self._channel = self._channel, None
        self._partial = b""
        if channel is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(channel.answers)
        channel.stop()

    def close(self) -> None:
        """End the process; call once no sync is owed."""
        self._close_channel()


def main(argv: list[str]) -> int:
    database, checkpoint_every = argv[1], int(argv[2])
    serve(sys.stdin.fileno(), sys.stdout.fileno(), database, checkpoint_every)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
