"""ComfyUI's entry point for the pack (V3): the node list and the pack's HTTP routes."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from . import api, queue_ahead
from .avatar_nodes import NODES

log = logging.getLogger("comfyui-fal-avatar")
ASSETS = Path(__file__).resolve().parent.parent / "assets"
SAMPLE_PREFIX = "fal_avatar_"


def install_samples() -> list[Path]:
    """Copy the bundled sample media into ComfyUI's input folder (never overwriting), so the example
    workflows run as they are."""
    target = api.input_directory()
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for sample in sorted(ASSETS.glob("sample_*")):
        dest = target / f"{SAMPLE_PREFIX}{sample.name}"
        if not dest.exists():
            shutil.copyfile(sample, dest)
            copied.append(dest)
    return copied


class FalAvatarExtension(api.ComfyExtension):
    async def on_load(self) -> None:
        try:
            install_samples()
        except OSError as exc:  # a read-only input folder must not stop the nodes from loading
            log.warning("comfyui-fal-avatar: sample media not copied to the input folder: %s", exc)
        server = api.prompt_server()
        if server is None:
            return
        from .routes import register

        register(
            server.routes, input_file=api.input_file, queue_ahead=queue_ahead.install(server, api.run_loader)
        )
        log.info("comfyui-fal-avatar: routes /fal_avatar/* registered")

    async def get_node_list(self):
        return list(NODES)


async def comfy_entrypoint() -> FalAvatarExtension:
    return FalAvatarExtension()
