"""A node's (or the CLI's) whole run: one job, or segments generated in parallel and stitched.

Flow: plan (``segmenting.py``) → prepare every job (checks, estimate, request keys; nothing is paid) →
spend guard → the stored stitched video if an identical run made it, else the fan-out (every segment an
ordinary journaled generation) → stitch (one video, the user's audio encoded once over the whole length)
→ the media store. A failed segment does not stop the others; they stay stored, and a re-run pays only
for what failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..concurrency import Limit
from ..errors import (
    InputError,
    LocalStorageError,
    MediaDecodeError,
    SegmentsFailedError,
    SubmitOutcomeUnknownError,
    UnknownSubmitError,
)
from ..fal.models import QueueHandle
from ..fanout.engine import FanOut, ItemResult, loop_limit
from ..fanout.status import FanOutSnapshot
from ..media.audio import first_samples
from ..media.stitch import PLAN_FPS, StitchPart, stitch
from ..media.verify import check_header
from ..pipeline.generate import Generation, GenerationOutcome, PreparedGeneration
from ..pipeline.inputs import GenerationRequest
from ..pipeline.interrupt import UserInterrupt
from ..pipeline.outputs import AvatarOutputs, materialize, materialize_outcome
from ..pipeline.result_extras import OutputExtras
from ..pipeline.spend import Spend, total
from ..pipeline.status import RunStatus, StatusBoard
from ..services import Services
from ..spend_guard import check_spend
from ..states import Phase, Stage
from ..store.journal import Journal
from .reference import RunRef, SegmentRef
from .segmenting import LongPlan, plan_long_run

STITCH_VERSION = "fal-avatar/stitch/v1"


@dataclass(frozen=True)
class AvatarRun:
    """A finished run: the video, and what it is made of. ``video_urls``: fal's URL of each distinct job
    result (one for a single job). ``single``: the one job's outcome (None for a stitched run). ``spend``:
    what this process submitted for it, and what it reused (see ``pipeline/spend.py``). ``extras``: the
    row's declared output fields of each job's result, in order (none for a stitched video reused whole)."""

    path: Path
    endpoint_id: str
    ref: RunRef
    video_urls: tuple[str, ...]
    reused: bool
    estimate_usd: float
    spend: Spend
    warnings: tuple[str, ...]
    single: GenerationOutcome | None = None
    extras: tuple[OutputExtras, ...] = ()

    @property
    def paid_usd(self) -> float:
        """The estimate of what this process newly spent on the run (0 when it reused everything)."""
        return self.spend.new_usd

    @property
    def video_url_text(self) -> str:
        """The URLs as the node's ``video_url`` output and the CLI's ``video_url`` field show them: one URL,
        or a stitched run's segment URLs comma-joined."""
        return ",".join(self.video_urls)

    @property
    def request_ids(self) -> tuple[str, ...]:
        return self.ref.request_ids

    @property
    def request_id(self) -> str:
        """What the ``request_id`` output shows: the request id, or every segment's (see reference.py)."""
        return str(self.ref)


@dataclass(frozen=True)
class RunEstimate:
    """A prepared run: how many jobs, what the whole result costs (overlaps included), what is still to
    pay (results the journal holds are free), its jobs' request keys, notes for the user, and the length of
    the finished video: its ``seconds`` and the row's own ``fps`` (``None``: fal's file says)."""

    jobs: int
    estimate_usd: float
    to_pay_usd: float
    keys: tuple[str, ...]
    notes: tuple[str, ...]
    stored_usd: float = 0.0  # of the estimate, what earlier runs paid (results the journal holds)
    seconds: float = 0.0
    fps: float | None = None

    @property
    def what(self) -> str:
        return "one job" if self.jobs == 1 else f"{self.jobs} segments"

    @property
    def output_frames(self) -> int | None:
        """The finished video's frames at the row's own fps (``None`` where the row states no fps)."""
        return math.ceil(round(self.seconds * self.fps, 6)) if self.fps else None

    @property
    def length_text(self) -> str:
        """``145 frames @ 25 fps``, ``81 frames @ 16 fps``, or ``6.2 s`` where the fps is fal's to say."""
        frames = self.output_frames
        return f"{frames} frames @ {self.fps:g} fps" if frames is not None else f"{self.seconds:.1f} s"


