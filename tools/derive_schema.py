"""Derive compute_gallery/schema/galleryrp.json from the official GalleryRP OpenAPI documents.

For each covered api-version the script reads the stored swagger (``../shared/azure-spec`` beside
the repository unless ``--spec-dir`` says otherwise), resolves the six gallery, application and
application-version models into plain trees and records which operations the document declares.

Output layout (keys sorted; one node per line so that a diff shows exactly the trees that changed)::

    {
     "nodes": {"<id>": <node>, ...},
     "versions": {
      "<api-version>": {
       "source": "<swagger path below specification/.../Microsoft.Compute/>",
       "models": {"GalleryApplicationVersion": "<id>", ...},
       "operations": {"galleries": ["DELETE", "GET", "LIST", "PATCH", "PUT"], ...},
       "expand": ["ReplicationStatus", ...]
      }
     }
    }

Trees are deduplicated across api-versions: every node is stored once under an id made of a label
(the definition name, or the JSON type) and the first 10 hex digits of the SHA-256 of its canonical
JSON, and parents refer to children by id. A node is one of

* ``{"type": "object", "properties": [[name, id], ...], "required": [...], "model": name?,
  "additionalProperties": id?, "readOnly": true?}`` -- properties stay a list of pairs because
  the validator checks them in document order (own properties, then inherited ``allOf`` ones);
* ``{"type": "string", "format": ...?, "enum": [...]?, "modelAsString": true?, "readOnly": true?}``;
* ``{"type": "integer", "format": "int32" | "int64"}``, ``{"type": "number"}``,
  ``{"type": "boolean"}``, ``{"type": "array", "items": id}``, each with ``readOnly`` when set.

Descriptions and client-generation hints (``x-ms-client-flatten``, ``x-ms-identifiers``, ...)
are left out: the file holds only what a server needs to validate and shape bodies. ``LIST`` in
``operations`` stands for the collection GET of that resource.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The official documents live outside the repository: beside its clone, or where the
# environment says.
DEFAULT_SPEC_DIR = Path(
    os.environ.get("COMPUTE_GALLERY_SPEC_DIR") or REPO.parent / "shared" / "azure-spec"
)
DEFAULT_OUTPUT = REPO / "compute_gallery" / "schema" / "galleryrp.json"
RP_DIR = Path("specification/compute/resource-manager/Microsoft.Compute")

# Which stored document defines each api-version (API-VERSIONS.md, section 1).
SOURCES: dict[str, str] = {
    **{
        version: f"GalleryRP/stable/{version}/gallery.json"
        for version in (
            "2019-03-01",
            "2019-07-01",
            "2019-12-01",
            "2020-09-30",
            "2021-07-01",
            "2021-10-01",
            "2022-01-03",
            "2022-03-03",
            "2022-08-03",
            "2023-07-03",
            "2024-03-03",
        )
    },
    **{
        version: f"Compute/stable/{version}/GalleryRP.json"
        for version in ("2025-03-03", "2025-12-03", "2026-03-03")
    },
}

MODELS = (
    "Gallery",
    "GalleryUpdate",
    "GalleryApplication",
    "GalleryApplicationUpdate",
    "GalleryApplicationVersion",
    "GalleryApplicationVersionUpdate",
)

_SEGMENT = r"/\{[^/}]+\}"
_PROVIDER = r"/providers/Microsoft\.Compute/galleries"
ITEM_PATHS: dict[str, re.Pattern[str]] = {
    "galleries": re.compile(rf"{_PROVIDER}{_SEGMENT}$"),
    "applications": re.compile(rf"{_PROVIDER}{_SEGMENT}/applications{_SEGMENT}$"),
    "versions": re.compile(rf"{_PROVIDER}{_SEGMENT}/applications{_SEGMENT}/versions{_SEGMENT}$"),
}
COLLECTION_PATHS: dict[str, re.Pattern[str]] = {
    "galleries": re.compile(rf"{_PROVIDER}$"),
    "applications": re.compile(rf"{_PROVIDER}{_SEGMENT}/applications$"),
    "versions": re.compile(rf"{_PROVIDER}{_SEGMENT}/applications{_SEGMENT}/versions$"),
}
METHODS = ("put", "patch", "delete", "get")


class SpecError(Exception):
    """The documents hold a construct this script does not know how to translate."""


class Resolver:
    """Loads swagger files on demand and turns schemas into self-contained trees."""

    def __init__(self) -> None:
        self._documents: dict[Path, dict[str, Any]] = {}
        self._resolving: list[str] = []

    def document(self, path: Path) -> dict[str, Any]:
        path = path.resolve()
        if path not in self._documents:
            self._documents[path] = json.loads(path.read_text(encoding="utf-8"))
        return self._documents[path]

    def lookup(self, ref: str, base: Path) -> tuple[dict[str, Any], Path, str]:
        """The schema a ``$ref`` points at, the file it lives in and its last pointer segment."""
        file_part, _, pointer = ref.partition("#")
        target_file = (base.parent / file_part).resolve() if file_part else base
        node: Any = self.document(target_file)
        for segment in pointer.strip("/").split("/"):
            node = node[segment.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, dict):
            raise SpecError(f"{ref} in {base} does not point at a schema")
        return node, target_file, pointer.rsplit("/", 1)[-1]

    def tree(self, schema: dict[str, Any], base: Path) -> dict[str, Any]:
        """The fully resolved tree of ``schema`` (children inline; ids are assigned later)."""
        read_only = schema.get("readOnly") is True
        if "$ref" in schema:
            # Swagger 2.0 ignores siblings of $ref, but AutoRest and the service honour
            # readOnly next to a reference, so it is carried onto the referenced tree.
            target, target_file, name = self.lookup(schema["$ref"], base)
            key = f"{target_file}#{name}"
            if key in self._resolving:
                raise SpecError(f"recursive schema through {name}")
            self._resolving.append(key)
            node = dict(self.tree(target, target_file))
            self._resolving.pop()
            if node["type"] == "object" and "properties" in node:
                node["model"] = name
            if read_only:
                node["readOnly"] = True
            return node

        kind = schema.get("type")
        if kind is None:
            if "properties" in schema or "allOf" in schema or "additionalProperties" in schema:
                kind = "object"
            elif "enum" in schema:
                kind = "string"
            else:
                raise SpecError(f"schema without a type in {base}: {sorted(schema)}")

        node = self._object(schema, base) if kind == "object" else self._scalar(kind, schema, base)
        if read_only:
            node["readOnly"] = True
        return node

    def _object(self, schema: dict[str, Any], base: Path) -> dict[str, Any]:
        properties = {
            name: self.tree(child, base) for name, child in schema.get("properties", {}).items()
        }
        required = list(schema.get("required", []))
        # Inherited (allOf) properties follow the model's own, the order in which the service
        # writes them (publishingProfile answers source, manageActions, ... targetRegions).
        for part in schema.get("allOf", []):
            merged = self.tree(part, base)
            if merged["type"] != "object":
                raise SpecError(f"allOf of a non-object in {base}")
            for name, child in merged.get("properties", {}).items():
                properties.setdefault(name, child)
            required.extend(name for name in merged.get("required", []) if name not in required)

        node: dict[str, Any] = {"type": "object"}
        if properties:
            node["properties"] = properties
            node["required"] = [name for name in required if name in properties]
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            node["additionalProperties"] = self.tree(extra, base)
        elif extra not in (None, False):
            raise SpecError(f"additionalProperties {extra!r} in {base}")
        if ("properties" in node) == ("additionalProperties" in node):
            # The validator knows models and maps; a free-form object or a model with extra
            # keys would need a third kind of node.
            raise SpecError(f"object that is neither a model nor a map in {base}")
        return node

    def _scalar(self, kind: str, schema: dict[str, Any], base: Path) -> dict[str, Any]:
        node: dict[str, Any] = {"type": kind}
        if kind == "array":
            node["items"] = self.tree(schema["items"], base)
        elif kind == "integer":
            node["format"] = schema.get("format", "int32")
        elif kind == "string":
            if "format" in schema:
                node["format"] = schema["format"]
            if "enum" in schema:
                node["enum"] = list(schema["enum"])
                if schema.get("x-ms-enum", {}).get("modelAsString") is True:
                    node["modelAsString"] = True
        elif kind not in ("number", "boolean"):
            raise SpecError(f"unknown type {kind!r} in {base}")
        return node


class NodeTable:
    """Interns trees bottom-up so that identical subtrees share one id."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}

    def intern(self, tree: dict[str, Any]) -> str:
        node = dict(tree)
        node.pop("properties", None)
        if "properties" in tree:
            node["properties"] = [
                [name, self.intern(child)] for name, child in tree["properties"].items()
            ]
        if "items" in tree:
            node["items"] = self.intern(tree["items"])
        if "additionalProperties" in tree:
            node["additionalProperties"] = self.intern(tree["additionalProperties"])

        canonical = json.dumps(node, sort_keys=True, separators=(",", ":"))
        label = node.get("model") or node["type"]
        node_id = f"{label}.{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"
        if node_id in self.nodes and self.nodes[node_id] != node:
            raise SpecError(f"id collision on {node_id}")
        self.nodes[node_id] = node
        return node_id


