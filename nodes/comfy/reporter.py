"""Shows a run's status on the node: progress text, the pack's websocket event, and the progress bar."""

from __future__ import annotations

import time
from dataclasses import replace

from ..pipeline.status import RunStatus
from ..states import Phase
from . import api

EVENT = "fal_avatar.status"
MIN_INTERVAL_S = 0.25  # progress callbacks can fire far more often than a person can read


class ComfyReporter:
    """A status sink for one node execution. Thread-safe enough for decode-progress callbacks."""

    def __init__(self, node_id: str | None) -> None:
        self.node_id = node_id
        self.server = api.prompt_server()
        self.cancel_requested = False
        self.last: RunStatus | None = None
        self._sent_at = 0.0
        self._bar = None
        self._bar_value = 0

    def __call__(self, status: RunStatus) -> None:
        phase_changed = self.last is None or self.last.phase != status.phase
        self.last = status
        now = time.monotonic()
        # Only progress ticks (bytes, frames) come fast enough to need throttling.
        if phase_changed or status.progress is None or now - self._sent_at >= MIN_INTERVAL_S:
            self._sent_at = now
            self._send(status)
        if status.progress is not None:
            self._progress(status.progress)

    def update(self, phase: Phase, **fields) -> None:
        """Change the current status outside the pipeline (decoding, final notes)."""
        self(replace(self.last or RunStatus(phase=phase, endpoint=""), phase=phase, **fields))

    def finish(self, phase: Phase, detail: str, **fields) -> None:
        """Send a last status line (done, error, cancelled) whatever the throttle says."""
        base = self.last or RunStatus(phase=phase, endpoint="")
        self.last = replace(base, phase=phase, detail=detail, progress=None, **fields)
        self._send(self.last)

    def should_cancel(self) -> bool:
        return self.cancel_requested or api.interrupted()

    def _send(self, status: RunStatus) -> None:
        if self.server is None or self.node_id is None:
            return
        sid = getattr(self.server, "client_id", None)
        self.server.send_progress_text(status.text, self.node_id, sid)
        self.server.send_sync(EVENT, {"node": str(self.node_id), **status.to_event()}, sid)

    def _progress(self, fraction: float) -> None:
        value = int(max(0.0, min(1.0, fraction)) * 1000)
        try:
            # Each phase (upload, segments, stitch, decode) counts from 0 again. ComfyUI's bar sends only
            # forward moves (and its final value), so a move back starts a new bar, whose first update is
            # always sent; one bar would stay full through the stitch and the decode.
            if self._bar is None or value < self._bar_value:
                self._bar = api.progress_bar(1000, self.node_id)
            self._bar_value = value
            self._bar.update_absolute(value, 1000)
        except api.interrupt_exception_type():
            # The progress hook raises (and clears) ComfyUI's interrupt flag: remember it, so the run is
            # cancelled through our own path (which cancels the fal job), and set again for the other nodes.
            self.cancel_requested = True
            api.keep_interrupted()
