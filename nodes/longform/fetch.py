"""Recovering a run by what its ``request_id`` output showed, for free: one request (``fetch_result``), or
a long run's segments (each from the local store, else from fal while fal keeps it) stitched again.

A rebuilt long video takes its sound from the segments' own tracks (each holds its stretch of the sound),
joined on the same timeline; the segment list carries every place needed (see ``reference.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from ..errors import FalAvatarError, LocalStorageError
from ..fanout.engine import Engine, loop_limit
from ..fanout.status import ItemState
from ..media.stitch import StitchPart, planning_frames, stitch
from ..media.video_probe import probe_video
from ..pipeline.generate import GenerationOutcome
from ..pipeline.recover import fetch_result
from ..pipeline.spend import Spend
from ..pipeline.status import RunStatus, StatusBoard
from ..services import Services
from ..states import Phase, Stage
from .reference import parse_ref
from .run import AvatarRun


async def fetch_run(
    endpoint_id: str,
    text: str,
    *,
    services: Services,
    sink: Callable[[RunStatus], None] | None = None,
    thorough: bool = False,
) -> AvatarRun:
    """The video of an earlier run, without paying again."""
    ref = parse_ref(text)
    if ref.single:
        outcome = await fetch_result(
            endpoint_id, ref.segments[0].request_id, services=services, sink=sink, thorough=thorough
        )
        return AvatarRun(
            path=outcome.path,
            endpoint_id=outcome.endpoint_id,
            ref=ref,
            video_urls=(outcome.video_url,),
            reused=True,
            estimate_usd=0.0,
            spend=Spend(),
            warnings=outcome.warnings,
            single=outcome,
            extras=(outcome.extras,),
        )
    board = StatusBoard(endpoint_id, sink)
    name = f"long-fetched-{hashlib.sha256(str(ref).encode()).hexdigest()[:40]}.mp4"
    stored = await asyncio.to_thread(services.media.get, name)
    if stored is not None:
        board.update(Phase.CACHED, detail="rebuilt earlier; no download")
        return AvatarRun(
            path=stored,
            endpoint_id=endpoint_id,
            ref=ref,
            video_urls=(),
            reused=True,
            estimate_usd=0.0,
            spend=Spend(),
            warnings=(),
        )
    items = [ItemState(f"segment {i + 1}") for i in range(len(ref.segments))]

    def progress(index: int) -> None:
        done = sum(1 for item in items if item.stage is Stage.DONE)
        if items[index].stage is Stage.DONE:
            board.update(Phase.DOWNLOADING, detail=f"segment {done}/{len(items)}", progress=done / len(items))

    engine: Engine[GenerationOutcome] = Engine(items, noun="segment", on_change=progress)
    board.update(Phase.DOWNLOADING, detail=f"{len(ref.segments)} segments")
    results = await engine.run(
        lambda i: fetch_result(endpoint_id, ref.segments[i].request_id, services=services, thorough=thorough),
        limit=loop_limit(services.settings.max_parallel),
    )
    failed = next((r.error for r in results if not r.ok), None)
    if failed is not None:
        raise failed
    outcomes = [r.outcome for r in results]
    infos = await asyncio.gather(*(asyncio.to_thread(probe_video, o.path) for o in outcomes))
    parts = [
        StitchPart(o.path, s.start_frame, planning_frames(info.frame_count, info.fps))
        for o, s, info in zip(outcomes, ref.segments, infos, strict=True)
    ]

    def stitching(count: int, total: int) -> None:
        board.update(Phase.STITCHING, detail=f"frame {count}/{total}", progress=count / max(total, 1))

    staging = services.media.staging_path(name)
    try:
        await asyncio.to_thread(
            stitch, parts, staging, total_frames=ref.total_frames, audio=None, on_progress=stitching
        )
    except FalAvatarError:
        raise
    except ValueError as exc:  # the places in the list do not fit the segments' lengths
        raise FalAvatarError(
            f"The segment list does not fit the segments it names ({exc}). Paste the whole value the run "
            "showed, unchanged; the downloaded segments are kept, so fetching again costs nothing."
        ) from None
    except OSError as exc:
        raise LocalStorageError.from_os_error(
            exc,
            action="Stitching the segments",
            path=staging.parent,
            then="fetch again: the segments are kept, so it costs nothing.",
        ) from None
    path = await asyncio.to_thread(services.media.put, name, staging)
    return AvatarRun(
        path=path,
        endpoint_id=endpoint_id,
        ref=ref,
        video_urls=tuple(o.video_url for o in outcomes),
        reused=True,
        estimate_usd=0.0,
        spend=Spend(),
        warnings=(),
        extras=tuple(o.extras for o in outcomes),
    )
