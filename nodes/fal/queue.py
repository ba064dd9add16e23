"""The queue calls: submit, status (polled and streamed), result, cancel (https://docs.fal.ai/model-endpoints/queue)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ..errors import SubmitOutcomeUnknownError
from ..settings import FalUrls
from .bounded import SSE_EVENT_BYTES, AnswerTooLarge, json_value, lines
from .http import Auth, FalHttp, origin
from .http_errors import endpoint_not_found, error_from_response, json_object
from .models import AppId, CancelOutcome, QueueHandle, QueueStatus
from .retry import CallKind
from .sse import json_events

log = logging.getLogger(__name__)


class StreamUnavailable(Exception):
    """The status stream cannot be used for this job (not offered, or refused): poll instead."""


class QueueApi:
    def __init__(self, http: FalHttp, urls: Callable[[], FalUrls]) -> None:
        self._http = http
        self._urls = urls

    async def submit(self, endpoint_id: str, arguments: dict, *, headers: dict | None = None) -> QueueHandle:
        app = AppId.parse(endpoint_id)
        queue_url = self._urls().queue
        response = await self._http.call(
            "POST",
            f"{queue_url}/{app.full}",
            what=f"submit to {app.full}",
            kind=CallKind.SUBMIT,
            json=arguments,
            headers=headers,
            outcomes=(404,),
        )
        if response.status_code == 404:  # no job was created: fal does not know the app
            raise self._http.scrub(endpoint_not_found(response, app.full))
        try:
            data = json_value(response)
            request_id = str(data["request_id"])
        except (ValueError, KeyError, TypeError):
            raise SubmitOutcomeUnknownError(
                f"fal accepted the submit to {app.full} (HTTP {response.status_code}) but its answer has no "
                "request id. A job may exist on fal; it was not re-sent. Check https://fal.ai/dashboard "
                "(Requests) before running again.",
                status=response.status_code,
                request_id=response.headers.get("x-fal-request-id"),
            ) from None
        handle = QueueHandle(
            endpoint_id=app.full,
            request_id=request_id,
            status_url=str(data.get("status_url") or ""),
            response_url=str(data.get("response_url") or ""),
            cancel_url=str(data.get("cancel_url") or ""),
        )
        if not _urls_usable(handle, queue_url):
            log.warning("fal returned queue URLs outside %s; using owner/alias URLs there instead", queue_url)
            handle = QueueHandle.for_request(app.full, request_id, queue_url)
        log.info("fal job submitted: %s request_id=%s", app.full, request_id)
        return handle

    async def status(self, handle: QueueHandle, *, logs: bool = True) -> QueueStatus:
        response = await self._http.call(
            "GET",
            handle.status_url,
            what="status",
            params={"logs": "1" if logs else "0"},
            request_id=handle.request_id,
        )
        data = json_object(response, what="a status request", request_id=handle.request_id)
        return QueueStatus.from_json(data, request_id=handle.request_id)

    async def stream_status(self, handle: QueueHandle) -> AsyncIterator[QueueStatus]:
        """Statuses from ``{status_url}/stream`` until COMPLETED or the stream ends.

        Raises :class:`StreamUnavailable` when the server does not offer the stream; transport errors
        (drops, idle timeouts) propagate so the caller can reconnect or poll.
        """
        queue = self._http.timeouts.queue
        idle = httpx.Timeout(
            connect=queue.connect, read=self._http.timeouts.stream_idle_s, write=queue.write, pool=queue.pool
        )
        async with self._http.stream(
            "GET",
            f"{handle.status_url.rstrip('/')}/stream",
            auth=Auth.FAL_KEY,
            params={"logs": "1"},
            headers={"Accept": "text/event-stream"},
            timeout=idle,
        ) as response:
            content_type = response.headers.get("content-type", "")
            if not response.is_success or not content_type.startswith("text/event-stream"):
                raise StreamUnavailable(f"HTTP {response.status_code} {content_type}")
            try:
                async for data in json_events(lines(response, SSE_EVENT_BYTES)):
                    status = QueueStatus.from_json(data, request_id=handle.request_id)
                    yield status
                    if status.done:
                        return
            except AnswerTooLarge as exc:
                raise StreamUnavailable(f"a status event of {exc}") from None

    async def result(self, handle: QueueHandle) -> dict[str, Any]:
        response = await self._http.call(
            "GET", handle.response_url, what="result", request_id=handle.request_id
        )
        return json_object(response, what="the result request", request_id=handle.request_id)

    async def cancel(self, handle: QueueHandle) -> CancelOutcome:
        response = await self._http.call(
            "PUT",
            handle.cancel_url,
            what="cancel",
            request_id=handle.request_id,
            outcomes=(400, 404),
        )
        if response.is_success:
            return CancelOutcome.REQUESTED
        try:
            said = json_value(response).get("status")
        except (ValueError, AttributeError):
            said = None
        if response.status_code == 404:
            return CancelOutcome.NOT_FOUND
        if said == CancelOutcome.ALREADY_COMPLETED.value:
            return CancelOutcome.ALREADY_COMPLETED
        raise self._http.scrub(error_from_response(response, what="cancel", request_id=handle.request_id))


def _urls_usable(handle: QueueHandle, queue_url: str) -> bool:
    """Server URLs are used as given if they are on the configured queue origin (the key goes there)."""
    urls = (handle.status_url, handle.response_url, handle.cancel_url)
    try:
        return all(url and origin(url) == origin(queue_url) for url in urls)
    except (httpx.InvalidURL, TypeError):
        return False
