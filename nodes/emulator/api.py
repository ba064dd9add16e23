"""What each emulator route answers: queue (submit/status/stream/result/cancel), REST storage, CDN routes and
the Platform API's request history.

Transport-agnostic: takes a parsed Request, returns a Response (the HTTP plumbing lives in handler.py).
"""

from __future__ import annotations

import json
import mimetypes
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .apps import KNOWN_APPS
from .catalogue import search_models
from .faults import INGRESS, Fault, FaultPlan
from .history import list_requests
from .routes import Route
from .storage import FileStore, StorageError

if TYPE_CHECKING:
    from .jobs import JobQueue
    from .server import FalEmulator

LOCKED_DETAIL = "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
NO_USER_DETAIL = "No user found for Key ID and Secret"
BAD_FORMAT_DETAIL = "Invalid Key Authorization header format. Expected '<key_id>:<key_secret>'."
_KEY_ROUTES = {
    "submit",
    "status",
    "status_stream",
    "result",
    "cancel",
    "token",
    "storage_initiate",
    "request_history",
}
_OPTIONAL_KEY_ROUTES = {"models"}  # a key is checked when sent ("grants higher rate limits")
_CDN_ROUTES = {"cdn_upload", "multipart_create", "multipart_part", "multipart_complete"}
_LOCKABLE = {"submit", "token", "cdn_upload", "multipart_create", "storage_initiate"}
_EXTENSIONS = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
}
_TRUTHY = {"1", "true", "yes", "on"}
_STATUS_TEXT = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    route: Route
    query_lists: dict[str, list[str]] = field(default_factory=dict)  # every value of repeated parameters


