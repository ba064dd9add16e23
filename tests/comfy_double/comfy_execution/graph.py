"""TEST DOUBLE of comfy_execution.graph.DynamicPrompt: only the original (API-format) prompt."""


class DynamicPrompt:
    def __init__(self, original_prompt: dict) -> None:
        self.original_prompt = original_prompt

    def get_original_prompt(self) -> dict:
        return self.original_prompt
