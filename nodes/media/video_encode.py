"""The source video for video-to-video: an MP4/H.264 file as is, or H.264 MP4 encoded with PyAV.

Uploaded unchanged (``Payload.path``, hash streamed from disk): MP4 (not MOV/3GP) with H.264 8-bit 4:2:0
video, no rotation metadata, and no audio or AAC/MP3 audio. Anything else, and IMAGE frames, is encoded:
libx264 ``crf 14`` ``veryfast`` (near-lossless, ~130 fps at 640x480 on 2 cores), yuv420p, 8 frame threads
(one up to 256x256 pixels), audio as AAC 192 kb/s. Rotated sources are written upright. Odd widths/heights
are padded by one pixel (the last row/column repeated), since 4:2:0 needs even sides; no pixel of the source
is lost.

Determinism: the same frames, or the same source file, give the same bytes and SHA-256 every time on one
machine with one PyAV build, whatever the process did before and whatever its heap holds. Every part is
written bit-exact: the container with ``fflags=+bitexact`` (no muxer version string, zero creation time),
AAC with ``flags=+bitexact`` (no libavcodec version string in its first frame), and x264 with a fixed
thread count (``x264.threads_for``; x264 writes it into the stream and its decisions depend on it) and never
with its AVX-512 macroblock-tree code, which read uninitialised heap memory whenever the picture was not
a multiple of 128 pixels wide (``x264.py`` explains; before, ``MALLOC_PERTURB_`` alone changed the bytes).
Decoding a source and converting it to RGB give the same pixels every time. Another CPU may give other bytes
(x264's floating-point code differs between SIMD levels), and another PyAV build may ship another x264 or
FFmpeg.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from .audio import first_samples
from .payload import Payload, payload_from_bytes, payload_from_file
from .pixels import PixelNotes, check_images, frame_array, to_rgb8
from .video_decode import read_audio
from .video_probe import VideoInfo, open_video, video_info
from .x264 import encoder_options, threads_for

AAC_BIT_RATE = 192_000
AAC_RATES = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}
_AS_IS_AUDIO = {None, "aac", "mp3"}


class _Mp4Writer:
    """H.264 (+ AAC) MP4 in memory, fed uint8 RGB frames; pads odd sides to even."""

    def __init__(
        self,
        width: int,
        height: int,
        rate: Fraction,
        audio: tuple[np.ndarray, int] | None,
        time_base: Fraction | None = None,
    ):
        self.width, self.height = width + width % 2, height + height % 2
        self.frames = 0
        self._buffer = io.BytesIO()
        self._out = av.open(self._buffer, "w", format="mp4", options={"fflags": "+bitexact"})
        self._video = self._out.add_stream("libx264", rate=rate, options=encoder_options())
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        self._video.thread_type = "FRAME"
        self._video.thread_count = threads_for(self.width, self.height)
        if time_base is not None:  # keep the source's timestamps exactly (variable frame rate)
            self._video.codec_context.time_base = time_base
        if audio is not None:
            self._write_audio(*audio)

    def _write_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        layout = f"{samples.shape[0]}c"
        rate = sample_rate if sample_rate in AAC_RATES else 48000  # PyAV resamples on encode
        # bitexact: no libavcodec version string in the first AAC frame (the bytes survive a PyAV upgrade)
        stream = self._out.add_stream("aac", rate=rate, layout=layout, options={"flags": "+bitexact"})
        stream.bit_rate = AAC_BIT_RATE
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=layout
        )
        frame.sample_rate = sample_rate
        frame.pts = 0
        self._out.mux(stream.encode(frame))
        self._out.mux(stream.encode(None))

    def add(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None) -> None:
        pad = ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0))
        if pad[0][1] or pad[1][1]:
            rgb = np.pad(rgb, pad, mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames if pts is None else pts
        if time_base is not None:
            frame.time_base = time_base
        self._out.mux(self._video.encode(frame))
        self.frames += 1

    def finish(self) -> bytes:
        self._out.mux(self._video.encode(None))
        self._out.close()
        return self._buffer.getvalue()


def _rate(fps: float, field: str) -> Fraction:
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"the frame rate must be a positive number (got {fps!r})", field=field)
    return Fraction(fps).limit_denominator(1001)


def encode_frames(
    frames, fps: float, *, audio: dict | None = None, field: str = "frames", pick: Sequence[int] | None = None
) -> Payload:
    """IMAGE frames ``[N,H,W,C]`` (+ optional AUDIO, cut to the video length) → H.264/AAC MP4 bytes.
    ``pick``: the source frame indices to write, in order (an excerpt or a resampling); default all."""
    total, height, width, _ = check_images(
        frames,
        field=field,
        empty="the frames input has no frames (a zero-frame video); connect an IMAGE batch",
    )
    order = range(total) if pick is None else pick
    count = len(order)
    rate = _rate(fps, field)
    warnings: list[str] = []
    sound = None
    if audio is not None:
        samples, sample_rate, audio_warnings = first_samples(audio, field="audio")
        warnings += audio_warnings
        sound = (samples[:, : max(1, round(count / float(rate) * sample_rate))], sample_rate)
    notes = PixelNotes()
    writer = _Mp4Writer(width, height, rate, sound)
    for index in order:
        writer.add(to_rgb8(frame_array(frames, index), notes, field=field))
    data = writer.finish()
    warnings += notes.warnings(field, "frames")
    info = {
        "width": writer.width,
        "height": writer.height,
        "source_width": width,
        "source_height": height,
        "fps": float(rate),
        "frame_count": count,
        "duration_s": count / float(rate),
        "has_audio": sound is not None,
        "reencoded": True,
    }
    return payload_from_bytes(data, "video/mp4", "mp4", warnings=warnings, info=info)


def _input_error(field: str):
    def build(path: Path, _request_id: str | None, detail: str) -> InputError:
        return InputError(
            f"{Path(path).name} cannot be read as a video ({detail}); re-export it as MP4 (H.264)",
            field=field,
        )

    return build


def validate_video_file(path: Path, *, field: str = "video") -> VideoInfo:
    """Probe a source video; InputError if it is missing, unreadable or has no frames."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"the video file {path} does not exist", field=field)
    with open_video(path, error=_input_error(field)) as (container, stream):
        info = video_info(container, stream, path)
    if info.frame_count < 1:
        raise InputError(f"{path.name} has no video frames", field=field)
    return info


