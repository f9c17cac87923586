"""A bandwidth budget that every transfer shares, from the event loop or from a thread."""

from __future__ import annotations

import threading
import time


class Throttle:
    """Spaces transfers so that together they move at most ``rate`` bytes per second.

    Each caller reserves its next chunk and waits until its reserved slot begins; the slots of
    all callers follow one another, so the budget holds however many transfers share it.
    """

    def __init__(self, rate: int | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = 0.0

    def delay(self, size: int) -> float:
        """Reserve ``size`` bytes; the seconds to wait before sending them (0 when unlimited)."""
        if not self.rate:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now)
            self._next = start + size / self.rate
        return start - now