class AvatarRunner:
    """One request over its whole input, in two steps: :meth:`prepare` (checks, plan, estimate: nothing is
    uploaded or paid) and :meth:`run`. Its fal jobs hold ``limit`` (default:
    :func:`~..fanout.engine.loop_limit`, shared by every run of the event loop: a batch's rows, the items of a
    ComfyUI list input)."""

    def __init__(
        self,
        request: GenerationRequest,
        *,
        services: Services,
        sink: Callable[[RunStatus], None] | None = None,
        interrupt: UserInterrupt | None = None,
        limit: Limit | None = None,
    ) -> None:
        self.request = request
        self.services = services
        self.sink = sink
        self.interrupt = interrupt or UserInterrupt()
        self.endpoint = request.spec.endpoint_id
        self.board = StatusBoard(self.endpoint, sink)
        self._limit = limit  # shared with other runs (a batch's rows); default: the event loop's
        self._plan: LongPlan | None = None
        self._single: Generation | None = None
        self._fan: FanOut | None = None
        self._prepared: list[PreparedGeneration] = []
        self._stored_stitch = False  # the whole video came from an identical earlier run
        self.estimate: RunEstimate | None = None

    @property
    def spend(self) -> Spend:
        """What this process submitted for the run so far, and what it reused (also after a failure)."""
        if self._single is not None:
            return self._single.spend
        if self._stored_stitch:
            return Spend.reused(self.estimate.estimate_usd, jobs=self.estimate.jobs)
        if self._fan is None:
            return Spend()
        own = total(
            g.spend
            for g, item in zip(self._fan.generations, self._fan.items, strict=True)
            if item.shared_with is None
        )
        shared = [
            p.plan.cost_usd
            for p, item in zip(self._prepared, self._fan.items, strict=True)
            if item.shared_with is not None and item.stage is Stage.DONE
        ]
        return own + Spend.reused(round(sum(shared), 4), jobs=len(shared))

    async def prepare(self) -> RunEstimate:
        if self.estimate is not None:
            return self.estimate
        self.board.update(Phase.VALIDATING, detail="planning")
        plan = self._plan = await asyncio.to_thread(plan_long_run, self.request)
        self._limit = self._limit or loop_limit(self.services.settings.max_parallel)
        if plan.single:
            self._single = Generation(
                self.request,
                services=self.services,
                sink=self.sink,
                interrupt=self.interrupt,
                params=plan.params,
            )
            self._prepared = [await self._single.prepare()]
        else:
            for note in (plan.summary, *plan.notes):
                self.board.update(Phase.VALIDATING, detail=f"note: {note}")
            self._fan = FanOut(
                limit=self._limit,
                interrupt=self.interrupt,
                services=self.services,
                on_change=self._show,
            )
            for job in plan.jobs:
                self._fan.add(job.label, job.request)
            self.board.update(Phase.VALIDATING, detail=f"checking {len(plan.jobs)} segments")
            results = await self._fan.prepare()
            bad = [r for r in results if isinstance(r, InputError)]
            if bad:
                raise bad[0]
            self._prepared = list(results)
        cost = round(sum(p.plan.cost_usd for p in self._prepared), 4)
        unique = {p.key: p for p in self._prepared}
        to_pay = round(sum(p.plan.cost_usd for p in unique.values() if not p.stored), 4)
        stored = round(sum(p.plan.cost_usd for p in self._prepared if p.stored), 4)
        keys = tuple(p.key for p in self._prepared)
        seconds = self._prepared[0].plan.seconds if plan.single else plan.total_frames / PLAN_FPS
        self.estimate = RunEstimate(
            jobs=len(self._prepared),
            estimate_usd=cost,
            to_pay_usd=to_pay,
            keys=keys,
            notes=plan.notes,
            stored_usd=stored,
            seconds=seconds,
            fps=self.request.spec.fps,
        )
        self.board.update(cost_usd=to_pay)  # the phases after the fan-out (stitching) show it too
        return self.estimate

    async def run(self) -> AvatarRun:
        estimate = await self.prepare()
        if self._single is not None:
            return await self._run_single(estimate)
        plan, prepared = self._plan, self._prepared
        name = _stitched_name(plan, prepared)
        stored = await _stored_stitch(self.services, name, prepared, plan)
        if stored is not None:
            path, ref, urls = stored
            self.board.update(
                Phase.CACHED,
                detail="stitched video of an identical run; no upload, no new charge",
                cost_usd=0.0,
            )
            self._stored_stitch = True
            return AvatarRun(
                path=path,
                endpoint_id=self.endpoint,
                ref=ref,
                video_urls=urls,
                reused=True,
                estimate_usd=estimate.estimate_usd,
                spend=self.spend,
                warnings=plan.notes,
            )
        results = await self._fan.run()
        await _raise_failures(results, prepared, self.services.journal)
        outcomes = [r.outcome for r in results]
        path = await _stitch(plan, outcomes, self.services, name, self.board)
        ref = RunRef(
            tuple(SegmentRef(o.request_id, j.start_frame) for o, j in zip(outcomes, plan.jobs, strict=True)),
            plan.total_frames,
        )
        warnings = tuple(dict.fromkeys([*plan.notes, *(w for o in outcomes for w in o.warnings)]))
        return AvatarRun(
            path=path,
            endpoint_id=self.endpoint,
            ref=ref,
            video_urls=tuple(dict.fromkeys(o.video_url for o in outcomes)),
            reused=all(o.reused for o in outcomes),
            estimate_usd=estimate.estimate_usd,
            spend=self.spend,
            warnings=warnings,
            extras=tuple(o.extras for o in outcomes),
        )

    async def _run_single(self, estimate: RunEstimate) -> AvatarRun:
        async with self._limit:
            outcome = await self._single.run()
        return AvatarRun(
            path=outcome.path,
            endpoint_id=outcome.endpoint_id,
            ref=RunRef((SegmentRef(outcome.request_id, 0),)),
            video_urls=(outcome.video_url,),
            reused=outcome.reused,
            estimate_usd=estimate.estimate_usd,
            spend=self.spend,
            warnings=outcome.warnings,
            single=outcome,
            extras=(outcome.extras,),
        )

    async def start_ahead(self) -> tuple[QueueHandle, ...]:
        """Submit every job this run still needs and leave them running (see ``Generation.start_ahead``);
        returns the handles of the jobs submitted now. Call :meth:`prepare` and the spend guard first."""
        if self.estimate is None:
            raise RuntimeError("prepare() before start_ahead()")
        if self._single is not None:
            generations = [self._single]
        else:
            leaders = {p.key: g for p, g in zip(self._prepared, self._fan.generations, strict=True)}
            generations = list(leaders.values())
        gate = loop_limit(self.services.settings.max_parallel)

        async def one(generation: Generation) -> QueueHandle | None:
            async with gate:
                return await generation.start_ahead()

        handles = await asyncio.gather(*(one(g) for g in generations))
        return tuple(h for h in handles if h is not None)

    def _show(self, snapshot: FanOutSnapshot) -> None:
        if self.sink is not None:
            self.sink(snapshot.as_run_status(self.endpoint))


