"""Turn a finished generation's MP4 into what downstream nodes need (frames only when asked)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..media import video_decode, video_probe
from ..media.video_probe import VideoInfo


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


def materialize(
    path: Path,
    *,
    request_id: str,
    video_url: str,
    want_frames: bool,
    on_frames: Callable[[int, int], None] | None = None,
) -> AvatarOutputs:
    """Probe the file, then decode audio, and frames only if ``want_frames`` (CPU work: run in a thread)."""
    info = video_probe.probe_video(path, request_id=request_id)
    frames = None
    if want_frames:
        frames = video_decode.decode_frames(path, request_id=request_id, on_progress=on_frames)
    audio = video_decode.decode_audio(path, request_id=request_id) if info.has_audio else None
    return AvatarOutputs(
        path=path, info=info, frames=frames, audio=audio, request_id=request_id, video_url=video_url
    )