def operations(document: dict[str, Any]) -> dict[str, list[str]]:
    """The methods declared on each resource's item path, plus LIST for its collection GET."""
    found: dict[str, set[str]] = {resource: set() for resource in ITEM_PATHS}
    for path, item in document["paths"].items():
        for resource, pattern in ITEM_PATHS.items():
            if pattern.search(path):
                found[resource].update(method.upper() for method in METHODS if method in item)
        for resource, pattern in COLLECTION_PATHS.items():
            if pattern.search(path) and "get" in item:
                found[resource].add("LIST")
    return {resource: sorted(methods) for resource, methods in found.items()}


def expand_values(resolver: Resolver, document: dict[str, Any], source: Path) -> list[str]:
    """Allowed ``$expand`` values of the application-version GET."""
    for path, item in document["paths"].items():
        if not ITEM_PATHS["versions"].search(path) or "get" not in item:
            continue
        parameters = [*item.get("parameters", []), *item["get"].get("parameters", [])]
        for parameter in parameters:
            if "$ref" in parameter:
                parameter, _, _ = resolver.lookup(parameter["$ref"], source)
            if parameter.get("name") == "$expand":
                return list(parameter.get("enum", []))
    return []


def derive(spec_dir: Path) -> dict[str, Any]:
    """The whole output document, as a JSON-ready dict."""
    resolver = Resolver()
    table = NodeTable()
    versions: dict[str, Any] = {}
    for version, relative in SOURCES.items():
        source = (spec_dir / RP_DIR / relative).resolve()
        document = resolver.document(source)
        definitions = document["definitions"]
        models = {
            model: table.intern(resolver.tree({"$ref": f"#/definitions/{model}"}, source))
            for model in MODELS
            if model in definitions
        }
        versions[version] = {
            "source": relative,
            "models": models,
            "operations": operations(document),
            "expand": expand_values(resolver, document, source),
        }
    return {"nodes": table.nodes, "versions": versions}


def render(data: dict[str, Any]) -> str:
    """Serialise deterministically: sorted keys, one node per line."""
    node_lines = [
        f"  {json.dumps(node_id)}: {json.dumps(node, sort_keys=True, separators=(',', ':'))}"
        for node_id, node in sorted(data["nodes"].items())
    ]
    versions = json.dumps(data["versions"], indent=1, sort_keys=True).replace("\n", "\n ")
    return '{\n "nodes": {\n' + ",\n".join(node_lines) + '\n },\n "versions": ' + versions + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Derive galleryrp.json from the GalleryRP swagger."
    )
    parser.add_argument("--spec-dir", type=Path, default=DEFAULT_SPEC_DIR)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the output file is not up to date"
    )
    args = parser.parse_args(argv)

    if not (args.spec_dir / RP_DIR).is_dir():
        print(
            f"derive_schema: the official OpenAPI documents are not in {args.spec_dir}; "
            "put shared/azure-spec beside this repository's clone, or name their folder "
            "with --spec-dir or COMPUTE_GALLERY_SPEC_DIR",
            file=sys.stderr,
        )
        return 2
    text = render(derive(args.spec_dir))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run tools/derive_schema.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
