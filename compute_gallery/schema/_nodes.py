"""Compiled schema nodes: request bodies checked as Compute checks them, responses shaped."""

from __future__ import annotations

import re
from typing import Any

from compute_gallery.arm.errors import (
    ArmError,
    content_not_deserializable,
    required_parameter_missing,
    value_not_allowed,
)
from compute_gallery.schema._datetime import normalise_date_time

# Error messages quote client values; a megabyte string must not come back verbatim.
_MAX_QUOTE = 64
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$-]+")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_QUOTE else text[: _MAX_QUOTE - 3] + "..."


def _token(value: object) -> str:
    """The JSON.NET token name of a parsed JSON value."""
    if isinstance(value, dict):
        return "StartObject"
    if isinstance(value, list):
        return "StartArray"
    if isinstance(value, str):
        return "String"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    return "Null"


def _literal(value: object) -> str:
    """A scalar JSON value as JSON.NET prints it in a conversion error."""
    if isinstance(value, str):
        return f'"{_clip(value)}"'
    if isinstance(value, bool):
        return "True" if value else "False"
    return _clip(repr(value))


def _unreadable(message: str, path: str) -> ArmError:
    return content_not_deserializable(f"{message} Path '{path}'")


def _member(path: str, key: str) -> str:
    """The JSON.NET path of a map entry (keys with punctuation are bracketed)."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    quoted = _clip(key).replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{quoted}']"


class Run:
    """One validation: the root name for error targets and the first deferred error.

    JSON.NET fails on the first value it cannot convert, before the service validates
    anything, so conversion errors are raised at once while the first missing or disallowed
    value is only remembered; it is raised when the whole body has been read.
    """

    __slots__ = ("invalid", "root")

    def __init__(self, root: str) -> None:
        self.root = root
        self.invalid: ArmError | None = None

    def _target(self, path: str) -> str:
        return f"{self.root}.{path}" if path else self.root

    def missing(self, path: str) -> None:
        if self.invalid is None:
            self.invalid = required_parameter_missing(self._target(path))

    def not_allowed(self, value: str, path: str, allowed: list[str]) -> None:
        if self.invalid is None:
            self.invalid = value_not_allowed(_clip(value), self._target(path), allowed)


class Node:
    """A compiled schema node; subclasses know one JSON type."""

    __slots__ = ("read_only",)
    scalar = True
    clr = "System.Object"

    def __init__(self, read_only: bool) -> None:
        self.read_only = read_only

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        """``value`` converted and validated; ``complete`` says whether required is enforced."""
        raise NotImplementedError

    def shape(self, value: Any) -> Any:
        """A copy of stored ``value`` without the properties this node does not know."""
        return value

    def keep_hidden(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Add to ``new`` the members of ``old`` that ``shape`` would drop, at any depth."""


class StringNode(Node):
    """A plain JSON string (``uri`` and ``arm-id`` formats are not checked by the service)."""

    __slots__ = ()
    clr = "System.String"

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is str:
            return value
        raise _unreadable(f"Error reading string. Unexpected token: {_token(value)}.", path)


class EnumNode(Node):
    """A string enum; matched ignoring case and answered in the schema's casing.

    Extensible (``modelAsString``) enums are closed too: the service reads them into .NET enums.
    """

    __slots__ = ("allowed", "folded")
    clr = "System.String"

    def __init__(self, values: list[str], read_only: bool) -> None:
        super().__init__(read_only)
        self.allowed = values
        self.folded = {value.lower(): value for value in values}

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is not str:
            raise _unreadable(f"Error reading string. Unexpected token: {_token(value)}.", path)
        canonical = self.folded.get(value.lower())
        if canonical is None:
            run.not_allowed(value, path, self.allowed)
            return value
        return canonical


class DateTimeNode(Node):
    """An ISO 8601 date-time string, answered in UTC."""

    __slots__ = ()
    clr = "System.DateTime"

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is not str:
            raise _unreadable(f"Error reading date. Unexpected token: {_token(value)}.", path)
        normalised = normalise_date_time(value)
        if normalised is None:
            raise _unreadable(f"Could not convert string to DateTime: {_clip(value)}.", path)
        return normalised


