"""TEST DOUBLE of comfy_execution.progress: the registry core resets with each prompt before it computes
cache keys (``reset_progress_state``), read through ``get_progress_state``."""

from .graph import DynamicPrompt


class ProgressRegistry:
    def __init__(self, prompt_id: str, dynprompt: DynamicPrompt) -> None:
        self.prompt_id = prompt_id
        self.dynprompt = dynprompt


_registry: ProgressRegistry | None = None


def reset_progress_state(prompt_id: str, dynprompt: DynamicPrompt) -> None:
    global _registry
    _registry = ProgressRegistry(prompt_id, dynprompt)


def get_progress_state() -> ProgressRegistry:
    global _registry
    if _registry is None:  # as core: an empty registry before the first prompt
        _registry = ProgressRegistry("", DynamicPrompt({}))
    return _registry
