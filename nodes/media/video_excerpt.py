"""A stretch of a source video as its own MP4 (one dubbing segment's source).

Long dubbing runs cut the source video and the audio at the same instants: output frame ``k`` of an
excerpt shows the source frame on screen at ``(first + k) / fps`` s (the latest one shown at or before that
time; the last one is held past the source's end). For InfiniTalk ``fps`` is 25, its own rate, so the model
sees the source frames exactly where their sound is, whatever the source's frame rate. For lip-sync models
that keep the footage's rate (``keep_rate``), ``fps`` is the source's own and ``first`` the planning
timeline's start (25 per second) on the source's frames, rounded from its absolute time like the stitcher's.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from .payload import Payload, payload_from_bytes
from .video_encode import _input_error, _Mp4Writer, encode_frames
from .video_probe import open_video

FPS = 25


def excerpt_indices(source_fps: float, source_count: int, start_frame: int, count: int) -> list[int]:
    """Source frame indices for output frames ``start_frame .. start_frame+count-1`` at 25 fps."""
    last = max(source_count - 1, 0)
    return [min(math.floor((start_frame + k) / FPS * source_fps + 1e-9), last) for k in range(count)]


def encode_frames_excerpt(
    frames, source_fps: float, start_frame: int, count: int, *, field: str = "frames"
) -> Payload:
    """An excerpt of an IMAGE frames batch (at ``source_fps``) as a 25 fps MP4."""
    pick = excerpt_indices(source_fps, int(frames.shape[0]), start_frame, count)
    return encode_frames(frames, FPS, field=field, pick=pick)


def encode_video_excerpt(
    path: Path, start_frame: int, count: int, *, field: str = "video", keep_rate: bool = False
) -> Payload:
    """Planning-timeline frames ``start_frame .. start_frame+count-1`` (25 per second) of a source video file,
    as a silent H.264 MP4 at 25 fps, or at the source's own rate with ``keep_rate`` (the segment's sound is
    uploaded separately)."""
    path = Path(path)
    error = _input_error(field)
    start_s = start_frame / FPS
    writer, shown, out = None, None, 0
    with open_video(path, error=error) as (container, stream):
        stream.thread_type = "AUTO"
        origin = stream.start_time or 0
        rate = float(stream.average_rate or stream.guessed_rate or FPS)
        fps = Fraction(rate).limit_denominator(1001) if keep_rate else Fraction(FPS)
        first = round(Fraction(start_frame) * fps / FPS)
        count = round(Fraction(start_frame + count) * fps / FPS) - first
        targets = [float((first + k) / fps) for k in range(count)]
        if start_s > 0 and stream.time_base:
            container.seek(
                origin + int(start_s / stream.time_base), stream=stream, backward=True, any_frame=False
            )
        try:
            for number, frame in enumerate(container.decode(stream)):
                if frame.pts is not None and stream.time_base:
                    at = float((frame.pts - origin) * stream.time_base)
                else:  # no timestamps (then no seek either): constant frame rate
                    at = number / rate
                while shown is not None and out < count and at > targets[out] + 1e-6:
                    writer.add(shown)
                    out += 1
                if out >= count:
                    break
                shown = _upright(frame)
                if writer is None:
                    writer = _Mp4Writer(shown.shape[1], shown.shape[0], fps, None)
        except av.FFmpegError as exc:
            raise InputError(f"{path.name} could not be decoded ({exc}); re-export it", field=field) from None
    if writer is None:
        raise InputError(f"{path.name} has no decodable video frames after {start_s:.2f} s", field=field)
    while out < count:  # past the source's end: hold its last frame
        writer.add(shown)
        out += 1
    info = {
        "width": writer.width,
        "height": writer.height,
        "fps": float(fps),
        "frame_count": count,
        "duration_s": float(count / fps),
        "has_audio": False,
        "reencoded": True,
        "start_s": start_s,
    }
    return payload_from_bytes(writer.finish(), "video/mp4", "mp4", info=info)


def _upright(frame: av.VideoFrame) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24", threads=1)
    turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
