"""URL classification: which emulator route a (method, path) pair belongs to, and its path parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from .jobs import NAMESPACES

OPENAPI_PATH = ["api", "openapi", "queue", "openapi.json"]  # fal's per-endpoint OpenAPI documents
_QUEUE_TAILS = {
    (): ("result", "GET"),
    ("status",): ("status", "GET"),
    ("status", "stream"): ("status_stream", "GET"),
    ("cancel",): ("cancel", "PUT"),
}


@dataclass(frozen=True)
class Route:
    """``name`` is one of recorder.ROUTES; ``error`` (405/404 status) marks a malformed use of that route."""

    name: str
    params: dict[str, str] = field(default_factory=dict)
    error: int | None = None


HISTORY_SEGMENTS = [
    "v1",
    "models",
    "requests",
    "by-endpoint",
]  # fal's Platform API: List requests by endpoint
MODELS_SEGMENTS = ["v1", "models"]  # fal's Platform API: Model search


def classify(method: str, path: str) -> Route:
    segments = [s for s in path.split("/") if s]  # tolerates trailing (and doubled) slashes
    if segments == OPENAPI_PATH:
        return Route("openapi", error=None if method in ("GET", "HEAD") else 405)
    if segments == HISTORY_SEGMENTS:
        return Route("request_history", error=None if method == "GET" else 405)
    if segments == MODELS_SEGMENTS:
        return Route("models", error=None if method == "GET" else 405)
    storage = _storage_route(method, segments)
    if storage is not None:
        return storage
    if "requests" in segments:
        return _queue_route(method, segments)
    if method == "POST" and len(segments) >= 2:
        return _submit_route(segments)
    return Route("other", error=405 if len(segments) >= 2 else 404)


def _storage_route(method: str, s: list[str]) -> Route | None:
    if s[:3] == ["storage", "auth", "token"] and len(s) == 3:
        return Route("token", error=None if method == "POST" else 405)
    if s[:3] == ["storage", "upload", "initiate"] and len(s) == 3:
        return Route("storage_initiate", error=None if method == "POST" else 405)
    if s[:2] == ["storage", "signed"] and len(s) == 3:
        return Route("signed_put", {"signed_id": s[2]}, error=None if method == "PUT" else 405)
    if not s or s[0] != "files":
        return None
    if s == ["files", "upload"]:
        return Route("cdn_upload", error=None if method == "POST" else 405)
    if s == ["files", "upload", "multipart"]:
        return Route("multipart_create", error=None if method == "POST" else 405)
    if len(s) >= 5 and s[-3] == "multipart" and s[-1] == "complete":
        return Route(
            "multipart_complete",
            {"file": "/" + "/".join(s[:-3]), "upload_id": s[-2]},
            error=None if method == "POST" else 405,
        )
    if len(s) >= 5 and s[-3] == "multipart":
        return Route(
            "multipart_part",
            {"file": "/" + "/".join(s[:-3]), "upload_id": s[-2], "part": s[-1]},
            error=None if method == "PUT" else 405,
        )
    if len(s) >= 2:
        return Route(
            "file_get", {"file": "/" + "/".join(s)}, error=None if method in ("GET", "HEAD") else 405
        )
    return None


def _app_length(segments: list[str]) -> int:
    return 3 if segments and segments[0] in NAMESPACES else 2


def _queue_route(method: str, s: list[str]) -> Route:
    index = s.index("requests")
    tail = tuple(s[index + 2 :])
    if index + 1 >= len(s) or tail not in _QUEUE_TAILS:
        return Route("other", error=404)
    name, wanted = _QUEUE_TAILS[tail]
    params = {"app": "/".join(s[:index]), "request_id": s[index + 1]}
    if index != _app_length(s) or method != wanted:
        # e.g. a status URL built from the full endpoint id (with its sub-path): real fal routes that to
        # the app itself, which only accepts POST
        return Route(name, params, error=405)
    return Route(name, params)


def _submit_route(s: list[str]) -> Route:
    size = _app_length(s)
    if len(s) < size:
        return Route("submit", error=404)
    return Route("submit", {"app": "/".join(s[:size]), "endpoint_id": "/".join(s)})
