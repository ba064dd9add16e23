"""TEST DOUBLE of comfy_api.latest.ui."""

from __future__ import annotations


class SavedResult(dict):
    def __init__(self, filename: str, subfolder: str, type) -> None:
        super().__init__(filename=filename, subfolder=subfolder, type=type.value)


class PreviewVideo:
    def __init__(self, values: list) -> None:
        self.values = values

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (True,)}
