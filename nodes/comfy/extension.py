"""ComfyUI's entry point for the pack (V3): the node list and the pack's HTTP routes."""

from __future__ import annotations

import logging

from . import api
from .avatar_nodes import NODES

log = logging.getLogger("comfyui-fal-avatar")


class FalAvatarExtension(api.ComfyExtension):
    async def on_load(self) -> None:
        server = api.prompt_server()
        if server is None:
            return
        from .routes import register

        register(server.routes)
        log.info("comfyui-fal-avatar: routes /fal_avatar/* registered")

    async def get_node_list(self):
        return list(NODES)


async def comfy_entrypoint() -> FalAvatarExtension:
    return FalAvatarExtension()