async def run_avatar(
    request: GenerationRequest,
    *,
    services: Services,
    sink: Callable[[RunStatus], None] | None = None,
    interrupt: UserInterrupt | None = None,
    max_usd: float | None = None,
) -> AvatarRun:
    """Run ``request`` over its whole input. Raises InputError / SpendLimitError before any money is spent."""
    runner = AvatarRunner(request, services=services, sink=sink, interrupt=interrupt)
    estimate = await runner.prepare()
    check_spend(
        estimate.to_pay_usd,
        what=estimate.what,
        reused_usd=estimate.estimate_usd - estimate.to_pay_usd,
        stored_usd=estimate.stored_usd,
        override=max_usd,
    )
    return await runner.run()


async def start_avatar_ahead(
    request: GenerationRequest,
    *,
    services: Services,
    sink: Callable[[RunStatus], None] | None = None,
) -> tuple[RunEstimate, tuple[QueueHandle, ...]]:
    """Submit the fal jobs of a run that will come later (a queued ComfyUI prompt), under the same checks and
    spend guard as :func:`run_avatar`, and leave them running: that run re-attaches to them at no new cost.
    Returns the run's estimate and the handles of the jobs submitted now (none when all are journaled).
    Cancelled, it leaves what it submitted running and journaled (cancel those through the journal)."""
    runner = AvatarRunner(request, services=services, sink=sink)
    estimate = await runner.prepare()
    check_spend(
        estimate.to_pay_usd, what=estimate.what, reused_usd=estimate.estimate_usd - estimate.to_pay_usd
    )
    return estimate, await runner.start_ahead()


