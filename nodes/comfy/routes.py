"""HTTP routes the pack adds to ComfyUI's server: key status/save/forget and the endpoint catalog."""

from __future__ import annotations

from aiohttp import web

from .. import key_settings
from ..avatar.endpoints import catalog_json

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
