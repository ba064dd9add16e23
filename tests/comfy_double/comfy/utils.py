"""TEST DOUBLE of comfy.utils.ProgressBar: records updates; like core, an update is an interrupt point."""

from . import model_management

UPDATES: list[tuple[str | None, int, int]] = []


class ProgressBar:
    def __init__(self, total: int, node_id=None) -> None:
        self.total, self.node_id = total, node_id

    def update_absolute(self, value: int, total: int | None = None, preview=None) -> None:
        model_management.throw_exception_if_processing_interrupted()
        UPDATES.append((self.node_id, value, total or self.total))
