"""fal's published input schema of one endpoint, read from its queue OpenAPI document into plain data.

fal publishes one OpenAPI 3.0 document per endpoint (public, no key) at
``https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=<id>``. ``info["x-fal-metadata"]["endpointId"]``
names the endpoint; the submit operation (``paths["/<id>"].post``) references the input schema
``components.schemas.<Name>Input``, whose ``properties``, ``required`` and ``x-fal-order-properties``
describe the fields. A field comes in one of several shapes (pydantic v1 and v2 output): a plain
``type``; ``allOf: [{"$ref": ...}]`` around a shared enum schema; ``anyOf`` with a ``{"type": "null"}``
branch for an optional value; ``nullable: true``; a ``type`` list. All of them are read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


MISSING: Any = _Missing()  # a field without a default

_REF_PREFIX = "#/components/schemas/"
_MAX_DEPTH = 16  # $ref chains deeper than this are treated as unreadable (and cycles end here)


class SchemaFormatError(ValueError):
    """The document has no input schema in any shape this module reads."""


@dataclass(frozen=True)
class FalField:
    """One input field as fal states it. ``types`` are JSON types other than null (empty: not stated)."""

    name: str
    types: frozenset[str] = frozenset()
    nullable: bool = False
    enum: tuple | None = None
    default: Any = MISSING
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None


@dataclass(frozen=True)
class FalInputSchema:
    """The input schema: ``fields`` in fal's display order, ``required`` field names."""

    endpoint_id: str | None  # info["x-fal-metadata"]["endpointId"], None when absent
    name: str  # the key under components.schemas
    fields: tuple[FalField, ...] = ()
    required: frozenset[str] = field(default_factory=frozenset)

    def get(self, name: str) -> FalField | None:
        return next((f for f in self.fields if f.name == name), None)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


class _Resolver:
    def __init__(self, components: Mapping[str, Any]) -> None:
        self.components = components

    def lookup(self, ref: Any) -> dict:
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            return _dict(self.components.get(ref[len(_REF_PREFIX) :]))
        return {}

    def flatten(self, node: Any, depth: int = 0) -> dict:
        """``node`` with its ``$ref`` and ``allOf`` parts merged in (its own keys win, as in pydantic v1's
        ``{"allOf": [{"$ref": "...Enum"}], "default": ...}``). ``anyOf``/``oneOf`` stay for the caller."""
        node = _dict(node)
        if depth > _MAX_DEPTH:
            return {}
        merged: dict = {}
        if "$ref" in node:
            merged.update(self.flatten(self.lookup(node["$ref"]), depth + 1))
        for part in node.get("allOf") or ():
            merged.update(self.flatten(part, depth + 1))
        merged.update({k: v for k, v in node.items() if k not in ("$ref", "allOf")})
        return merged


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _read_field(name: str, raw: Any, resolver: _Resolver) -> FalField:
    top = resolver.flatten(raw)
    branches = [resolver.flatten(b) for b in (top.get("anyOf") or top.get("oneOf") or ())] or [top]
    types: set[str] = set()
    nullable = top.get("nullable") is True
    enum: list | None = None
    bounds: dict[str, float] = {}
    for part in (top, *branches):
        stated = part.get("type")
        for json_type in stated if isinstance(stated, list) else [stated] if isinstance(stated, str) else []:
            if json_type == "null":
                nullable = True
            else:
                types.add(json_type)
        nullable = nullable or part.get("nullable") is True
        values = part.get("enum") if isinstance(part.get("enum"), list) else None
        if "const" in part:
            values = [part["const"]]
        if values is not None:
            nullable = nullable or None in values
            enum = (enum or []) + [v for v in values if v is not None and v not in (enum or [])]
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            number = _number(part.get(key))
            if number is not None and key not in bounds:
                bounds[key] = number
        # OpenAPI 3.0 style: boolean exclusiveMinimum/exclusiveMaximum qualify minimum/maximum
        for flag, key in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if part.get(flag) is True and key in bounds:
                bounds[flag] = bounds.pop(key)
    if not types and enum and all(isinstance(v, str) for v in enum):
        types.add("string")
    default = top["default"] if "default" in top else MISSING
    return FalField(
        name=name,
        types=frozenset(types),
        nullable=nullable,
        enum=tuple(enum) if enum is not None else None,
        default=default,
        minimum=bounds.get("minimum"),
        maximum=bounds.get("maximum"),
        exclusive_minimum=bounds.get("exclusiveMinimum"),
        exclusive_maximum=bounds.get("exclusiveMaximum"),
    )


def _submit_schema(document: dict, endpoint_id: str) -> Any:
    """The request body schema of the submit operation (``POST /<id>``), or None."""
    paths = _dict(document.get("paths"))
    ordered = [f"/{endpoint_id}"] + [p for p in paths if p != f"/{endpoint_id}"]
    for path in ordered:
        if "/requests/" in path or path not in paths:
            continue
        post = _dict(_dict(paths[path]).get("post"))
        content = _dict(_dict(post.get("requestBody")).get("content"))
        body = _dict(content.get("application/json")).get("schema")
        if body:
            return body
    return None


def _input_name(components: Mapping[str, Any], endpoint_id: str) -> str | None:
    """Fallback when no submit operation is described: the only ``*Input`` schema, or fal's name for it."""
    names = [n for n in components if isinstance(n, str) and n.endswith("Input")]
    if len(names) == 1:
        return names[0]
    owner, _, rest = endpoint_id.partition("/")
    words = rest.replace("/", "-").replace("_", "-").replace(".", "-").split("-")
    wanted = "".join(w[:1].upper() + w[1:] for w in words) + "Input"
    return wanted if wanted in names else None


def parse_openapi(document: Any, endpoint_id: str) -> FalInputSchema:
    """Read ``endpoint_id``'s input schema from its OpenAPI document (raises :class:`SchemaFormatError`)."""
    document = _dict(document)
    components = _dict(_dict(document.get("components")).get("schemas"))
    resolver = _Resolver(components)
    body = _submit_schema(document, endpoint_id)
    name = None
    if isinstance(body, dict) and isinstance(body.get("$ref"), str):
        name = body["$ref"].rsplit("/", 1)[-1]
    elif body is None:
        name = _input_name(components, endpoint_id)
        body = {"$ref": _REF_PREFIX + name} if name else None
    schema = resolver.flatten(body) if body is not None else {}
    properties = _dict(schema.get("properties"))
    if not properties:
        raise SchemaFormatError(
            "no input schema with properties (looked for the submit operation's request body and "
            "components.schemas.*Input)"
        )
    order = [n for n in schema.get("x-fal-order-properties") or () if n in properties]
    order += [n for n in properties if n not in order]
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    metadata = _dict(_dict(document.get("info")).get("x-fal-metadata"))
    stated_id = metadata.get("endpointId")
    return FalInputSchema(
        endpoint_id=stated_id if isinstance(stated_id, str) else None,
        name=name or str(schema.get("title") or "input"),
        fields=tuple(_read_field(n, properties[n], resolver) for n in order),
        required=frozenset(r for r in required if isinstance(r, str)),
    )
