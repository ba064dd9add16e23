"""HTTP routes the pack adds to ComfyUI's server: key status/save/forget, the spend limit, the queue-ahead
setting and its early jobs, the endpoint catalog, media lengths for the cost estimate and the health check
(the same as `fal-avatar doctor`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from ..avatar.catalog import catalog_json
from ..doctor.check import run_doctor
from ..errors import FalAvatarError, InputError
from ..media.length_probe import probe_lengths
from . import key_settings, queue_ahead_settings, spend_settings

if TYPE_CHECKING:
    from .queue_ahead import QueueAhead

log = logging.getLogger(__name__)

PREFIX = "/fal_avatar"


def _forbidden(what: str) -> web.Response:
    return web.json_response({"error": f"Cross-origin requests may not change {what}."}, status=403)


async def _json_body(request: web.Request):
    try:
        return await request.json()
    except ValueError:
        return None


def register(
    routes: web.RouteTableDef,
    *,
    input_file: Callable[[str], Path | None] | None = None,
    queue_ahead: QueueAhead | None = None,
) -> None:
    """Add the routes. ``input_file`` finds a loader widget's file in ComfyUI's input folder (None if it is
    not there); without it the media-length route is left out. ``queue_ahead``: the watcher whose early jobs
    the queue-ahead route lists."""

    def same_origin(request: web.Request) -> bool:
        return key_settings.is_same_origin(request.headers, request.host)

    @routes.get(f"{PREFIX}/key")
    async def key_status(request: web.Request) -> web.Response:
        return web.json_response(key_settings.key_status())

    @routes.post(f"{PREFIX}/key")
    async def save_key(request: web.Request) -> web.Response:
        if not same_origin(request):
            return _forbidden("the fal key")
        status, body = key_settings.save_from_request(await _json_body(request))
        return web.json_response(body, status=status)

    @routes.delete(f"{PREFIX}/key")
    async def forget_key(request: web.Request) -> web.Response:
        if not same_origin(request):
            return _forbidden("the fal key")
        return web.json_response(key_settings.forget())

    @routes.get(f"{PREFIX}/settings")
    async def settings(request: web.Request) -> web.Response:
        return web.json_response(spend_settings.spend_status())

    @routes.post(f"{PREFIX}/settings")
    async def save_settings(request: web.Request) -> web.Response:
        if not same_origin(request):
            return _forbidden("the spend limit")
        status, body = spend_settings.save_from_request(await _json_body(request))
        return web.json_response(body, status=status)

    @routes.get(f"{PREFIX}/queue_ahead")
    async def queue_ahead_status(request: web.Request) -> web.Response:
        body = queue_ahead_settings.queue_ahead_status()
        if queue_ahead is not None:
            body.update(await asyncio.to_thread(queue_ahead.status))
        return web.json_response(body)

    @routes.post(f"{PREFIX}/queue_ahead")
    async def save_queue_ahead(request: web.Request) -> web.Response:
        if not same_origin(request):
            return _forbidden("the queue-ahead setting")
        status, body = queue_ahead_settings.save_from_request(await _json_body(request))
        if queue_ahead is not None:
            queue_ahead.poke()
        return web.json_response(body, status=status)

    @routes.get(f"{PREFIX}/endpoints")
    async def endpoints(request: web.Request) -> web.Response:
        return web.json_response(catalog_json())

    if input_file is not None:

        @routes.get(f"{PREFIX}/media_length")
        async def media_length(request: web.Request) -> web.Response:
            """Lengths of a loader's file (headers only), for the cost estimate before a run."""
            name = request.query.get("file", "")
            if "\0" in name:  # no file system allows it; pathlib would raise ValueError (a 500)
                return web.json_response({"error": "a file name cannot contain a NUL byte"}, status=400)
            try:
                path = input_file(name) if name.strip() else None
            except (ValueError, OSError) as exc:  # a name the file system refuses (too long, ...)
                return web.json_response({"error": f"{name!r} is not a usable file name ({exc})"}, status=400)
            if path is None:
                return web.json_response(
                    {"error": f"{name!r} is not a file in ComfyUI's input folder"}, status=404
                )
            try:
                lengths = await asyncio.to_thread(probe_lengths, path, field=name)
            except InputError as exc:
                return web.json_response({"error": exc.message}, status=422)
            return web.json_response({"file": name, **lengths.to_json()})

    @routes.get(f"{PREFIX}/doctor")
    async def doctor(request: web.Request) -> web.Response:
        """Runs on the server (the key stays there): key presence/source/validity, hosts, endpoint drift."""
        try:
            report = await run_doctor()
        except FalAvatarError as exc:  # a malformed FAL_*_URL setting
            return web.json_response({"error": str(exc)}, status=500)
        log.info("fal avatar doctor: %s", report.summary)
        return web.json_response(report.to_json())
