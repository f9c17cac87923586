"""What a handler receives (``ArmRequest``) and returns (``Reply``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from . import errors


@dataclass(slots=True)
class ArmRequest:
    """One ARM request after routing: names from the path, query, headers and raw body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    api_version: str = ""
    # The principal a validated token names (identity.tokens.Caller); None when unchecked.
    caller: Any = None

    def json(self) -> Any:
        """The body as JSON, or ARM's InvalidRequestContent."""
        if not self.body.strip():
            raise errors.content_not_deserializable("The request body is empty.")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as error:
            raise errors.content_not_deserializable(
                f"Unexpected character encountered while parsing value: {error.msg}. "
                f"Path '', line {error.lineno}, position {error.colno}."
            ) from None

    def flag(self, name: str) -> str | None:
        """A query parameter by its name, compared case-insensitively (``$expand``...)."""
        return self.query.get(name.lower())


@dataclass(slots=True)
class Reply:
    """A handler's answer: status, an optional JSON body and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
