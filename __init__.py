"""comfyui-fal-avatar: fal.ai talking-avatar nodes for ComfyUI.

This file must import cleanly without ComfyUI (pytest and the CLI import it). The ComfyUI entry point
is only exported when ComfyUI's V3 API is importable, i.e. when ComfyUI itself loads the pack.
"""

WEB_DIRECTORY = "./web"


def _running_in_comfyui() -> bool:
    try:
        from comfy_api.latest import io  # noqa: F401
    except Exception:
        return False
    return True


if __package__ and _running_in_comfyui():
    from .nodes.comfy.extension import comfy_entrypoint  # noqa: F401

    __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
else:
    __all__ = ["WEB_DIRECTORY"]
