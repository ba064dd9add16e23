"""TEST DOUBLE of comfy.utils.ProgressBar: records the updates core would send; like core, an update is an
interrupt point. Core (v0.28.1) sends a bar's first update, its final one, and forward moves (at most one
per 0.1 s and 0.5 %): a move backwards is never sent. The double keeps that rule without the time limit."""

from . import model_management

UPDATES: list[tuple[str | None, int, int]] = []


class ProgressBar:
    def __init__(self, total: int, node_id=None) -> None:
        self.total, self.node_id = total, node_id
        self._last_sent = -1

    def update_absolute(self, value: int, total: int | None = None, preview=None) -> None:
        model_management.throw_exception_if_processing_interrupted()
        self.total = total or self.total
        value = min(value, self.total)
        if self._last_sent < 0 or value >= self.total or value > self._last_sent:
            self._last_sent = value
            UPDATES.append((self.node_id, value, self.total))
