"""GUIDs for request and operation ids, made without a system call each.

``uuid.uuid4`` reads the kernel's random source on every call; these ids need to be unique,
not unpredictable, so a pseudo-random generator seeded once from it serves them.
"""

from __future__ import annotations

import os
import random
import time

_random = random.Random(os.urandom(32))
_VERSION_4 = 0x4 << 76
_VERSION_7 = 0x7 << 76
_VARIANT = 0x2 << 62
_CLEAR_4 = ~((0xF << 76) | (0x3 << 62))


def _format(value: int) -> str:
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def random_guid() -> str:
    """A version-4 (random) GUID."""
    return _format((_random.getrandbits(128) & _CLEAR_4) | _VERSION_4 | _VARIANT)


def sequential_guid() -> str:
    """A version-7 GUID: milliseconds since the epoch first, so ids sort by the millisecond made.

    Stores keyed by these ids append to their indexes instead of writing into random pages.
    """
    milliseconds = time.time_ns() // 1_000_000
    random_bits = _random.getrandbits(74)
    value = (
        (milliseconds & (2**48 - 1)) << 80
        | _VERSION_7
        | (random_bits >> 62) << 64
        | _VARIANT
        | (random_bits & (2**62 - 1))
    )
    return _format(value)
