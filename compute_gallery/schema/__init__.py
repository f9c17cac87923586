"""The GalleryRP request and response schemas of every supported api-version.

The data comes from ``galleryrp.json``, generated from Microsoft's OpenAPI documents by
``tools/derive_schema.py``; it is read and compiled once, at import. Models are named as in the
documents (``GalleryApplicationVersion``, ``GalleryApplicationVersionUpdate``, ...) and resources
as in the URL (``galleries``, ``applications``, ``versions``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from compute_gallery.arm.errors import required_parameter_missing
from compute_gallery.schema._nodes import ObjectNode, Run, compile_nodes

__all__ = [
    "API_VERSIONS",
    "expand_values",
    "has_model",
    "keep_hidden",
    "operation_exists",
    "shape",
    "validate",
]


def _load() -> tuple[dict[tuple[str, str], ObjectNode], dict[str, dict[str, Any]]]:
    with open(os.path.join(os.path.dirname(__file__), "galleryrp.json"), encoding="utf-8") as file:
        data = json.load(file)
    nodes = compile_nodes(data["nodes"])
    models: dict[tuple[str, str], ObjectNode] = {}
    for version, entry in data["versions"].items():
        for model, node_id in entry["models"].items():
            node = nodes[node_id]
            if not isinstance(node, ObjectNode):
                raise TypeError(f"{model} of {version} is not an object schema")
            models[version, model] = node
    return models, data["versions"]


_MODELS, _VERSIONS = _load()

# ARM answers a missing location itself (LocationRequired), before the provider sees the body.
_REQUEST_ROOTS = {key: node.relaxed({"location"}) for key, node in _MODELS.items()}
_OPERATIONS = {
    version: {resource: frozenset(methods) for resource, methods in entry["operations"].items()}
    for version, entry in _VERSIONS.items()
}
_EXPAND = {version: tuple(entry["expand"]) for version, entry in _VERSIONS.items()}

API_VERSIONS: tuple[str, ...] = tuple(sorted(_VERSIONS))


def has_model(api_version: str, model: str) -> bool:
    """Whether ``api_version``'s document defines ``model`` (no *Update models in 2019-03-01)."""
    return (api_version, model) in _MODELS


def _root(table: dict[tuple[str, str], ObjectNode], api_version: str, model: str) -> ObjectNode:
    try:
        return table[api_version, model]
    except KeyError:
        raise ValueError(f"api-version {api_version!r} defines no model {model!r}") from None


def validate(
    body: object, api_version: str, model: str, root: str, *, partial: bool = False
) -> dict[str, Any]:
    """A cleaned copy of request ``body``, or the ArmError Compute answers for it.

    Unknown and read-only properties are dropped, property names matched ignoring case (as
    JSON.NET does), enum values answered in the schema's casing and date-times normalised to
    UTC (``2019-07-01T07:00:00+00:00``); null values are treated as absent. ``root`` prefixes
    error targets (``galleryApplicationVersion.properties...``). With ``partial`` (PATCH),
    objects merge into the stored resource, so ``required`` is enforced only inside array
    items, which replace whole. ``location`` is never required here: ARM checks it first.
    """
    node = _root(_REQUEST_ROOTS, api_version, model)
    if body is None:
        raise required_parameter_missing(root)
    run = Run(root)
    cleaned: dict[str, Any] = node.clean(body, "", run, not partial)
    if run.invalid is not None:
        raise run.invalid
    return cleaned


def shape(resource: dict[str, Any], api_version: str, model: str) -> dict[str, Any]:
    """A copy of stored ``resource`` holding only what ``api_version`` knows (read-only kept)."""
    shaped: dict[str, Any] = _root(_MODELS, api_version, model).shape(resource)
    return shaped


def keep_hidden(old: dict[str, Any], new: dict[str, Any], api_version: str, model: str) -> None:
    """Move into ``new`` (a body in ``api_version``) what ``old`` holds that the version lacks.

    The same as adding to ``new`` every member of ``old`` that ``shape(old, ...)`` would
    drop, found without building that shape. The values are not copied: ``new`` shares them
    with ``old``.
    """
    _root(_MODELS, api_version, model).keep_hidden(old, new)


def operation_exists(api_version: str, resource: str, method: str) -> bool:
    """Whether ``api_version`` declares ``method`` on ``resource``.

    ``method`` is PUT, PATCH, DELETE, GET or LIST (the collection GET); ``resource`` is
    ``galleries``, ``applications`` or ``versions``.
    """
    return method.upper() in _OPERATIONS.get(api_version, {}).get(resource, frozenset())


def expand_values(api_version: str) -> tuple[str, ...]:
    """The allowed ``$expand`` values of the application-version GET in ``api_version``."""
    return _EXPAND.get(api_version, ())