def _uploadable_as_is(info: VideoInfo) -> bool:
    return (
        info.container == "mp4"
        and info.codec == "h264"
        and info.pix_fmt in ("yuv420p", "yuvj420p")
        and info.rotation == 0
        and info.audio_codec in _AS_IS_AUDIO
    )


def _transcode(path: Path, field: str) -> bytes:
    sound = read_audio(path, error=_input_error(field))
    writer, last, first = None, -1, None
    with open_video(path, error=_input_error(field)) as (container, stream):
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        try:
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24", threads=1)
                turns = round(frame.rotation / 90) % 4
                if turns:
                    rgb = np.ascontiguousarray(np.rot90(rgb, turns))
                if writer is None:
                    writer = _Mp4Writer(rgb.shape[1], rgb.shape[0], rate, sound, stream.time_base)
                if frame.pts is None:  # no timestamps: constant frame rate
                    writer.add(rgb)
                    continue
                first = frame.pts if first is None else first
                last = max(frame.pts - first, last + 1)  # keep timing (VFR), strictly increasing
                writer.add(rgb, last, frame.time_base)
        except av.FFmpegError as exc:
            raise InputError(f"{path.name} could not be decoded ({exc}); re-export it", field=field) from None
    if writer is None:
        raise InputError(f"{path.name} has no decodable video frames", field=field)
    return writer.finish()


def encode_video_file(path: Path, *, field: str = "video") -> Payload:
    """A source video file as a Payload: as is when fal can take it, otherwise re-encoded (see module doc)."""
    path = Path(path)
    info = validate_video_file(path, field=field)
    facts = asdict(info)
    if _uploadable_as_is(info):
        return payload_from_file(path, "video/mp4", "mp4", info={**facts, "reencoded": False})
    data = _transcode(path, field)
    warnings = [
        f"{field}: {path.name} ({info.container}/{info.codec}) was re-encoded to MP4 (H.264) for upload."
    ]
    return payload_from_bytes(data, "video/mp4", "mp4", warnings=warnings, info={**facts, "reencoded": True})
