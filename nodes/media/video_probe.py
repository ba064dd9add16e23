"""Video facts from the container headers (no frame is decoded), and opening videos with clear errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av

from ..errors import MediaDecodeError
from .mp4_rotation import mp4_rotation


@dataclass(frozen=True)
class VideoInfo:
    """``width``/``height`` are upright (after rotation), as :func:`decode_frames` returns them.

    ``frame_count`` comes from the container index when ``frame_count_exact``; otherwise it is
    estimated as duration × fps (e.g. Matroska/WebM), or by counting packets when the headers state no
    duration; only decoding gives the true count.
    ``rotation`` is the counter-clockwise angle (0/90/180/270) applied to make frames upright.
    """

    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None
    codec: str
    rotation: int = 0
    frame_count_exact: bool = True
    pix_fmt: str | None = None
    container: str = ""
    audio_codec: str | None = None


def decode_error(path: Path, request_id: str | None, detail: str) -> MediaDecodeError:
    """The error for a result video that cannot be read; the file is kept for inspection."""
    what = "the result video" if request_id else "the video"
    return MediaDecodeError(
        f"Could not read {what} ({detail}). The file is kept at {path} for inspection; if it is fal's "
        "output, report the request id to fal.",
        path=str(path),
        detail=detail,
        request_id=request_id,
    )


ErrorFactory = Callable[[Path, "str | None", str], Exception]


@contextmanager
def open_video(
    path: Path, request_id: str | None = None, *, error: ErrorFactory = decode_error
) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """Open ``path``; yield ``(container, first video stream)``. ``error(path, request_id, detail)``
    builds the exception for unreadable files (MediaDecodeError by default)."""
    path = Path(path)
    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.FFmpegError, OSError) as exc:
        empty = path.is_file() and path.stat().st_size == 0
        # FFmpeg's own words, without the path (the error names the file where it matters)
        reason = "the file is empty" if empty else (exc.strerror if isinstance(exc, av.FFmpegError) else None)
        raise error(path, request_id, reason or str(exc)) from None
    try:
        if not container.streams.video:
            raise error(path, request_id, "the file has no video stream")
        yield container, container.streams.video[0]
    finally:
        container.close()


def _container_name(container) -> str:
    names = container.format.name.split(",")
    if "mp4" not in names:
        return names[0]
    brand = container.metadata.get("major_brand", "").strip()
    return "mov" if brand == "qt" else "3gp" if brand.startswith("3g") else "mp4"


def _count_packets(path: Path) -> int:
    """Video packets in the file (demuxed, not decoded): a close estimate of the frame count."""
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
    except av.FFmpegError:
        return 0


def video_info(container, stream, path: Path) -> VideoInfo:
    """Facts about an open container's first video stream (headers only)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = stream.frames / fps if stream.frames and fps else 0.0
    exact = stream.frames > 0
    frame_count = stream.frames if exact else round(duration * fps)
    if not exact and frame_count == 0:  # no length in the headers (e.g. browser-recorded WebM)
        frame_count = _count_packets(path)
        duration = frame_count / fps if fps else 0.0
    name = _container_name(container)
    rotation = mp4_rotation(path) if name in ("mp4", "mov", "3gp") else 0
    width, height = stream.codec_context.width, stream.codec_context.height
    if rotation in (90, 270):
        width, height = height, width
    audio = container.streams.audio[0] if container.streams.audio else None
    return VideoInfo(
        width=width,
        height=height,
        fps=fps,
        frame_count=frame_count,
        duration_s=duration,
        has_audio=audio is not None,
        audio_sample_rate=audio.codec_context.sample_rate if audio else None,
        audio_channels=audio.codec_context.channels if audio else None,
        codec=stream.codec_context.name,
        rotation=rotation,
        frame_count_exact=exact,
        pix_fmt=stream.codec_context.pix_fmt,
        container=name,
        audio_codec=audio.codec_context.name if audio else None,
    )


def probe_video(path: Path, *, request_id: str | None = None) -> VideoInfo:
    """Read a video's facts from its headers; MediaDecodeError (naming ``request_id``) if unreadable."""
    with open_video(path, request_id) as (container, stream):
        return video_info(container, stream, Path(path))
