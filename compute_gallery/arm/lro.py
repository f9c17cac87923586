"""The long-running-operation protocol: status URLs, the headers that point at them, bodies."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote

from .. import clock
from ..settings import Settings
from ..storage import Operation


def status_path(op: Operation) -> str:
    """The subscription-scoped status resource, as Compute names it (``capsOperations``)."""
    if op.kind == "deleteResourceGroup":
        return f"/subscriptions/{op.subscription}/operationresults/{op.id}"
    return (
        f"/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/"
        f"{op.location}/capsOperations/{op.id}"
    )


def status_url(base_url: str, op: Operation) -> str:
    return f"{base_url}{status_path(op)}?api-version={_quoted(op.api_version)}"


def monitor_url(base_url: str, op: Operation) -> str:
    if op.kind == "deleteResourceGroup":
        return status_url(base_url, op)
    return f"{base_url}{status_path(op)}?monitor=true&api-version={_quoted(op.api_version)}"


@functools.lru_cache(maxsize=256)
def _quoted(api_version: str) -> str:
    # Operations carry the few api-versions their requests were answered in.
    return quote(api_version)


def poll_headers(settings: Settings, op: Operation) -> dict[str, str]:
    """How soon to poll ``op`` again.

    Fast mode speaks in milliseconds (azure-core reads ``retry-after-ms`` but treats
    ``Retry-After: 0`` as absent, falling back to 30 s): at first ``poll_interval_ms``, so
    that an operation of a few milliseconds is seen to end a few milliseconds later, then a
    quarter of the time the operation has run, up to ``longest_poll_ms``, so that a client
    waiting for a long replication does not ask hundreds of times a second.
    """
    if settings.lro_mode != "fast":
        return {}
    try:
        ran_ms = clock.seconds_since(op.start_time) * 1000
    except ValueError:
        ran_ms = 0.0
    wait_ms = min(settings.longest_poll_ms, max(settings.poll_interval_ms, int(ran_ms / 4)))
    return {"retry-after-ms": str(wait_ms)}


def headers(base_url: str, op: Operation, settings: Settings, *, method: str) -> dict[str, str]:
    """The headers of a response that starts ``op``.

    Real Compute sends ``Azure-AsyncOperation`` on every write and adds ``Location`` on
    DELETE. The fast mode sends both on every write: the 2025-03-03 contract declares
    ``Location`` on PUT and PATCH too, and clients that follow it then find it.
    Resource-group deletion is ARM's own and answers with ``Location`` alone.
    """
    if op.kind == "deleteResourceGroup":
        result = {"Location": monitor_url(base_url, op)}
        if settings.lro_mode == "azure":
            result["Retry-After"] = "15"
        result.update(poll_headers(settings, op))
        return result
    result = {"Azure-AsyncOperation": status_url(base_url, op)}
    if method == "DELETE" or settings.lro_mode == "fast":
        result["Location"] = monitor_url(base_url, op)
    result.update(poll_headers(settings, op))
    return result


def status_body(base_url: str, op: Operation) -> dict[str, Any]:
    """The operation-status resource: always 200, whatever the operation's outcome."""
    body: dict[str, Any] = {
        "id": f"{status_path(op)}",
        "name": op.id,
        "status": op.status,
        "startTime": op.start_time,
    }
    if op.end_time is not None:
        body["endTime"] = op.end_time
    if op.error is not None:
        body["error"] = op.error
    return body
