"""The run's status line: one state object, emitted on every change and at least once a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from ..avatar.pricing import format_usd
from ..states import Phase

PHASE_LABELS: dict[Phase, str] = {
    Phase.VALIDATING: "Checking inputs",
    Phase.UPLOADING: "Uploading",
    Phase.CACHED: "Using stored result",
    Phase.WAITING: "Waiting for an identical run",
    Phase.SUBMITTING: "Submitting",
    Phase.REATTACHED: "Re-attached to running job",
    Phase.QUEUED: "Queued",
    Phase.GENERATING: "Generating",
    Phase.DOWNLOADING: "Downloading",
    Phase.SEGMENTS: "Segments",
    Phase.STITCHING: "Stitching",
    Phase.DECODING: "Decoding",
    Phase.DONE: "Done",
    Phase.ERROR: "Failed",
    Phase.CANCELLED: "Cancelled",
    Phase.STOPPED: "Stopped",
}


def format_bytes(done: int, total: int | None = None) -> str:
    """``"120 KB"``, ``"1.4/7.8 MB"``: a transfer's progress in the unit that suits its size."""
    scale, unit = (1e6, "MB") if max(done, total or 0) >= 1e6 else (1e3, "KB")

    def fmt(n: int) -> str:
        return f"{n / scale:.1f}" if unit == "MB" else f"{n / scale:.0f}"

    return f"{fmt(done)}/{fmt(total)} {unit}" if total else f"{fmt(done)} {unit}"


@dataclass(frozen=True)
class RunStatus:
    """What the node, the web extension and the CLI show about a run."""

    phase: Phase
    endpoint: str
    detail: str = ""
    queue_position: int | None = None
    elapsed_s: float = 0.0
    request_id: str | None = None
    cost_usd: float | None = None
    progress: float | None = None  # 0..1 when a fraction is known
    frames: int | None = None
    audio_s: float | None = None

    @property
    def text(self) -> str:
        parts = [PHASE_LABELS.get(self.phase, self.phase)]
        if self.phase == Phase.QUEUED and self.queue_position is not None:
            parts.append(f"position {self.queue_position}")
        if self.detail:
            parts.append(self.detail)
        minutes, seconds = divmod(int(self.elapsed_s), 60)
        parts.append(f"{minutes}:{seconds:02d}")
        if self.cost_usd is not None:
            parts.append(f"est. {format_usd(self.cost_usd)}")
        return " · ".join(parts)

    def to_event(self) -> dict:
        event = asdict(self)
        event["text"] = self.text
        return event


class StatusBoard:
    """Holds the current :class:`RunStatus` and sends it to ``sink`` on change and every second."""

    def __init__(self, endpoint: str, sink: Callable[[RunStatus], None] | None, *, interval: float = 1.0):
        self._sink = sink
        self._interval = interval
        self._started = time.monotonic()
        self.status = RunStatus(phase=Phase.VALIDATING, endpoint=endpoint)

    def update(self, phase: Phase | None = None, **fields) -> RunStatus:
        if phase is not None and phase != self.status.phase:
            fields.setdefault("detail", "")
            fields.setdefault("progress", None)
        self.status = replace(
            self.status,
            phase=phase or self.status.phase,
            elapsed_s=time.monotonic() - self._started,
            **fields,
        )
        if self._sink is not None:
            self._sink(self.status)
        return self.status

    async def tick_forever(self) -> None:
        """Re-emit the status (with a fresh elapsed time) every ``interval`` seconds."""
        while True:
            await asyncio.sleep(self._interval)
            self.update()
