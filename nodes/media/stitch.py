"""Join segment videos (separate jobs from the same portrait) into one video, streamed, at the parts' own fps.

Timeline: the planner's frames are at 25 per second (``PLAN_FPS``). The output keeps the model's frame rate
(the first part's): planning frame ``f`` becomes output frame ``round(f × fps / 25)``, computed from each
part's absolute start and end, never from the previous part's rounded length, so 35 joins drift no more
than one (rounding less than a frame). Below, ``S``, ``F`` and the total are in output frames.

Geometry: part i renders timeline frames ``[S_i, S_i + F_i)``; neighbours overlap by
``O_i = S_i + F_i − S_{i+1}`` frames (cut inside a speech pause). Outside overlaps a frame is the covering
part's frame, passed to the encoder as decoded (yuv420p, new timestamp, no RGB conversion). In an overlap
frame t is ``(1−w)·A + w·B`` with ``w = (t − S_{i+1} + 0.5) / O_i``, blended in the yuv420p planes.
Frames at or past ``total_frames`` are dropped. A part file may hold up to 2 frames more or fewer than
asked (extra frames are ignored, missing ones repeat its last frame); larger mismatches are refused.

Sound: the caller's audio, encoded once over the whole length (cut or padded with silence), or, without
it, the parts' own tracks on the same timeline with an equal-power cross-fade in each overlap.

Memory does not grow with the length: parts are decoded one after another (two open around a join),
no frame is buffered beyond the ones being blended, frames and audio are encoded as they come, and audio
reaches the encoder in 40 ms chunks (views of the caller's array). Output: H.264 yuv420p (libx264
``crf 17``, ``veryfast``), AAC, ``+faststart`` (playable while it loads). The same inputs give the same
bytes on one machine and PyAV build: container and AAC ``+bitexact``, and x264 with the fixed thread count
and CPU code of ``x264.py``. ``out`` is written through a temporary file in its folder and renamed, so a
failure leaves no partial ``out``.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

from ..errors import MediaDecodeError
from . import x264
from .video_encode import AAC_RATES
from .video_probe import open_video, video_info

PLAN_FPS = 25  # the planner's timeline: segments' start_frame and frames count 25 per second
CRF = 17  # near the source: benchmarks/README.md (longform_bench.py --crf-sweep)
FRAME_TOLERANCE = 2
AAC_BIT_RATE_PER_CHANNEL = 96_000
AAC_MAX_BIT_RATE = 192_000


@dataclass(frozen=True)
class StitchPart:
    """A segment video that renders planning-timeline frames ``[start_frame, start_frame + frames)``."""

    path: Path
    start_frame: int
    frames: int


@dataclass(frozen=True)
class StitchResult:
    path: Path
    frames: int
    width: int
    height: int
    duration_s: float
    has_audio: bool


def _part_error(path: Path, _request_id: str | None, detail: str) -> MediaDecodeError:
    path = Path(path)
    kept = f"the file is kept at {path} for inspection" if path.is_file() else "the file is gone"
    return MediaDecodeError(
        f"Could not read the segment video {path.name} ({detail}); {kept}. Run again: a segment whose stored "
        "file is missing or damaged is downloaded again from fal at no charge while fal keeps its result.",
        path=str(path),
    )


def _check_geometry(parts: Sequence[StitchPart], total_frames: int) -> None:
    """The planner's layout: contiguous coverage of ``[0, total_frames)``, each overlap with one neighbour."""
    if total_frames < 1:
        raise ValueError(f"total_frames must be at least 1 (got {total_frames})")
    if not parts:
        raise ValueError("stitch needs at least one part")
    if parts[0].start_frame != 0:
        raise ValueError(f"the first part must start at frame 0 (got {parts[0].start_frame})")
    for index, part in enumerate(parts):
        if part.frames < 1:
            raise ValueError(f"part {index} has {part.frames} frames")
        if index == 0:
            continue
        before = parts[index - 1]
        end = before.start_frame + before.frames
        if not before.start_frame < part.start_frame < end:
            raise ValueError(
                f"part {index} starts at {part.start_frame}; it must overlap part {index - 1} "
                f"(frames {before.start_frame}..{end - 1}) and start after it"
            )
        if part.start_frame + part.frames <= end:
            raise ValueError(f"part {index} ends inside part {index - 1}")
        if index >= 2 and parts[index - 2].start_frame + parts[index - 2].frames > part.start_frame:
            raise ValueError(f"part {index} overlaps part {index - 2}; only neighbours may overlap")
    last = parts[-1]
    if last.start_frame >= total_frames or last.start_frame + last.frames < total_frames:
        raise ValueError(
            f"the last part (frames {last.start_frame}..{last.start_frame + last.frames - 1}) "
            f"must end the timeline of {total_frames} frames"
        )