@dataclass
class Response:
    """A complete response, or a streamed one (``stream(write)`` writes the body until it returns)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Callable[[Callable[[bytes], None]], None] | None = None


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, {"content-type": "application/json", **(headers or {})})


def fault_response(fault: Fault, req: Request) -> Response | None:
    """The canned answer of an HTTP fault that replaces the real one (None: the fault acts elsewhere)."""
    if fault.name in INGRESS:
        code = INGRESS[fault.name]
        title = f"{code} {_STATUS_TEXT[code]}"
        html = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        return Response(code, html.encode(), {"content-type": "text/html"})
    request_id = {"x-fal-request-id": req.route.params.get("request_id") or str(uuid.uuid4())}
    if fault.name == "nested":
        depth = int(fault.params.get("depth", 100_000))
        return Response(200, b"[" * depth + b"]" * depth, {"content-type": "application/json"})
    if fault.name == "endless":  # the handler writes the body, until the client hangs up
        return Response(200, b"", {"content-type": "application/json"})
    if fault.name == "http_500":
        return json_response(500, {"detail": "Internal Server Error"}, request_id)
    if fault.name == "rate_limit":
        retry = str(fault.params.get("retry_after", 1))
        return json_response(
            429, {"detail": "Rate limit exceeded. Please retry later."}, {"retry-after": retry}
        )
    if fault.name == "locked":
        return json_response(403, {"detail": LOCKED_DETAIL})
    if fault.name == "forced_422":
        item = {
            "type": fault.params.get("type", "value_error"),
            "loc": ["body", fault.params.get("field", "prompt")],
            "msg": fault.params.get("msg", "Value error, rejected by the emulator (forced_422 fault)"),
            "input": None,
            "ctx": {"error": {}},
        }
        return json_response(
            422, {"detail": fault.params.get("detail", [item])}, {**request_id, "x-fal-billable-units": "0"}
        )
    return None


def damaged_response(fault: Fault, response: Response) -> Response:
    """The ``damaged`` fault on a served file: a 200 whose body is not the file but whose Content-Length
    matches that body, so only looking at the content shows the damage (``body="half"``: the first half
    of the file; ``"html"``: a CDN error page). Anything but a 200/206 passes unchanged."""
    if response.status not in (200, 206):
        return response
    if fault.params.get("body", "half") == "html":
        page = (
            b"<!DOCTYPE html><html><head><title>Error</title></head>"
            b"<body><h1>Service unavailable</h1></body></html>\n"
        )
        return Response(200, page, {"content-type": "text/html; charset=utf-8"})
    headers = {k: v for k, v in response.headers.items() if k != "content-range"}
    return Response(200, response.body[: len(response.body) // 2], headers)


class Api:
    """Route handlers bound to one emulator's state."""

    def __init__(self, emulator: FalEmulator, jobs: JobQueue, files: FileStore, faults: FaultPlan):
        self.emu = emulator  # read for key, locked, base_url, sse_ping_interval
        self.jobs, self.files, self.faults = jobs, files, faults

    def handle(self, req: Request) -> Response:
        route = req.route
        if route.error == 405:
            return json_response(405, {"detail": "Method Not Allowed"})
        if route.name == "other" or route.error == 404:
            return json_response(404, {"detail": f"Path {req.path} not found"})
        denied = self._authorize(req)
        if denied is not None:
            return denied
        if self.emu.locked and route.name in _LOCKABLE:
            return json_response(403, {"detail": LOCKED_DETAIL})
        try:
            return getattr(self, f"_{route.name}")(req)
        except StorageError as exc:
            return json_response(exc.status, {"detail": exc.message})

    # auth -------------------------------------------------------------------------------------------------
    def _authorize(self, req: Request) -> Response | None:
        scheme, _, credentials = req.headers.get("authorization", "").strip().partition(" ")
        credentials = credentials.strip()
        if req.route.name in _OPTIONAL_KEY_ROUTES and not scheme:
            return None
        if req.route.name in _KEY_ROUTES | _OPTIONAL_KEY_ROUTES:
            if scheme.lower() == "key" and credentials == self.emu.key:
                return None
            if scheme.lower() == "key" and ":" not in credentials:
                return json_response(401, {"detail": BAD_FORMAT_DETAIL})
            return json_response(401, {"detail": NO_USER_DETAIL})
        if req.route.name in _CDN_ROUTES:
            if scheme.lower() == "bearer" and self.files.token_valid(credentials):
                return None
            return json_response(
                401,
                {
                    "detail": "Invalid or expired CDN token. Request a new one from "
                    "/storage/auth/token and send it as 'Authorization: Bearer <token>'."
                },
            )
        return None  # file GETs and signed PUTs need no auth (extra Authorization headers are ignored)

    # queue ------------------------------------------------------------------------------------------------
    def _submit(self, req: Request) -> Response:
        app, endpoint_id = req.route.params["app"], req.route.params["endpoint_id"]
        model_app = app.split("/", 1)[1] if app.count("/") == 2 else app
        if model_app not in KNOWN_APPS or self.emu.is_retired(endpoint_id):
            return json_response(404, {"detail": f"Application '{model_app}' not found"})
        try:
            arguments = json.loads(req.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            item = {
                "type": "json_invalid",
                "loc": ["body", 0],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": str(exc)},
            }
            return json_response(422, {"detail": [item]})
        job = self.jobs.submit(endpoint_id, app, arguments, req.headers, self.faults.take_job(arguments))
        _, status = self.jobs.status(job, self.emu.base_url, with_logs=False)
        body = {
            "status": "IN_QUEUE",
            "request_id": job.request_id,
            **job.urls(self.emu.base_url),
            "queue_position": status.get("queue_position", 0),
            "gateway_request_id": job.request_id,
        }
        return json_response(200, body, {"x-fal-request-id": job.request_id})

    def _job(self, req: Request):
        return self.jobs.find(req.route.params["app"], req.route.params["request_id"])

    def _status(self, req: Request) -> Response:
        job = self._job(req)
        if job is None:
            return json_response(404, {"detail": "Request not found"})
        code, body = self.jobs.status(job, self.emu.base_url, _truthy(req.query.get("logs")))
        return json_response(code, body, {"x-fal-request-id": job.request_id})

    def _status_stream(self, req: Request) -> Response:
        job = self._job(req)
        if job is None:
            return json_response(404, {"detail": "Request not found"})
        with_logs = _truthy(req.query.get("logs"))

        def stream(write: Callable[[bytes], None]) -> None:
            last, last_write = "", time.monotonic()
            while not self.jobs.stopping:
                _, body = self.jobs.status(job, self.emu.base_url, with_logs)
                text = json.dumps(body, separators=(",", ":"))
                if text != last:
                    write(f"data: {text}\n\n".encode())
                    last, last_write = text, time.monotonic()
                    if body["status"] == "COMPLETED":
                        return
                elif time.monotonic() - last_write >= self.emu.sse_ping_interval:
                    write(b": ping\n\n")
                    last_write = time.monotonic()
                self.jobs.wait_changed(min(0.25, self.emu.sse_ping_interval))

        headers = {
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            "x-fal-request-id": job.request_id,
        }
        return Response(200, headers=headers, stream=stream)

    def _result(self, req: Request) -> Response:
        job = self._job(req)
        if job is None:
            return json_response(404, {"detail": "Request not found"}, {"x-fal-billable-units": "0"})
        headers = {"x-fal-request-id": job.request_id}
        if job.state != "COMPLETED":
            return json_response(400, {"detail": "Request is still in progress"}, headers)
        return json_response(job.result_status or 500, job.result_body, {**headers, **job.result_headers})

    def _cancel(self, req: Request) -> Response:
        job = self._job(req)
        if job is None:
            return json_response(404, {"status": "NOT_FOUND"})
        headers = {"x-fal-request-id": job.request_id}
        if self.jobs.cancel(job):
            return json_response(202, {"status": "CANCELLATION_REQUESTED"}, headers)
        return json_response(400, {"status": "ALREADY_COMPLETED"}, headers)

    # Platform API -----------------------------------------------------------------------------------------
    def _request_history(self, req: Request) -> Response:
        status, body = list_requests(self.jobs.history(), req.query, datetime.now(timezone.utc))
        return json_response(status, body)

    def _models(self, req: Request) -> Response:
        status, body = search_models(
            req.query_lists, self.emu.catalogue_statuses(), self.emu.base_url, self.emu.openapi_document
        )
        return json_response(status, body)

    # REST storage -----------------------------------------------------------------------------------------
    def _token(self, req: Request) -> Response:
        storage_type = req.query.get("storage_type", "fal-cdn-v3")
        if storage_type != "fal-cdn-v3":
            return json_response(400, {"detail": f"Unsupported storage_type {storage_type!r}"})
        token, expires = self.files.issue_token()
        return json_response(
            200,
            {
                "token": token,
                "token_type": "Bearer",
                "base_url": self.emu.base_url,
                "expires_at": expires.isoformat(),
            },
        )

    def _storage_initiate(self, req: Request) -> Response:
        storage_type = req.query.get("storage_type", "gcs")
        if storage_type not in ("gcs", "fal-cdn-v3"):
            return json_response(400, {"detail": f"Unsupported storage_type {storage_type!r}"})
        payload = _json_object(req.body)
        content_type = str(payload.get("content_type") or "application/octet-stream")
        signed_id, signature, path = self.files.initiate(content_type, payload.get("file_name"))
        upload_url = f"{self.emu.base_url}/storage/signed/{signed_id}?signature={signature}"
        return json_response(200, {"upload_url": upload_url, "file_url": self.files.url_for(path)})

    def _signed_put(self, req: Request) -> Response:
        self.files.signed_put(
            req.route.params["signed_id"],
            req.query.get("signature", ""),
            req.body,
            req.headers.get("content-type"),
        )
        return Response(200)

    # CDN --------------------------------------------------------------------------------------------------
    def _cdn_upload(self, req: Request) -> Response:
        content_type = req.headers.get("content-type") or "application/octet-stream"
        path = self.files.put(req.body, content_type, _file_name(req.headers, content_type))
        return json_response(200, {"access_url": self.files.url_for(path)})

    def _multipart_create(self, req: Request) -> Response:
        content_type = req.headers.get("content-type") or "application/octet-stream"
        path, upload_id = self.files.multipart_create(content_type, _file_name(req.headers, content_type))
        return json_response(200, {"access_url": self.files.url_for(path), "uploadId": upload_id})

    def _multipart_part(self, req: Request) -> Response:
        params = req.route.params
        if not params["part"].isdigit():
            return json_response(400, {"detail": f"Invalid part number {params['part']!r}"})
        number = int(params["part"])
        etag = self.files.multipart_part(params["file"], params["upload_id"], number, req.body)
        return json_response(200, {"partNumber": number, "etag": etag}, {"etag": etag})

    def _multipart_complete(self, req: Request) -> Response:
        params = req.route.params
        path = self.files.multipart_complete(
            params["file"], params["upload_id"], _json_object(req.body).get("parts")
        )
        return json_response(200, {"access_url": self.files.url_for(path)})

    # fal's website ------------------------------------------------------------------------------------------
    def _openapi(self, req: Request) -> Response:
        endpoint_id = req.query.get("endpoint_id", "").strip().strip("/")
        if not endpoint_id:
            return json_response(400, {"detail": "endpoint_id is required"})
        document = self.emu.openapi_document(endpoint_id)
        if document is None:
            return json_response(404, {"detail": "Not Found"})
        return json_response(200, document)

    def _file_get(self, req: Request) -> Response:
        stored = self.files.get(req.route.params["file"])
        if stored is None:
            return json_response(404, {"detail": "Not Found"})
        headers = {
            "content-type": stored.content_type,
            "accept-ranges": "bytes",
            "etag": f'"{uuid.uuid5(uuid.NAMESPACE_URL, req.route.params["file"]).hex}"',
        }
        size = len(stored.data)
        span = _parse_range(req.headers.get("range"), size)
        if span is None:
            return Response(200, stored.data, headers)
        if span == "unsatisfiable":
            return Response(416, b"", {**headers, "content-range": f"bytes */{size}"})
        start, end = span
        return Response(
            206, stored.data[start : end + 1], {**headers, "content-range": f"bytes {start}-{end}/{size}"}
        )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUTHY


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise StorageError(400, "Request body must be a JSON object") from None
    if not isinstance(value, dict):
        raise StorageError(400, "Request body must be a JSON object")
    return value


def _file_name(headers: dict[str, str], content_type: str) -> str:
    name = headers.get("x-fal-file-name")
    if name:
        return name
    mime = content_type.split(";")[0].strip().lower()
    extension = _EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ".bin"
    return f"upload{extension}"


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end) inclusive for a single ``bytes=`` range; None = ignore the header; "unsatisfiable"."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not match or (not match[1] and not match[2]):
        return None
    if not match[1]:  # suffix range: the last N bytes
        length = int(match[2])
        if length == 0:
            return "unsatisfiable"
        return max(size - length, 0), size - 1
    start = int(match[1])
    end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or (match[2] and int(match[2]) < start):
        return "unsatisfiable" if start >= size else None
    return start, end
