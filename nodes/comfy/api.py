"""The one place that imports ComfyUI. Everything else in the pack works without it."""

from __future__ import annotations

from pathlib import Path

from comfy_api.latest import ComfyExtension, InputImpl, Types, io, ui  # noqa: F401  (re-exported)


def prompt_server():
    """ComfyUI's PromptServer instance, or ``None`` outside a running server."""
    try:
        from server import PromptServer
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


def interrupted() -> bool:
    """Whether the user pressed Cancel (reads ComfyUI's flag without clearing it)."""
    import comfy.model_management

    return bool(comfy.model_management.processing_interrupted())


def keep_interrupted() -> None:
    """Set ComfyUI's interrupt flag again after a progress hook raised (and so cleared) it: the prompt's other
    running nodes must still see that the user pressed Cancel. Core clears it when the next prompt starts."""
    import comfy.model_management

    comfy.model_management.interrupt_current_processing(True)


def interrupt_exception_type() -> type[BaseException]:
    """The exception ComfyUI expects from a node that stopped because of Cancel."""
    import comfy.model_management

    return comfy.model_management.InterruptProcessingException


def progress_bar(total: int, node_id: str | None):
    import comfy.utils

    return comfy.utils.ProgressBar(total, node_id=node_id)


def running_prompt() -> dict | None:
    """The API-format prompt ComfyUI is executing (set before it computes cache keys), or ``None`` when this
    ComfyUI does not expose it."""
    try:
        from comfy_execution.progress import get_progress_state
    except ImportError:
        return None
    state = get_progress_state()
    dynprompt = getattr(state, "dynprompt", None)
    if not getattr(state, "prompt_id", None) or dynprompt is None:
        return None
    prompt = dynprompt.get_original_prompt()
    return prompt if isinstance(prompt, dict) else None


def running_prompt_id() -> str | None:
    """The id of the prompt ComfyUI is executing, or ``None`` when unknown."""
    try:
        from comfy_execution.progress import get_progress_state
    except ImportError:
        return None
    return getattr(get_progress_state(), "prompt_id", None)


def run_loader(class_type: str, inputs: dict) -> tuple:
    """Run one of ComfyUI's own loader nodes (LoadImage, LoadAudio, LoadVideo) outside a prompt, with widget
    values only: its outputs, exactly what the prompt will hand the next node."""
    import nodes

    cls = nodes.NODE_CLASS_MAPPINGS[class_type]
    if hasattr(cls, "define_schema"):  # V3
        return tuple(cls.execute(**inputs).args)
    return tuple(getattr(cls(), cls.FUNCTION)(**inputs))


def temp_directory() -> Path:
    import folder_paths

    return Path(folder_paths.get_temp_directory())


def input_directory() -> Path:
    import folder_paths

    return Path(folder_paths.get_input_directory())


def input_file(name: str) -> Path | None:
    """The file a loader widget names (``clip.wav``, ``sub/clip.wav``, ``clip.wav [output]``) in ComfyUI's
    input folder (or the output/temp folder its annotation names); None if it is not a file there."""
    import folder_paths

    folders = {
        "[input]": folder_paths.get_input_directory,
        "[output]": folder_paths.get_output_directory,
        "[temp]": folder_paths.get_temp_directory,
    }
    folder = folder_paths.get_input_directory
    for annotation, getter in folders.items():
        if name.endswith(annotation):
            name, folder = name[: -len(annotation)].rstrip(), getter
            break
    root = Path(folder()).resolve()
    path = (root / name).resolve()
    return path if path.is_relative_to(root) and path != root and path.is_file() else None


def supports_schema_field(name: str) -> bool:
    """Whether this ComfyUI's ``io.Schema`` knows ``name`` (newer fields raise TypeError on old cores)."""
    return name in getattr(io.Schema, "__dataclass_fields__", {})