def _probe(part: StitchPart):
    with open_video(part.path, error=_part_error) as (container, stream):
        return video_info(container, stream, Path(part.path))


def _check_length(part: StitchPart, info) -> None:
    if info.frame_count_exact and abs(info.frame_count - part.frames) > FRAME_TOLERANCE:
        raise _part_error(part.path, None, f"it holds {info.frame_count} frames, {part.frames} were expected")


def _spans(parts: Sequence[StitchPart], total: int) -> Iterator[tuple[int, int, int, bool]]:
    """``(first, end, part index, blends with the next part)`` in timeline order; empty spans skipped."""
    for index, part in enumerate(parts):
        begin = 0 if index == 0 else parts[index - 1].start_frame + parts[index - 1].frames
        following = parts[index + 1] if index + 1 < len(parts) else None
        solo_end = min(following.start_frame if following else total, total)
        if begin < solo_end:
            yield begin, solo_end, index, False
        if following is not None:
            end = min(part.start_frame + part.frames, total)
            if following.start_frame < end:
                yield following.start_frame, end, index, True


class _Frames:
    """A part's frames in order at the output size (yuv420p); repeats its last frame for a short file."""

    def __init__(self, part: StitchPart, size: tuple[int, int]):
        self._part, self._size = part, size
        self._stack = ExitStack()
        container, stream = self._stack.enter_context(open_video(part.path, error=_part_error))
        stream.thread_type = "AUTO"
        self._decoded = container.decode(stream)
        self._count, self._last = 0, None

    def next(self) -> av.VideoFrame:
        try:
            frame = next(self._decoded)
        except StopIteration:
            if self._last is None or self._count < self._part.frames - FRAME_TOLERANCE:
                raise _part_error(
                    self._part.path,
                    None,
                    f"it is truncated: {self._count} frames could be "
                    f"decoded, {self._part.frames} were expected",
                ) from None
            return self._last
        except av.FFmpegError as exc:
            raise _part_error(
                self._part.path, None, f"decoding failed after {self._count} frames: {exc}"
            ) from None
        self._count += 1
        width, height = self._size
        if frame.format.name != "yuv420p" or frame.width != width or frame.height != height:
            frame = frame.reformat(width=width, height=height, format="yuv420p", threads=1)
        self._last = frame
        return frame

    def close(self) -> None:
        self._stack.close()


class _Sound:
    """A part's audio as float32 ``[C, n]`` pieces at the output rate and layout; silence past its end."""

    def __init__(self, path: Path, rate: int, channels: int):
        self._path, self._rate, self._channels = Path(path), rate, channels
        try:
            self._container = av.open(str(path), metadata_errors="replace")
        except (av.FFmpegError, OSError) as exc:
            raise _part_error(self._path, None, str(exc)) from None
        streams = self._container.streams
        video = streams.video[0] if streams.video else None
        self._video_start = float(video.start_time * video.time_base) if video and video.start_time else 0.0
        self._decoded = self._container.decode(streams.audio[0]) if streams.audio else iter(())
        self._resampler = av.AudioResampler(format="fltp", layout=f"{channels}c", rate=rate)
        self._queue: deque[np.ndarray] = deque()
        self._queued, self._skip, self._first, self._ended = 0, 0, True, False

    def _push(self, samples: np.ndarray) -> None:
        if self._skip:
            cut = min(self._skip, samples.shape[1])
            samples, self._skip = samples[:, cut:], self._skip - cut
        if samples.shape[1]:
            self._queue.append(samples)
            self._queued += samples.shape[1]

    def _pull(self) -> None:
        try:
            frame = next(self._decoded)
        except StopIteration:
            frame, self._ended = None, True
        except av.FFmpegError as exc:
            raise _part_error(self._path, None, f"decoding its audio failed: {exc}") from None
        if frame is not None and self._first:  # align the track's first sample with the first video frame
            self._first = False
            lead = round(((frame.time or 0.0) - self._video_start) * self._rate)
            if lead > 0:
                self._push(np.zeros((self._channels, lead), np.float32))
            self._skip = max(0, -lead)
        for piece in self._resampler.resample(frame):
            self._push(piece.to_ndarray())

    def take(self, count: int) -> np.ndarray:
        while self._queued < count and not self._ended:
            self._pull()
        pieces, need = [], count
        while need and self._queue:
            head = self._queue[0]
            if head.shape[1] <= need:
                pieces.append(self._queue.popleft())
                need -= head.shape[1]
            else:
                pieces.append(head[:, :need])
                self._queue[0] = head[:, need:]
                need = 0
        self._queued -= count - need
        if need:
            pieces.append(np.zeros((self._channels, need), np.float32))
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)

    def close(self) -> None:
        self._container.close()


