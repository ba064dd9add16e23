"""Recovering a run by what its ``request_id`` output showed, for free: one request (``fetch_result``), or
a long run's segments (each from the local store, else from fal while fal keeps it) stitched again.

A rebuilt long video takes its sound from the segments' own tracks (each holds its stretch of the sound),
joined on the same timeline; the segment list carries every place needed (see ``reference.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from ..media.stitch import StitchPart, stitch
from ..media.video_probe import probe_video
from ..pipeline.recover import fetch_result
from ..pipeline.status import RunStatus, StatusBoard
from ..services import Services
from ..states import Phase
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
        outcome = await fetch_result(endpoint_id, ref.segments[0].request_id, services=services, sink=sink,
                                     thorough=thorough)
        return AvatarRun(outcome.path, outcome.endpoint_id, ref, outcome.video_url, True, 0.0, 0.0,
                         outcome.warnings, single=outcome)
    board = StatusBoard(endpoint_id, sink)
    name = f"long-fetched-{hashlib.sha256(str(ref).encode()).hexdigest()[:40]}.mp4"
    stored = await asyncio.to_thread(services.media.get, name)
    if stored is not None:
        board.update(Phase.CACHED, detail="rebuilt earlier; no download")
        return AvatarRun(stored, endpoint_id, ref, "", True, 0.0, 0.0, ())
    slots = asyncio.Semaphore(services.settings.max_parallel)
    done = 0

    async def one(request_id: str):
        nonlocal done
        async with slots:
            outcome = await fetch_result(endpoint_id, request_id, services=services, thorough=thorough)
        done += 1
        board.update(Phase.DOWNLOADING, detail=f"segment {done}/{len(ref.segments)}", progress=done / len(ref.segments))
        return outcome

    board.update(Phase.DOWNLOADING, detail=f"{len(ref.segments)} segments")
    outcomes = await asyncio.gather(*(one(s.request_id) for s in ref.segments))
    infos = await asyncio.gather(*(asyncio.to_thread(probe_video, o.path) for o in outcomes))
    parts = [StitchPart(o.path, s.start_frame, info.frame_count)
             for o, s, info in zip(outcomes, ref.segments, infos, strict=True)]

    def progress(count: int, total: int) -> None:
        board.update(Phase.STITCHING, detail=f"frame {count}/{total}", progress=count / max(total, 1))

    staging = services.media.staging_path(name)
    await asyncio.to_thread(stitch, parts, staging, total_frames=ref.total_frames, audio=None, on_progress=progress)
    path = await asyncio.to_thread(services.media.put, name, staging)
    urls = ",".join(o.video_url for o in outcomes)
    return AvatarRun(path, endpoint_id, ref, urls, True, 0.0, 0.0, ())

