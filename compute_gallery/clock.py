"""Timestamps the way Compute writes them: UTC, seven fractional digits, ``+00:00``."""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime


def time() -> float:
    """Seconds since the epoch; one place to read the clock."""
    return _time.time()


def iso(epoch: float | None = None) -> str:
    """``2025-03-10T12:00:00.1234567+00:00`` for ``epoch`` (default: now)."""
    moment = datetime.fromtimestamp(_time.time() if epoch is None else epoch, UTC)
    # datetime carries microseconds; .NET's "o" format pads them to seven digits.
    return moment.isoformat(timespec="microseconds")[:-6] + "0+00:00"


def parse(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime (naive input is taken as UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
