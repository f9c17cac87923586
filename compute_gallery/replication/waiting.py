"""Waiting for work that must end before its waiter goes on, even when the waiter is canceled.

A thread cannot be canceled: a task that awaits one and is canceled must still wait until the
thread is done before it cleans up after it, or the thread would write a file already removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def settle(work: Awaitable[Any], on_cancel: Callable[[], None] | None = None) -> None:
    """Wait until ``work`` has ended; then re-raise a cancellation that arrived meanwhile.

    ``on_cancel`` runs at the first cancellation (to ask the work to stop early). The work's
    own outcome is not raised: its caller learns it elsewhere, or not at all.
    """
    future = asyncio.ensure_future(work)
    canceled = False
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            if not canceled and on_cancel is not None:
                on_cancel()
            canceled = True
    if not future.cancelled():
        future.exception()  # retrieved, so that asyncio does not report it as lost
    if canceled:
        raise asyncio.CancelledError
