"""Byte counts as operators write them (``2G``, ``512K``) and as messages show them."""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse(text: str) -> int:
    """``1048576``, ``1024K``, ``1M`` and ``1MiB`` are the same number of bytes."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(
            f"'{text}' is not a size: write a number of bytes, or one with a K, M, G "
            "or T suffix (powers of 1024), such as 512K or 2G"
        )
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


def describe(count: int) -> str:
    """``2 GB``, ``1.5 MB``, ``512 bytes``: Compute writes binary sizes with decimal names."""
    for unit, factor in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= factor:
            return f"{count / factor:.3g} {unit}"
    return f"{count} bytes"
