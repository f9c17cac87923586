"""How operations are written into a store's rows as JSON, read back, and copied."""

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


def operation_copy(op: Operation) -> Operation:
    """A copy of ``op`` that shares nothing mutable with it, for a fraction of a parse."""
    return Operation(
        op.id,
        op.kind,
        op.subscription,
        op.location,
        op.resource_key,
        op.resource_id,
        op.api_version,
        op.status,
        op.start_time,
        op.end_time,
        _copied(op.error),
        op.due,
        _copied(op.payload) or {},
        op.owner,
        op.lease,
        op.lease_until,
    )


def _copied(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None if value is None else {}
    copied: dict[str, Any] = orjson.loads(orjson.dumps(value))
    return copied
