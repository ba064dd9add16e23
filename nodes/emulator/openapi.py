"""The per-endpoint queue OpenAPI document fal publishes at ``/api/openapi/queue/openapi.json?endpoint_id=``,
built from the emulator's own input schemas and output fields.

Same layout as fal's (OpenAPI 3.0.4): ``info["x-fal-metadata"]`` with ``endpointId``, ``category`` and the
model page URLs; ``components.schemas`` with ``QueueStatus``, ``<Name>Input`` (``properties``, ``required``,
``x-fal-order-properties``; ``additionalProperties: false`` when strict), ``<Name>Output`` and ``File`` (and
``VideoFile`` where the output's video carries fps and size); ``paths`` for submit, status, cancel and
result; ``servers`` and the ``Authorization`` API-key scheme. Optional nullable fields are written the way
pydantic v2 writes them (``anyOf`` with a ``{"type": "null"}`` branch).
"""

from __future__ import annotations

from typing import Any

from .models import BY_ID
from .schemas import Field, Schema

_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "literal": "string",
    "bool": "boolean",
    "object": "object",
}


def schema_name(endpoint_id: str) -> str:
    """fal's naming: the id without its owner, in PascalCase (``fal-ai/infinitalk/single-text`` →
    ``InfinitalkSingleText``)."""
    words = endpoint_id.replace("/", "-").replace(".", "-").replace("_", "-").split("-")
    owner_words = len(endpoint_id.split("/", 1)[0].split("-"))
    return "".join(word[:1].upper() + word[1:] for word in words[owner_words:] if word)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _property(f: Field) -> dict[str, Any]:
    body: dict[str, Any] = {"type": _TYPES[f.kind]}
    if f.choices:
        body["enum"] = list(f.choices)
    if f.ge is not None:
        body["minimum"] = _number(f.ge)
    if f.le is not None:
        body["maximum"] = _number(f.le)
    if f.min_length is not None:
        body["minLength"] = f.min_length
    if f.max_length is not None:
        body["maxLength"] = f.max_length
    prop: dict[str, Any] = {"anyOf": [body, {"type": "null"}]} if f.nullable else body
    prop["title"] = f.name.replace("_", " ").title()
    if not f.required and f.default is not None:
        prop["default"] = f.default
    return prop


def _input_schema(name: str, schema: Schema) -> dict[str, Any]:
    document = {
        "title": f"{name}Request",
        "type": "object",
        "properties": {f.name: _property(f) for f in schema.fields},
        "x-fal-order-properties": [f.name for f in schema.fields],
        "required": [f.name for f in schema.fields if f.required],
    }
    if schema.strict:
        document["additionalProperties"] = False
    return document


_OUTPUT_FIELDS = {
    "seed": {"title": "Seed", "type": "integer", "description": "The seed used for generation."},
    "duration": {
        "title": "Duration",
        "type": "number",
        "description": "Duration of the output video in seconds.",
    },
    "timings": {"title": "Timings", "type": "object", "additionalProperties": True},
}


def _output_schema(name: str, outputs: tuple[str, ...]) -> dict[str, Any]:
    file_type = "VideoFile" if "video_file" in outputs else "File"
    extras = [field for field in _OUTPUT_FIELDS if field in outputs]
    return {
        "title": f"{name}Response",
        "type": "object",
        "properties": {
            "video": {"title": "Video", "allOf": [_ref(file_type)]},
            **{field: _OUTPUT_FIELDS[field] for field in extras},
        },
        "x-fal-order-properties": ["video", *extras],
        "required": ["video", *(field for field in extras if field != "timings")],
    }


_FILE = {
    "title": "File",
    "type": "object",
    "properties": {
        "url": {"title": "Url", "type": "string"},
        "content_type": {"title": "Content Type", "type": "string"},
        "file_name": {"title": "File Name", "type": "string"},
        "file_size": {"title": "File Size", "type": "integer"},
    },
    "x-fal-order-properties": ["url", "content_type", "file_name", "file_size"],
    "required": ["url"],
}
_VIDEO_FILE = {
    "title": "VideoFile",
    "type": "object",
    "properties": {
        **_FILE["properties"],
        "fps": {"title": "Fps", "type": "number", "description": "The FPS of the video"},
        "width": {"title": "Width", "type": "integer", "description": "The width of the video"},
        "height": {"title": "Height", "type": "integer", "description": "The height of the video"},
        "num_frames": {
            "title": "Num Frames",
            "type": "integer",
            "description": "The number of frames in the video",
        },
        "duration": {"title": "Duration", "type": "number", "description": "The duration of the video"},
    },
    "x-fal-order-properties": [
        *_FILE["x-fal-order-properties"],
        "fps",
        "width",
        "height",
        "num_frames",
        "duration",
    ],
    "required": ["url"],
}
_QUEUE_STATUS = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]},
        "request_id": {"type": "string"},
        "response_url": {"type": "string"},
        "status_url": {"type": "string"},
        "cancel_url": {"type": "string"},
        "logs": {"type": "object", "additionalProperties": True},
        "metrics": {"type": "object", "additionalProperties": True},
        "queue_position": {"type": "integer"},
    },
    "required": ["status", "request_id"],
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _paths(endpoint_id: str, name: str) -> dict[str, Any]:
    request_id = {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}
    base = f"/{endpoint_id}/requests/{{request_id}}"
    return {
        f"{base}/status": {"get": {
            "parameters": [request_id, {"name": "logs", "in": "query", "required": False,
                                        "schema": {"type": "number"}}],
            "responses": {"200": _json(_ref("QueueStatus"), "The request status.")},
        }},
        f"{base}/cancel": {"put": {
            "parameters": [request_id],
            "responses": {"200": _json({"type": "object", "properties": {"success": {"type": "boolean"}}},
                                       "The request was cancelled.")},
        }},
        f"/{endpoint_id}": {"post": {
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref(f"{name}Input")}}},
            "responses": {"200": _json(_ref("QueueStatus"), "The request status.")},
        }},
        base: {"get": {
            "parameters": [request_id],
            "responses": {"200": _json(_ref(f"{name}Output"), "Result of the request.")},
        }},
    }  # fmt: skip


def document(endpoint_id: str, schema: Schema, base_url: str) -> dict[str, Any]:
    """The OpenAPI document of one emulated endpoint (``base_url``: where its queue is served)."""
    name = schema_name(endpoint_id)
    model = BY_ID.get(endpoint_id)
    outputs = model.outputs if model is not None else ()
    schemas: dict[str, Any] = {
        "QueueStatus": _QUEUE_STATUS,
        f"{name}Input": _input_schema(name, schema),
        f"{name}Output": _output_schema(name, outputs),
        "File": _FILE,
    }
    if "video_file" in outputs:
        schemas["VideoFile"] = _VIDEO_FILE
    return {
        "openapi": "3.0.4",
        "info": {
            "title": f"Queue OpenAPI for {endpoint_id}",
            "version": "1.0.0",
            "description": f"The OpenAPI schema for the {endpoint_id} queue.",
            "x-fal-metadata": {
                "endpointId": endpoint_id,
                "category": model.category if model is not None else "unknown",
                "playgroundUrl": f"{base_url}/models/{endpoint_id}",
                "documentationUrl": f"{base_url}/models/{endpoint_id}/api",
            },
        },
        "components": {
            "securitySchemes": {
                "apiKeyAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Fal Key",
                }
            },
            "schemas": schemas,
        },
        "paths": _paths(endpoint_id, name),
        "servers": [{"url": base_url}],
        "security": [{"apiKeyAuth": []}],
    }
