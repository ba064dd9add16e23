"""A result MP4 → IMAGE ``[N,H,W,3]`` float32 0..1 and AUDIO, decoded lean (benchmarks/media_bench.py: about
1.1× the time of decoding alone plus one first touch of the output, peak memory ≈ the output tensor).

Frames go one by one from PyAV (``thread_type='AUTO'``, swscale on one thread) straight into one
preallocated float32 tensor: ``out[i].copy_(from_numpy(rgb24)).div_(255)``, the frame freed before the
next. There is no list of frames and no second full-size copy, so peak memory ≈ the output tensor.
A second thread touches the tensor's pages ahead of the writer, up to the expected frame count
(``_Prefault``): the first-touch page faults, about half the cost of filling a fresh tensor, then run
beside decoding.

Frame count: the container's count when it has one (MP4); otherwise an estimate from duration × fps with
10 % headroom. Pages of the preallocated tensor that are never written are never touched, so headroom
costs address space, not RAM (an estimate above the true count costs the difference); a short result is
returned as a narrowed view. If the estimate is too low, the tensor is regrown by 1.5× (a transient
second copy; only for containers without an index).

Rotation metadata is honoured: frames come out upright (90/180/270°; flips are ignored). Variable
frame rate files yield every decoded frame (no resampling to a constant rate).
"""

from __future__ import annotations

import math
import mmap
import threading
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from .video_probe import ErrorFactory, decode_error, open_video, video_info

_HEADROOM = 1.10


def _check_args(max_frames: int | None, stride: int) -> None:
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1 or None (got {max_frames})")
    if stride < 1:
        raise ValueError(f"stride must be at least 1 (got {stride})")


def _allocate(torch, frames: int, height: int, width: int, path: Path, request_id: str | None):
    try:
        return torch.empty((frames, height, width, 3), dtype=torch.float32)
    except RuntimeError:  # torch's CPU allocator raises RuntimeError when memory runs out
        gib = frames * height * width * 12 / 2**30
        raise decode_error(
            path,
            request_id,
            f"not enough memory for {frames} frames of {width}x{height} ({gib:.1f} GiB as "
            "float32); decode fewer frames (max_frames / stride) or use the VIDEO output",
        ) from None


class _Prefault:
    """Touches one float per memory page of the output's frames on a second thread, ahead of the writer
    and up to ``frames``, so the first-touch page faults (most of the cost of filling a fresh float32
    tensor) run beside decoding instead of after each frame. ``claim(i)`` before writing frame ``i``: the
    thread never touches a frame from then on, and the call waits while it is touching that one (it writes
    zeros)."""

    _STRIDE = mmap.PAGESIZE // 4  # float32 elements per page

    def __init__(self, out, frames: int) -> None:
        self._flat = out.view(out.shape[0], -1)
        self._limit = min(frames, out.shape[0])
        self._next, self._busy, self._stop = 1, -1, False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="fal-avatar-prefault", daemon=True)
        self._thread.start()

    def claim(self, index: int) -> None:
        with self._changed:
            self._next = max(self._next, index + 1)
            while self._busy == index:
                self._changed.wait()

    def close(self) -> None:
        with self._changed:
            self._stop = True
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stop or self._next >= self._limit:
                    return
                index = self._busy = self._next
                self._next += 1
            try:
                self._flat[index, :: self._STRIDE].zero_()  # torch releases the GIL
            finally:  # a claim waiting for this frame must never hang
                with self._changed:
                    self._busy = -1
                    self._changed.notify_all()


