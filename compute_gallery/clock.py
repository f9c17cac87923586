"""Timestamps the way Compute writes them: UTC, seven fractional digits, ``+00:00``."""

from __future__ import annotations

import math
import time as _time
from datetime import UTC, datetime

# The formatted date and time of the last whole second ``iso`` wrote, with that second.
_last_second: tuple[float, str] = (math.nan, "")


def time() -> float:
    """Seconds since the epoch; one place to read the clock."""
    return _time.time()


def iso(epoch: float | None = None) -> str:
    """``2025-03-10T12:00:00.1234567+00:00`` for ``epoch`` (default: now).

    The text of ``datetime.fromtimestamp(epoch, UTC).isoformat()``, microseconds rounded the
    same way (half to even) and padded to .NET's seven digits, at a third of its cost: the
    date and time are formatted once per second.
    """
    global _last_second
    fraction, second = math.modf(_time.time() if epoch is None else epoch)
    microseconds = round(fraction * 1e6)
    if microseconds >= 1_000_000:
        second, microseconds = second + 1, microseconds - 1_000_000
    elif microseconds < 0:
        second, microseconds = second - 1, microseconds + 1_000_000
    cached_second, prefix = _last_second
    if second != cached_second:
        prefix = _time.strftime("%Y-%m-%dT%H:%M:%S.", _time.gmtime(second))
        # One tuple, so that a thread never pairs one second's text with another's.
        _last_second = (second, prefix)
    return f"{prefix}{microseconds:06d}0+00:00"


def seconds_since(text: str) -> float:
    """Seconds from the timestamp ``text`` to now; ValueError when it is not one.

    ``iso``'s own texts of the second it last formatted (those of operations just made) are
    read without parsing the date.
    """
    now = _time.time()
    second, prefix = _last_second
    if (
        prefix
        and text.startswith(prefix)
        and len(text) == len(prefix) + 13
        and text[-6:] == "+00:00"
    ):
        return now - second - int(text[len(prefix) : len(prefix) + 6]) / 1e6
    return now - parse(text).timestamp()


def parse(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime (naive input is taken as UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