class Mp4Writer:
    """An output MP4 (the stitcher's, the side-by-side's): video frames (yuv420p, or any format the encoder
    converts) and float32 audio pieces in, interleaved packets out."""

    def __init__(self, path: Path, size: tuple[int, int], sound: tuple[int, int] | None, fps: Fraction):
        self._out = av.open(
            str(path), "w", format="mp4", options={"fflags": "+bitexact", "movflags": "+faststart"}
        )
        self._time_base = 1 / fps
        try:
            self._video = self._out.add_stream("libx264", rate=fps, options=x264.encoder_options(CRF))
            self._video.width, self._video.height = size
            self._video.pix_fmt = "yuv420p"
            self._video.thread_type = "FRAME"
            self._video.thread_count = x264.threads_for(*size)
            self._audio = None
            if sound is not None:
                rate, channels = sound
                self._audio = self._out.add_stream(  # PyAV resamples other rates on encode
                    "aac",
                    rate=rate if rate in AAC_RATES else 48000,
                    layout=f"{channels}c",
                    options={"flags": "+bitexact"},  # no libavcodec version string in the first frame
                )
                self._audio.bit_rate = min(AAC_MAX_BIT_RATE, AAC_BIT_RATE_PER_CHANNEL * channels)
                self._rate, self._layout, self._samples = rate, f"{channels}c", 0
        except BaseException:
            self._out.close()
            raise

    def video(self, frame: av.VideoFrame, index: int) -> None:
        frame.pts, frame.time_base = index, self._time_base
        frame.pict_type = PictureType.NONE  # a decoded frame's type would force x264's (no B-frames)
        self._out.mux(self._video.encode(frame))

    def audio(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=self._layout
        )
        frame.sample_rate, frame.pts, frame.time_base = self._rate, self._samples, Fraction(1, self._rate)
        self._samples += samples.shape[1]
        self._out.mux(self._audio.encode(frame))

    def finish(self) -> None:
        self._out.mux(self._video.encode(None))
        if self._audio is not None:
            self._out.mux(self._audio.encode(None))
        self._out.close()

    def abandon(self) -> None:
        self._out.close()


def write_mp4(
    out: Path,
    size: tuple[int, int],
    sound: tuple[int, int] | None,
    fps: Fraction,
    write: Callable[[Mp4Writer], None],
) -> None:
    """Make ``out`` with ``write(writer)``: into a hidden temp file beside it, synced and then moved into
    place, so ``out`` is either whole or as it was, whatever fails or is cancelled."""
    temp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    try:
        writer = Mp4Writer(temp, size, sound, fps)
        try:
            write(writer)
        except BaseException:
            writer.abandon()
            raise
        writer.finish()
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)


def _blend(a: av.VideoFrame, b: av.VideoFrame, weight: float) -> av.VideoFrame:
    """``(1−w)·a + w·b`` in the yuv420p planes (8-bit fixed-point weight)."""
    wb = round(weight * 256)
    mixed = a.to_ndarray().astype(np.uint16) * (256 - wb)
    mixed += b.to_ndarray().astype(np.uint16) * wb
    mixed += 128
    mixed >>= 8
    return av.VideoFrame.from_ndarray(mixed.astype(np.uint8), format="yuv420p")


def _given_audio(audio) -> tuple[np.ndarray, int]:
    samples, rate = audio
    if not isinstance(samples, np.ndarray) or samples.ndim != 2 or not 1 <= samples.shape[0] <= 8:
        raise ValueError("audio must be a float32 array [channels (1-8), samples] and its sample rate")
    if int(rate) != rate or rate <= 0:
        raise ValueError(f"the audio sample rate must be a positive whole number (got {rate!r})")
    return samples, int(rate)


def _sample(frame: int, rate: int, fps: Fraction) -> int:
    """The first audio sample of timeline frame ``frame``."""
    return math.floor(frame * rate / fps)


def output_fps(fps: float) -> Fraction:
    """A probed frame rate as the exact rate it stands for (29.97 → 30000/1001, 25.0 → 25)."""
    return Fraction(fps).limit_denominator(1001)


def planning_frames(frames: int, fps: float) -> int:
    """A part's ``frames`` at its own ``fps`` counted on the planning timeline (25 per second)."""
    return frames if not fps else round(Fraction(frames) * PLAN_FPS / output_fps(fps))


def on_output_timeline(
    parts: Sequence[StitchPart], total_frames: int, fps: Fraction
) -> tuple[tuple[StitchPart, ...], int]:
    """The parts and total moved from the planning timeline (25/s) to output frames at ``fps``, each boundary
    rounded from its absolute time (no drift)."""
    if fps == PLAN_FPS:
        return tuple(parts), total_frames

    def at(frame: int) -> int:
        return round(Fraction(frame) * fps / PLAN_FPS)

    moved = tuple(
        StitchPart(p.path, at(p.start_frame), at(p.start_frame + p.frames) - at(p.start_frame)) for p in parts
    )
    return moved, at(total_frames)


