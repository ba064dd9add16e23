"""HTTP routes the pack adds to ComfyUI's server: key status/save/forget, the endpoint catalog and the
health check (the same as `fal-avatar doctor`)."""

from __future__ import annotations

import logging

from aiohttp import web

from .. import key_settings
from ..avatar.catalog import catalog_json
from ..errors import FalAvatarError
from ..pipeline.doctor import run_doctor

log = logging.getLogger(__name__)

PREFIX = "/fal_avatar"


def _forbidden() -> web.Response:
    return web.json_response({"error": "Cross-origin requests may not change the fal key."}, status=403)


def register(routes: web.RouteTableDef) -> None:
    @routes.get(f"{PREFIX}/key")
    async def key_status(request: web.Request) -> web.Response:
        return web.json_response(key_settings.key_status())

    @routes.post(f"{PREFIX}/key")
    async def save_key(request: web.Request) -> web.Response:
        if not key_settings.is_same_origin(request.headers, request.host):
            return _forbidden()
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        status, body = key_settings.save_from_request(payload)
        return web.json_response(body, status=status)

    @routes.delete(f"{PREFIX}/key")
    async def forget_key(request: web.Request) -> web.Response:
        if not key_settings.is_same_origin(request.headers, request.host):
            return _forbidden()
        return web.json_response(key_settings.forget())

    @routes.get(f"{PREFIX}/endpoints")
    async def endpoints(request: web.Request) -> web.Response:
        return web.json_response(catalog_json())

    @routes.get(f"{PREFIX}/doctor")
    async def doctor(request: web.Request) -> web.Response:
        """Runs on the server (the key stays there): key presence/source/validity, hosts, endpoint drift."""
        try:
            report = await run_doctor()
        except FalAvatarError as exc:  # a malformed FAL_*_URL setting
            return web.json_response({"error": str(exc)}, status=500)
        log.info("fal avatar doctor: %s", report.summary)
        return web.json_response(report.to_json())
