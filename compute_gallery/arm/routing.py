"""Case-insensitive ARM routing: fixed path segments match in any case, names keep theirs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from . import errors
from .request import ArmRequest, Reply

if TYPE_CHECKING:
    from ..service import Service

Handler = Callable[["Service", ArmRequest], Awaitable[Reply]]
Provider = Literal["Microsoft.Resources", "Microsoft.Compute"]


@dataclass(slots=True)
class Route:
    """A path template such as ``/subscriptions/{subscriptionId}/resourcegroups/{rg}``."""

    template: str
    provider: Provider
    # The resource type as ARM's api-version errors name it, e.g. "galleries/applications".
    type_name: str
    methods: dict[str, Handler] = field(default_factory=dict)
    segments: tuple[str, ...] = ()
    # The api-versions the route accepts, when not its provider's usual ones.
    api_versions: tuple[str, ...] | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.segments = tuple(part.lower() for part in self.template.strip("/").split("/"))
        # Fixed segments in any case, each {name} one non-empty segment, the parameter names
        # lower-cased; slashes around the whole path are ignored.
        body = "/".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in self.segments
        )
        self.pattern = re.compile(f"/*{body}/*", re.IGNORECASE)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


# Paths whose route the router remembers; clients send the same few paths again and again
# (polling, replacing), so the cache starts over when full rather than tracking use.
_REMEMBERED_PATHS = 4096


class Router:
    """Finds the route for a path, and the handler for a method."""

    def __init__(self, routes: list[Route]) -> None:
        self._by_length: dict[int, list[Route]] = {}
        for route in routes:
            self._by_length.setdefault(len(route.segments), []).append(route)
        self._found: dict[str, tuple[Route, dict[str, str]]] = {}

    def resolve(self, method: str, path: str) -> tuple[Route, Handler, dict[str, str]]:
        found = self._found.get(path)
        if found is None:
            found = self._match(path)
            if len(self._found) >= _REMEMBERED_PATHS:
                self._found.clear()
            self._found[path] = found
        route, params = found
        # HEAD on a resource group is its own operation ("check existence").
        handler = route.methods.get(method)
        if handler is None:
            raise errors.MethodNotAllowed(
                f"The requested resource does not support http method '{method}'."
            )
        return route, handler, dict(params)

    def _match(self, path: str) -> tuple[Route, dict[str, str]]:
        for route in self._by_length.get(path.strip("/").count("/") + 1, ()):
            params = route.match(path)
            if params is not None:
                return route, params
        raise errors.ArmError(
            f"No HTTP resource was found that matches the request URI '{path}'.",
            code="NotFound",
            status=404,
        )
