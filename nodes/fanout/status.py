"""The combined status of many generations: counts per phase, the overall fraction, the estimate."""

from __future__ import annotations

from dataclasses import dataclass

from ..pipeline.status import RunStatus
from ..states import FINAL_STAGES, Phase, Stage

# Rough share of a generation's way each stage stands for (for one progress bar over all of them).
STAGE_FRACTION: dict[Stage, float] = {
    Stage.PENDING: 0.0,
    Stage.STARTING: 0.05,
    Stage.QUEUED: 0.1,
    Stage.GENERATING: 0.5,
    Stage.DOWNLOADING: 0.9,
    Stage.DONE: 1.0,
    Stage.FAILED: 1.0,
    Stage.CANCELLED: 1.0,
    Stage.STOPPED: 1.0,
}
# The order stages are named in a status line (most advanced first).
SHOWN = (
    Stage.DONE,
    Stage.DOWNLOADING,
    Stage.GENERATING,
    Stage.QUEUED,
    Stage.STARTING,
    Stage.PENDING,
    Stage.FAILED,
    Stage.CANCELLED,
    Stage.STOPPED,
)


@dataclass
class ItemState:
    """One generation in the fan-out: its label, its stage and the latest status it reported."""

    label: str
    stage: Stage = Stage.PENDING
    status: RunStatus | None = None
    cost_usd: float = 0.0
    shared_with: int | None = None  # another item runs this identical request; this one takes its result
    error: BaseException | None = None  # why it failed or was cancelled

    @property
    def progress(self) -> float:
        if self.stage == Stage.GENERATING and self.status is not None and self.status.progress is not None:
            return 0.1 + 0.8 * self.status.progress
        return STAGE_FRACTION[self.stage]


@dataclass(frozen=True)
class FanOutSnapshot:
    """All items at one moment."""

    noun: str
    items: tuple[ItemState, ...]
    elapsed_s: float

    def count(self, stage: Stage) -> int:
        return sum(1 for item in self.items if item.stage == stage)

    @property
    def progress(self) -> float:
        return sum(item.progress for item in self.items) / max(len(self.items), 1)

    @property
    def cost_usd(self) -> float:
        return round(sum(item.cost_usd for item in self.items if item.shared_with is None), 4)

    @property
    def finished(self) -> bool:
        return all(item.stage in FINAL_STAGES for item in self.items)

    def summary(self) -> str:
        """``segment 3/7 generating · 2 queued · 2 done``: the first unfinished item, then the counts."""
        total = len(self.items)
        parts = []
        current = next((i for i, item in enumerate(self.items) if item.stage not in FINAL_STAGES), None)
        if current is not None:
            parts.append(f"{self.noun} {current + 1}/{total} {self.items[current].stage}")
        for stage in SHOWN:
            same = current is not None and self.items[current].stage == stage
            count = self.count(stage) - (1 if same else 0)
            if count:
                parts.append(f"{count} more {stage}" if same else f"{count} {stage}")
        return " · ".join(parts)

    def as_run_status(self, endpoint: str) -> RunStatus:
        """One status line for a node or a terminal, with the overall fraction for a progress bar."""
        return RunStatus(
            phase=Phase.SEGMENTS,
            endpoint=endpoint,
            detail=self.summary(),
            elapsed_s=self.elapsed_s,
            cost_usd=self.cost_usd,
            progress=self.progress,
        )