def stitch(
    parts: Sequence[StitchPart],
    out: Path,
    *,
    total_frames: int,
    audio: tuple[np.ndarray, int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> StitchResult:
    """Join ``parts`` into ``out`` (MP4) of exactly ``total_frames`` planning frames (25 per second), at the
    first part's own frame rate (see module doc: the result holds ``total_frames × fps / 25`` frames).

    ``audio`` is the original sound ``(float32 [C, T], rate)``; without it the parts' own tracks are
    joined. ``on_progress(done, total_frames)`` is called about every 1 % and at the end; an exception
    it raises (e.g. a cancel) stops the stitch. An unreadable, corrupt or wrong-length part raises
    MediaDecodeError naming its file; ``out`` is then left as it was.
    """
    parts = tuple(parts)
    _check_geometry(parts, total_frames)
    given = _given_audio(audio) if audio is not None else None
    infos = [_probe(part) for part in parts]
    fps = output_fps(infos[0].fps or PLAN_FPS)
    parts, total_frames = on_output_timeline(parts, total_frames, fps)
    _check_geometry(parts, total_frames)
    for part, info in zip(parts, infos, strict=True):
        _check_length(part, info)
    size = (infos[0].width + infos[0].width % 2, infos[0].height + infos[0].height % 2)
    sounding = next((info for info in infos if info.has_audio), None)
    joined = (sounding.audio_sample_rate, sounding.audio_channels) if sounding and given is None else None
    sound = (given[1], given[0].shape[0]) if given is not None else joined
    out = Path(out)
    write_mp4(
        out,
        size,
        sound,
        fps,
        lambda writer: _write(parts, total_frames, size, writer, given, joined, on_progress, fps),
    )
    return StitchResult(out, total_frames, size[0], size[1], float(total_frames / fps), sound is not None)


def _write(parts, total, size, writer: Mp4Writer, given, joined, on_progress, fps: Fraction) -> None:
    """Encode every timeline frame, and its 40 ms of sound, in order.

    ``given``: the caller's ``(samples, rate)``; ``joined``: ``(rate, channels)`` when the parts' own
    tracks make the sound instead; neither: no sound.
    """
    frames: dict[int, _Frames] = {}
    sounds: dict[int, _Sound] = {}
    rate = given[1] if given is not None else joined[0] if joined is not None else PLAN_FPS
    every = max(1, total // 100)
    try:
        for first, end, index, blends in _spans(parts, total):
            for k in (index, index + 1) if blends else (index,):
                if k not in frames:
                    frames[k] = _Frames(parts[k], size)
                    if joined is not None:
                        sounds[k] = _Sound(parts[k].path, *joined)
            overlap = parts[index].start_frame + parts[index].frames - first
            for t in range(first, end):
                picture = frames[index].next()
                if blends:
                    picture = _blend(picture, frames[index + 1].next(), (t - first + 0.5) / overlap)
                writer.video(picture, t)
                lo, hi = _sample(t, rate, fps), _sample(t + 1, rate, fps)
                if given is not None:
                    writer.audio(_padded(given[0], lo, hi))
                elif joined is not None and blends:
                    fade_in = (
                        lo - _sample(first, rate, fps),
                        _sample(first + overlap, rate, fps) - _sample(first, rate, fps),
                    )
                    writer.audio(_crossfade(sounds[index], sounds[index + 1], hi - lo, *fade_in))
                elif joined is not None:
                    writer.audio(sounds[index].take(hi - lo))
                if on_progress is not None and ((t + 1) % every == 0 or t + 1 == total):
                    on_progress(t + 1, total)
            if blends:
                frames.pop(index).close()
                if index in sounds:
                    sounds.pop(index).close()
    finally:
        for source in (*frames.values(), *sounds.values()):
            source.close()


def _crossfade(a: _Sound, b: _Sound, count: int, offset: int, length: int) -> np.ndarray:
    """``count`` samples of an equal-power fade from ``a`` to ``b`` that spans ``length`` samples,
    starting ``offset`` samples into it."""
    angle = (np.arange(offset, offset + count, dtype=np.float64) + 0.5) * (math.pi / 2 / length)
    mixed = a.take(count) * np.cos(angle).astype(np.float32)
    mixed += b.take(count) * np.sin(angle).astype(np.float32)
    return mixed


def _padded(samples: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``samples[:, lo:hi]`` (a view when in range), padded with silence past the end."""
    piece = samples[:, lo:hi]
    if piece.shape[1] == hi - lo:
        return piece
    return np.pad(piece, ((0, 0), (0, hi - lo - piece.shape[1])))