class IntegerNode(Node):
    """A JSON integer that must fit a .NET Int32 or Int64."""

    __slots__ = ("clr", "high", "low", "width")

    def __init__(self, bits: int, read_only: bool) -> None:
        super().__init__(read_only)
        self.width = f"Int{bits}"
        self.clr = f"System.{self.width}"
        self.low = -(2 ** (bits - 1))
        self.high = 2 ** (bits - 1) - 1

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is int:
            if self.low <= value <= self.high:
                return value
            too_big = f"JSON integer {_clip(str(value))} is too large or small for an {self.width}."
            raise _unreadable(too_big, path)
        if type(value) is float:
            raise _unreadable(f"Input string '{_literal(value)}' is not a valid integer.", path)
        if type(value) is str:
            raise _unreadable(
                f"Error converting value {_literal(value)} to type '{self.clr}'.", path
            )
        raise _unreadable(f"Error reading integer. Unexpected token: {_token(value)}.", path)


class NumberNode(Node):
    """A JSON number of any kind (read into a .NET double)."""

    __slots__ = ()
    clr = "System.Double"

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is int or type(value) is float:
            return value
        if type(value) is str:
            raise _unreadable(
                f"Error converting value {_literal(value)} to type '{self.clr}'.", path
            )
        raise _unreadable(f"Error reading double. Unexpected token: {_token(value)}.", path)


class BooleanNode(Node):
    """A JSON ``true`` or ``false``; the strings "true" and "false" are not accepted."""

    __slots__ = ()
    clr = "System.Boolean"

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is bool:
            return value
        if type(value) is str:
            raise _unreadable(
                f"Error converting value {_literal(value)} to type '{self.clr}'.", path
            )
        raise _unreadable(f"Error reading boolean. Unexpected token: {_token(value)}.", path)


def _not_an_object(value: object, path: str, clr: str) -> ArmError:
    if isinstance(value, list):
        return _unreadable(
            f"Cannot deserialize the current JSON array (e.g. [1,2,3]) into type '{clr}' "
            'because the type requires a JSON object (e.g. {"name":"value"}) to deserialize '
            "correctly.",
            path,
        )
    return _unreadable(f"Error converting value {_literal(value)} to type '{clr}'.", path)


class ArrayNode(Node):
    """A JSON array; replaced whole on update, so its items are always checked complete."""

    __slots__ = ("clr", "items")
    scalar = False

    def __init__(self, items: Node, read_only: bool) -> None:
        super().__init__(read_only)
        self.items = items
        self.clr = f"System.Collections.Generic.List`1[{items.clr}]"

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is not list:
            if isinstance(value, dict):
                raise _unreadable(
                    'Cannot deserialize the current JSON object (e.g. {"name":"value"}) into '
                    f"type '{self.clr}' because the type requires a JSON array (e.g. [1,2,3]) "
                    "to deserialize correctly.",
                    path,
                )
            raise _unreadable(
                f"Error converting value {_literal(value)} to type '{self.clr}'.", path
            )
        items = self.items
        # Null entries carry nothing; they are dropped rather than stored.
        return [
            items.clean(item, f"{path}[{index}]", run, True)
            for index, item in enumerate(value)
            if item is not None
        ]

    def shape(self, value: Any) -> Any:
        if type(value) is not list:
            return value
        if self.items.scalar:
            return list(value)
        return [self.items.shape(item) for item in value]


