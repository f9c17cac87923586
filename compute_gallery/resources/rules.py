"""Service rules Compute applies beyond the schema, each raising Azure's error for it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .. import clock
from ..arm import errors

MAX_COMMAND = 4096
MIN_REPLICAS = 1
MAX_REPLICAS = 3


def end_of_life(value: str | None, before: str | None, target: str) -> None:
    """``endOfLifeDate`` must lie in the future when it is set or changed.

    An unchanged date that has since passed is accepted, so that a client can send back
    what it read (GET, modify, PUT) without tripping over it.
    """
    if value is None or value == before:
        return
    if clock.parse(value).timestamp() <= clock.time():
        raise errors.InvalidParameter("EndOfLifeDate must be set to a future date.", target=target)


def max_length(value: str | None, target: str, limit: int = MAX_COMMAND) -> None:
    """A command or file name longer than the documented limit."""
    if value is not None and len(value) > limit:
        raise errors.InvalidParameter(
            f"The value of parameter '{target}' is too long: it has {len(value)} characters "
            f"and at most {limit} are allowed.",
            target=target,
        )


def replica_count(value: int | None, target: str) -> None:
    if value is not None and not MIN_REPLICAS <= value <= MAX_REPLICAS:
        raise errors.out_of_range(value, target, MIN_REPLICAS, MAX_REPLICAS)


def absolute_uri(value: str | None, target: str, *, files: bool = False) -> None:
    """Source links must be absolute http(s) URLs (Compute's text for the relative case).

    With ``files`` (an operator's choice, not Azure's), ``file:`` URLs of absolute paths too.
    """
    if value is None:
        return
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is not None and files and parts.scheme.lower() == "file":
        if parts.path.startswith("/") and parts.netloc in ("", "localhost"):
            return
    elif parts is not None and parts.scheme.lower() in ("http", "https") and parts.netloc:
        return
    raise errors.InvalidParameter(f"Source uri: '{value}' must be an absolute uri.", target=target)


def same_source(before: str | None, after: str | None) -> bool:
    """Whether two source links name the same blob: only the query (the SAS) may differ."""
    if before == after or before is None or after is None:
        return before == after
    old, new = urlsplit(before), urlsplit(after)
    return (old.scheme.lower(), old.netloc.lower(), old.path) == (
        new.scheme.lower(),
        new.netloc.lower(),
        new.path,
    )


def custom_actions(actions: list[dict[str, Any]] | None, target: str) -> None:
    """Custom action names are unique in the list, and parameter names within an action."""
    if not actions:
        return
    _unique([action["name"] for action in actions], target, "custom action")
    for index, action in enumerate(actions):
        names = [parameter["name"] for parameter in action.get("parameters") or []]
        _unique(names, f"{target}[{index}].parameters", "custom action parameter")


def _unique(names: list[str], target: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        folded = name.lower()
        if folded in seen:
            raise errors.InvalidParameter(
                f"The {what} name '{name}' is used more than once in '{target}'. "
                f"Each {what} must have a unique name.",
                target=target,
            )
        seen.add(folded)
