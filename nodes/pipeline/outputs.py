"""Turn a finished generation's MP4 into what downstream nodes need (frames only when asked)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MediaDecodeError
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
    want_audio: bool = True,
    on_frames: Callable[[int, int], None] | None = None,
) -> AvatarOutputs:
    """Probe the file, then decode what is wanted (CPU work: run in a thread).

    A corrupt result is kept (it was paid for); the error says where it is and how to get a new one.
    """
    try:
        info = video_probe.probe_video(path, request_id=request_id)
        frames = None
        if want_frames:
            frames = video_decode.decode_frames(path, request_id=request_id, on_progress=on_frames)
        audio = video_decode.decode_audio(path, request_id=request_id) if want_audio and info.has_audio else None
    except MediaDecodeError as exc:
        exc.message += (
            f" The file is kept at {path} (also at {video_url}). Re-running reuses it; to pay for a new "
            "generation, change the seed."
        )
        exc.args = (exc.message,)
        raise
    return AvatarOutputs(
        path=path, info=info, frames=frames, audio=audio, request_id=request_id, video_url=video_url
    )