class MapNode(Node):
    """A JSON object with free keys (``tags``, ``advancedSettings``, ...)."""

    __slots__ = ("clr", "values")
    scalar = False

    def __init__(self, values: Node, read_only: bool) -> None:
        super().__init__(read_only)
        self.values = values
        self.clr = f"System.Collections.Generic.Dictionary`2[System.String,{values.clr}]"

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is not dict:
            raise _not_an_object(value, path, self.clr)
        values = self.values
        return {
            key: values.clean(item, _member(path, key), run, True)
            for key, item in value.items()
            if item is not None
        }

    def keep_hidden(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if self.values.scalar:
            return
        for key, item in old.items():
            target = new.get(key)
            if type(item) is dict and type(target) is dict:
                self.values.keep_hidden(item, target)

    def shape(self, value: Any) -> Any:
        if type(value) is not dict:
            return value
        if self.values.scalar:
            return dict(value)
        return {key: self.values.shape(item) for key, item in value.items()}


class ObjectNode(Node):
    """A model with named properties, checked in the schema's document order."""

    __slots__ = ("clr", "folded", "known", "nested", "scalars", "writable")
    scalar = False

    def __init__(
        self,
        model: str | None,
        properties: list[tuple[str, Node]],
        required: set[str],
        read_only: bool,
    ) -> None:
        super().__init__(read_only)
        self.clr = model or "System.Object"
        self.known = dict(properties)
        self.folded = {name.lower(): name for name, _ in properties}
        # Read-only properties are what GET returns; a client echoing them back is tolerated,
        # so they are neither checked nor kept.
        self.writable = tuple(
            (name, node, name in required) for name, node in properties if not node.read_only
        )
        self.scalars = frozenset(name for name, node in properties if node.scalar)
        self.nested = {name: node for name, node in properties if not node.scalar}

    def relaxed(self, names: set[str]) -> ObjectNode:
        """A copy that no longer requires ``names`` (checked by the caller instead)."""
        copy = ObjectNode.__new__(ObjectNode)
        copy.read_only = self.read_only
        copy.clr = self.clr
        copy.known = self.known
        copy.folded = self.folded
        copy.scalars = self.scalars
        copy.nested = self.nested
        copy.writable = tuple(
            (name, node, required and name not in names) for name, node, required in self.writable
        )
        return copy

    def _matched(self, value: dict[str, Any]) -> dict[str, Any]:
        """``value`` keyed by schema names: JSON.NET falls back to a case-insensitive match."""
        matched: dict[str, Any] = {}
        for key, item in value.items():
            if key in self.known:
                matched[key] = item
                continue
            name = self.folded.get(key.lower())
            if name is not None and name not in value and name not in matched:
                matched[name] = item
        return matched

    def clean(self, value: object, path: str, run: Run, complete: bool) -> Any:
        if type(value) is not dict:
            raise _not_an_object(value, path, self.clr)
        if not value.keys() <= self.known.keys():
            value = self._matched(value)

        prefix = f"{path}." if path else ""
        cleaned: dict[str, Any] = {}
        for name, node, required in self.writable:
            item = value.get(name)
            if item is None:
                if required and complete:
                    run.missing(prefix + name)
                continue
            cleaned[name] = node.clean(item, prefix + name, run, complete)
        return cleaned

    def keep_hidden(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for key, item in old.items():
            if key in self.scalars:
                continue
            node = self.nested.get(key)
            if node is None:
                new.setdefault(key, item)
            elif type(item) is dict:
                target = new.get(key)
                if type(target) is dict:
                    node.keep_hidden(item, target)

    def shape(self, value: Any) -> Any:
        if type(value) is not dict:
            return value
        scalars = self.scalars
        nested = self.nested
        shaped: dict[str, Any] = {}
        for key, item in value.items():
            if key in scalars:
                shaped[key] = item
            else:
                node = nested.get(key)
                if node is not None:
                    shaped[key] = node.shape(item)
        return shaped


def compile_nodes(raw: dict[str, dict[str, Any]]) -> dict[str, Node]:
    """Turn the ``nodes`` table of galleryrp.json into shared node objects, one per id."""
    compiled: dict[str, Node] = {}

    def build(node_id: str) -> Node:
        if node_id in compiled:
            return compiled[node_id]
        spec = raw[node_id]
        kind = spec["type"]
        read_only = bool(spec.get("readOnly", False))
        node: Node
        if kind == "object" and "properties" in spec:
            properties = [(name, build(child)) for name, child in spec["properties"]]
            node = ObjectNode(spec.get("model"), properties, set(spec["required"]), read_only)
        elif kind == "object":
            node = MapNode(build(spec["additionalProperties"]), read_only)
        elif kind == "array":
            node = ArrayNode(build(spec["items"]), read_only)
        elif kind == "string" and "enum" in spec:
            node = EnumNode(spec["enum"], read_only)
        elif kind == "string" and spec.get("format") == "date-time":
            node = DateTimeNode(read_only)
        elif kind == "string":
            node = StringNode(read_only)
        elif kind == "integer":
            node = IntegerNode(64 if spec["format"] == "int64" else 32, read_only)
        elif kind == "number":
            node = NumberNode(read_only)
        elif kind == "boolean":
            node = BooleanNode(read_only)
        else:
            raise ValueError(f"unknown schema node type {kind!r} in {node_id}")
        compiled[node_id] = node
        return node

    for node_id in raw:
        build(node_id)
    return compiled
