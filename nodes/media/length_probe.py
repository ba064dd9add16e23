"""How long a media file is, from its container headers (nothing is decoded): what the web extension's
cost estimate needs before a run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from ..errors import InputError
from .video_probe import video_info


@dataclass(frozen=True)
class MediaLengths:
    """``None`` where the file has no such stream (or its headers state no length)."""

    audio_s: float | None
    video_s: float | None
    video_frames: int | None

    def to_json(self) -> dict:
        return {"audio_s": self.audio_s, "video_s": self.video_s, "video_frames": self.video_frames}


def _seconds(stream, container) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def probe_lengths(path: Path, *, field: str = "file") -> MediaLengths:
    """The lengths of ``path``'s first audio and video streams; InputError if it is not a media file."""
    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.FFmpegError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, av.FFmpegError) else None
        raise InputError(f"could not be read as audio or video ({reason or exc})", field=field) from None
    with container:
        audio = container.streams.audio[0] if container.streams.audio else None
        video = container.streams.video[0] if container.streams.video else None
        audio_s = _seconds(audio, container) if audio is not None else None
        if video is None:
            return MediaLengths(audio_s, None, None)
        info = video_info(container, video, Path(path))
        return MediaLengths(audio_s, info.duration_s or None, info.frame_count or None)
