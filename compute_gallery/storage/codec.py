"""How operations are written into a store's rows as JSON, and read back, by every store."""

from __future__ import annotations

from typing import Any

import orjson

from . import Operation


def operation_json(op: Operation) -> bytes:
    """Every field of ``op``, by its name, as one JSON object."""
    return orjson.dumps(op)


def operation_of(body: bytes | str) -> Operation:
    """The operation ``operation_json`` wrote; fields added since the row was written take
    their defaults."""
    data: dict[str, Any] = orjson.loads(body)
    # Positional, by literal names: Operation(**data) takes longer to match the parsed names
    # to its parameters than orjson takes to parse the row.
    get = data.get
    return Operation(
        data["id"],
        data["kind"],
        data["subscription"],
        data["location"],
        data["resource_key"],
        data["resource_id"],
        data["api_version"],
        get("status", "InProgress"),
        get("start_time", ""),
        get("end_time"),
        get("error"),
        get("due", 0.0),
        get("payload", {}),
        get("owner"),
        get("lease", 0),
        get("lease_until", 0.0),
    )