def _stitched_name(plan: LongPlan, prepared: list[PreparedGeneration]) -> str:
    """The stitched video's name in the media store: its segments' request keys and places."""
    spec = {
        "version": STITCH_VERSION,
        "own_audio": plan.own_audio,
        "frames": plan.total_frames,
        "segments": [[p.key, j.start_frame, j.frames] for p, j in zip(prepared, plan.jobs, strict=True)],
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return f"long-{digest[:40]}.mp4"


async def _stored_stitch(
    services: Services, name: str, prepared: list[PreparedGeneration], plan: LongPlan
) -> tuple[Path, RunRef, tuple[str, ...]] | None:
    """The stored stitched video, its reference and its segments' URLs, if an identical run made it and
    every segment is still journaled (its request id goes into the reference)."""
    path = await asyncio.to_thread(services.media.get, name)
    if path is None:
        return None
    entries = [await asyncio.to_thread(services.journal.find_reusable, p.key) for p in prepared]
    if any(e is None or e.request_id is None for e in entries):
        return None
    try:
        await asyncio.to_thread(check_header, path)
    except MediaDecodeError:
        return None
    segments = tuple(SegmentRef(e.request_id, j.start_frame) for e, j in zip(entries, plan.jobs, strict=True))
    urls = tuple(dict.fromkeys(((e.result or {}).get("video") or {}).get("url", "") for e in entries))
    return path, RunRef(segments, plan.total_frames), urls


async def _raise_failures(
    results: list[ItemResult], prepared: list[PreparedGeneration], journal: Journal
) -> None:
    """SegmentsFailedError saying, per failed segment, what running again does (as the pipeline does it)."""
    failed = [(r, p) for r, p in zip(results, prepared, strict=True) if not r.ok]
    if not failed:
        return
    kept, unknown, fresh = [], [], []
    for result, item in failed:
        entry = await asyncio.to_thread(journal.find_reusable, item.key)
        if isinstance(result.error, (SubmitOutcomeUnknownError, UnknownSubmitError)):
            unknown.append(result.label)
        elif entry is not None and entry.request_id is not None:
            kept.append(result.label)
        else:
            fresh.append((result.label, item.plan.cost_usd))
    again = []
    if kept:
        again.append(
            f"takes the result of {', '.join(kept)} from fal at no charge (the fal job is paid and kept)"
        )
    if unknown:
        again.append(
            f"does not submit {', '.join(unknown)} again on its own (the submit got no answer: it looks "
            "in fal's request history first, see the error)"
        )
    if fresh:
        again.append(
            f"pays only for {', '.join(label for label, _ in fresh)} "
            f"(est. ~${sum(cost for _, cost in fresh):.2f})"
        )
    lines = "; ".join(f"{r.label}: {r.error}" for r, _ in failed)
    done = len(results) - len(failed)
    raise SegmentsFailedError(
        f"{len(failed)} of {len(results)} segments failed ({lines}). The other {done} are done and stored. "
        f"Running again {'; '.join(again)}."
    )


async def _stitch(
    plan: LongPlan, outcomes: list[GenerationOutcome], services: Services, name: str, board: StatusBoard
) -> Path:
    parts = [StitchPart(o.path, j.start_frame, j.frames) for o, j in zip(outcomes, plan.jobs, strict=True)]
    audio = None
    if plan.own_audio:
        samples, rate, _ = first_samples(plan.request.audio)
        audio = (samples, rate)

    def progress(done: int, total: int) -> None:
        board.update(Phase.STITCHING, detail=f"frame {done}/{total}", progress=done / max(total, 1))

    board.update(Phase.STITCHING, detail=f"{len(parts)} segments")
    staging = services.media.staging_path(name)
    try:
        await asyncio.to_thread(
            stitch, parts, staging, total_frames=plan.total_frames, audio=audio, on_progress=progress
        )
    except OSError as exc:  # a full disk, a read-only data directory, ...: the paid segments stay stored
        raise LocalStorageError.from_os_error(
            exc,
            action="Stitching the segments",
            path=staging.parent,
            then="run the same command again: every segment is paid for and kept, so it costs nothing.",
        ) from None
    return await asyncio.to_thread(services.media.put, name, staging)


async def materialize_run(
    run: AvatarRun,
    *,
    want_frames: bool,
    want_audio: bool = True,
    on_frames: Callable[[int, int], None] | None = None,
    thorough: bool = False,
    services: Services,
    sink: Callable[[RunStatus], None] | None = None,
) -> AvatarOutputs:
    """Decode what is wanted of the run's video (frames only when asked and when they fit in RAM). A single
    job's damaged file is downloaded again for free (see ``materialize_outcome``)."""
    if run.single is not None:
        return await materialize_outcome(
            run.single,
            want_frames=want_frames,
            want_audio=want_audio,
            on_frames=on_frames,
            thorough=thorough,
            services=services,
            sink=sink,
        )
    return await asyncio.to_thread(
        materialize,
        run.path,
        request_id=run.request_id,
        video_url=run.video_url_text,
        want_frames=want_frames,
        want_audio=want_audio,
        on_frames=on_frames,
    )
