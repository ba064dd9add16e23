"""A comparison's run: every model's job on the fan-out engine, under the spend guard, then one side-by-side
video.

Flow: prepare every model's job (checks, estimate, request key: nothing is uploaded or paid) → the spend
guard over the whole comparison's new spend → run them (each an ordinary generation: claimed, journaled,
re-attachable; a result the journal holds is reused for free) → one MP4 with a tile per model, labelled
with its name, price and time. A failed model does not stop the others: its tile and its row say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..avatar.pricing import format_usd
from ..errors import FalAvatarError, InputError, LocalStorageError
from ..fanout.engine import FanOut
from ..media.audio import first_samples
from ..media.side_by_side import SideBySideResult, Tile, side_by_side
from ..media.video_probe import VideoInfo, probe_video
from ..pipeline.generate import GenerationOutcome, PreparedGeneration
from ..pipeline.interrupt import UserInterrupt
from ..pipeline.status import RunStatus, StatusBoard
from ..services import Services
from ..spend_guard import check_spend
from ..states import Phase
from .plan import CompareEntry, ComparePlan

STATUS_NAME = "compare"  # the status line's endpoint field


@dataclass(frozen=True)
class ModelResult:
    """How one model did: its estimate, what this run paid for its result (0 when reused or failed), fal's
    time for its job (submit to stored result, from the journal; ``None`` when unknown), its video's facts,
    or its error."""

    entry: CompareEntry
    estimate_usd: float
    paid_usd: float
    outcome: GenerationOutcome | None
    error: BaseException | None
    render_s: float | None = None
    video: VideoInfo | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is not None

    @property
    def reused(self) -> bool:
        return self.outcome is not None and self.outcome.reused


@dataclass(frozen=True)
class CompareResult:
    plan: ComparePlan
    models: tuple[ModelResult, ...]
    video: SideBySideResult | None  # None when every model failed

    @property
    def estimate_usd(self) -> float:
        return round(sum(m.estimate_usd for m in self.models), 4)

    @property
    def paid_usd(self) -> float:
        return round(sum(m.paid_usd for m in self.models), 4)

    @property
    def failed(self) -> tuple[ModelResult, ...]:
        return tuple(m for m in self.models if not m.ok)


def tile_label(model: ModelResult) -> tuple[str, ...]:
    """What a tile shows: the model (and resolution), then its price and time, or that it failed."""
    name = model.entry.name + (f" {model.entry.resolution}" if model.entry.resolution else "")
    if not model.ok:
        reason = str(model.error).splitlines()[0] if model.error else "no result"
        return name, "FAILED", reason[:60]
    time = f"{model.render_s:.1f} s" if model.render_s is not None else "time unknown"
    return name, f"{format_usd(model.estimate_usd)} · {time}"


async def run_compare(
    plan: ComparePlan,
    out: Path,
    *,
    services: Services,
    max_usd: float | None = None,
    interrupt: UserInterrupt | None = None,
    sink: Callable[[RunStatus], None] | None = None,
) -> CompareResult:
    """Run every model of ``plan`` and write the side-by-side video to ``out``. Raises InputError (every bad
    model named) or SpendLimitError before anything is uploaded or paid."""
    board = StatusBoard(STATUS_NAME, sink)
    fan = FanOut(
        limit=services.settings.max_parallel,
        services=services,
        interrupt=interrupt,
        on_change=(lambda snapshot: sink(snapshot.as_run_status(STATUS_NAME))) if sink else None,
        noun="model",
    )
    for entry in plan.entries:
        fan.add(entry.name, entry.request)
    board.update(Phase.VALIDATING, detail=f"checking {len(plan.entries)} models")
    checked = await fan.prepare()
    bad = [str(result) for result in checked if isinstance(result, InputError)]
    if bad:
        raise InputError("; ".join(bad))
    prepared: list[PreparedGeneration] = list(checked)
    to_pay = round(sum(p.plan.cost_usd for p in prepared if not p.stored), 4)
    estimate = round(sum(p.plan.cost_usd for p in prepared), 4)
    check_spend(to_pay, what=f"{len(prepared)} models", reused_usd=estimate - to_pay, override=max_usd)
    results = await fan.run()
    models = [
        await _model_result(entry, p, r.outcome, r.error, services)
        for entry, p, r in zip(plan.entries, prepared, results, strict=True)
    ]
    video = None
    if any(m.ok for m in models):
        video = await _render(plan, models, out, board)
    return CompareResult(plan, tuple(models), video)


async def _model_result(
    entry: CompareEntry,
    prepared: PreparedGeneration,
    outcome: GenerationOutcome | None,
    error: BaseException | None,
    services: Services,
) -> ModelResult:
    cost = prepared.plan.cost_usd
    if outcome is None:
        return ModelResult(entry, cost, 0.0, None, error)
    try:
        video = await asyncio.to_thread(probe_video, outcome.path, request_id=outcome.request_id)
    except FalAvatarError as exc:
        return ModelResult(entry, cost, 0.0 if outcome.reused else cost, None, exc)
    entry_row = await asyncio.to_thread(services.journal.get, outcome.request_id)
    render_s = None
    if entry_row is not None and entry_row.submitted_at is not None:
        render_s = round(max(0.0, entry_row.updated_at - entry_row.submitted_at), 1)
    return ModelResult(entry, cost, 0.0 if outcome.reused else cost, outcome, None, render_s, video)


async def _render(
    plan: ComparePlan, models: list[ModelResult], out: Path, board: StatusBoard
) -> SideBySideResult:
    tiles = [Tile(m.outcome.path if m.ok else None, tile_label(m)) for m in models]
    samples, rate, _ = first_samples(plan.audio)

    def progress(done: int, total: int) -> None:
        board.update(Phase.STITCHING, progress=done / total)

    board.update(Phase.STITCHING, detail=f"side by side: {len(tiles)} tiles", progress=0.0)
    try:
        return await asyncio.to_thread(
            side_by_side, tiles, out, seconds=plan.seconds, audio=(samples, rate), on_progress=progress
        )
    except OSError as exc:  # e.g. a full disk: every model's video stays stored
        raise LocalStorageError.from_os_error(
            exc, action=f"Writing {out}", path=out, then="run the same compare again (it pays nothing again)"
        ) from None
