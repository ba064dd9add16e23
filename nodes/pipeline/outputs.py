"""Turn a finished generation's MP4 into what downstream nodes need (frames only when asked)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InsufficientMemoryError, MediaDecodeError
from ..fal.models import QueueHandle
from ..media import video_decode, video_probe
from ..media.video_probe import VideoInfo
from ..services import Services
from .follow import JobFollower
from .generate import GenerationOutcome
from .status import RunStatus, StatusBoard


@dataclass
class AvatarOutputs:
    """Decoded results. ``frames`` is ``None`` when they were not requested."""

    path: Path
    info: VideoInfo
    frames: Any | None
    audio: dict | None
    request_id: str
    video_url: str

    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def frame_count(self) -> int:
        return int(self.frames.shape[0]) if self.frames is not None else self.info.frame_count


def frames_bytes(info: VideoInfo) -> int:
    """RAM the decoded IMAGE tensor takes: float32 RGB per pixel and frame."""
    return info.frame_count * info.width * info.height * 3 * 4


def available_memory() -> int | None:
    """Bytes of RAM available now (Linux ``MemAvailable``); ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_frames_fit(info: VideoInfo, path: Path) -> None:
    """Refuse to decode frames that cannot fit in RAM (the OS would kill ComfyUI instead of failing)."""
    need, free = frames_bytes(info), available_memory()
    if free is not None and need > free:
        raise InsufficientMemoryError(
            f"Decoding {info.frame_count} frames at {info.width}×{info.height} needs {need / 1e9:.1f} GB of "
            f"RAM but only {free / 1e9:.1f} GB is free. Disconnect the 'frames' output (the VIDEO output "
            f"works without decoding), or free memory and run again (no new charge). The video is at {path}."
        )


def materialize(
    path: Path,
    *,
    request_id: str,
    video_url: str,
    want_frames: bool,
    want_audio: bool = True,
    on_frames: Callable[[int, int], None] | None = None,
) -> AvatarOutputs:
    """Probe the file, then decode what is wanted (CPU work: run in a thread).

    A file that cannot be decoded is kept (it was paid for); the error says where it is.
    """
    try:
        info = video_probe.probe_video(path, request_id=request_id)
        frames = None
        if want_frames:
            check_frames_fit(info, path)
            frames = video_decode.decode_frames(path, request_id=request_id, on_progress=on_frames)
        audio = (
            video_decode.decode_audio(path, request_id=request_id) if want_audio and info.has_audio else None
        )
    except MediaDecodeError as exc:
        raise exc.with_hint(
            f"The file is kept at {path} (also at {video_url}); re-running reuses it at no charge."
        ) from None
    return AvatarOutputs(
        path=path, info=info, frames=frames, audio=audio, request_id=request_id, video_url=video_url
    )


async def materialize_outcome(
    outcome: GenerationOutcome,
    *,
    want_frames: bool,
    want_audio: bool = True,
    on_frames: Callable[[int, int], None] | None = None,
    thorough: bool = False,
    services: Services,
    sink: Callable[[RunStatus], None] | None = None,
) -> AvatarOutputs:
    """:func:`materialize` a generation's video. A stored copy is only header-checked when it is reused, so
    a decode failure (or, with ``thorough``, a full check of a reused file first) may find it damaged: then
    it is downloaded again from fal at no charge, checked, and decoded again."""
    decode = functools.partial(
        materialize,
        request_id=outcome.request_id,
        video_url=outcome.video_url,
        want_frames=want_frames,
        want_audio=want_audio,
        on_frames=on_frames,
    )
    path = outcome.path
    if thorough and outcome.reused:
        path = await _whole_copy(outcome, services, sink) or path
    try:
        return await asyncio.to_thread(decode, path)
    except MediaDecodeError:
        path = await _whole_copy(outcome, services, sink)
        if path is None:  # the file is whole: the failure is not damage, a new download would not help
            raise
    return await asyncio.to_thread(decode, path)


async def _whole_copy(
    outcome: GenerationOutcome, services: Services, sink: Callable[[RunStatus], None] | None
) -> Path | None:
    """A good download replacing ``outcome.path`` if that file is damaged (or gone); ``None`` if whole."""
    follower = JobFollower(services, StatusBoard(outcome.endpoint_id, sink))
    if await follower.stored_copy(outcome.request_id, outcome.result, thorough=True) is not None:
        return None
    queue = follower.services.client.urls.queue
    handle = QueueHandle.for_request(outcome.endpoint_id, outcome.request_id, queue)
    return await follower.download(handle, outcome.result)