def decode_frames(
    path: Path,
    *,
    max_frames: int | None = None,
    stride: int = 1,
    request_id: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
):
    """Decode every ``stride``-th frame (at most ``max_frames``) into a torch float32 ``[N,H,W,3]``.

    ``on_progress(done, expected)`` is called about every 1 % and at the end. Corrupt (a frame the decoder
    had to conceal counts), truncated or empty files raise MediaDecodeError (naming ``request_id``,
    keeping ``path``).
    """
    import torch

    _check_args(max_frames, stride)
    path = Path(path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # process-global in ComfyUI: restored below
    try:
        with open_video(path, request_id) as (container, stream):
            info = video_info(container, stream, path)
            expected = max(1, math.ceil(info.frame_count / stride))
            if max_frames is not None:
                expected = min(expected, max_frames)
            capacity = expected if info.frame_count_exact else max(expected, round(expected * _HEADROOM) + 2)
            if max_frames is not None:
                capacity = min(capacity, max_frames)
            stream.thread_type = "AUTO"
            out, done, seen, turns, size = None, 0, 0, 0, None
            every = max(1, expected // 100)
            prefault = None
            try:
                for frame in container.decode(stream):
                    seen += 1
                    if frame.is_corrupt:  # the decoder had to conceal damage: not fal's pixels
                        raise decode_error(path, request_id, f"frame {seen} is damaged")
                    if (seen - 1) % stride:
                        del frame
                        continue
                    if out is None:
                        size = (frame.width, frame.height)
                        turns = round(frame.rotation / 90) % 4
                        height, width = (size[0], size[1]) if turns % 2 else (size[1], size[0])
                        out = _allocate(torch, capacity, height, width, path, request_id)
                        prefault = _Prefault(out, expected)
                    elif done == out.shape[0]:
                        if prefault is not None:  # done: it stops at the estimate. Drop the old tensor.
                            prefault.close()
                            prefault = None
                        grown = _allocate(
                            torch, max(done + 16, done * 3 // 2), *out.shape[1:3], path, request_id
                        )
                        grown[:done].copy_(out)
                        out = grown
                    rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1], threads=1)
                    if prefault is not None:
                        prefault.claim(done)
                    pixels = torch.from_numpy(rgb)
                    if turns:
                        pixels = torch.rot90(pixels, turns, (0, 1))
                    out[done].copy_(pixels).div_(255.0)
                    done += 1
                    del rgb, pixels, frame
                    if on_progress is not None and (done % every == 0 or done == expected):
                        on_progress(done, max(expected, done))
                    if done == max_frames:
                        break
            except av.FFmpegError as exc:
                raise decode_error(path, request_id, f"decoding failed after {seen} frames: {exc}") from None
            finally:
                if prefault is not None:
                    prefault.close()
            if done == 0:
                raise decode_error(path, request_id, "it contains no decodable video frames")
            if done != max_frames and info.frame_count_exact and seen < info.frame_count:
                raise decode_error(
                    path, request_id, f"it is truncated: {seen} of {info.frame_count} frames could be decoded"
                )
    finally:
        torch.set_num_threads(threads)
    return out if done == out.shape[0] else out.narrow(0, 0, done)


def read_audio(
    path: Path, *, request_id: str | None = None, error: ErrorFactory = decode_error
) -> tuple[np.ndarray, int] | None:
    """The first audio track as float32 ``[C,T]`` at its own rate, cut to the video's duration (AAC pads
    its last frame); ``None`` without audio."""
    path = Path(path)
    with open_video(path, request_id, error=error) as (container, stream):
        if not container.streams.audio:
            return None
        audio = container.streams.audio[0]
        limit = video_info(container, stream, path).duration_s
        to_float = av.AudioResampler(format="fltp")  # keeps layout and rate
        chunks = []
        try:
            for frame in container.decode(audio):
                chunks.extend(f.to_ndarray() for f in to_float.resample(frame))
            chunks.extend(f.to_ndarray() for f in to_float.resample(None))
        except av.FFmpegError as exc:
            raise error(path, request_id, f"decoding the audio failed: {exc}") from None
        sample_rate = audio.codec_context.sample_rate
    if not chunks:
        return None
    samples = np.concatenate(chunks, axis=1)
    if limit > 0:
        samples = samples[:, : max(1, round(limit * sample_rate))]
    return np.ascontiguousarray(samples), sample_rate


def decode_audio(path: Path, *, request_id: str | None = None) -> dict | None:
    """AUDIO ``{'waveform': float32 [1,C,T], 'sample_rate'}`` of the file (see :func:`read_audio`)."""
    import torch

    decoded = read_audio(path, request_id=request_id)
    if decoded is None:
        return None
    samples, sample_rate = decoded
    return {"waveform": torch.from_numpy(samples).unsqueeze(0), "sample_rate": sample_rate}
