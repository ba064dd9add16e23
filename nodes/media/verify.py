"""Is a result video whole? Two checks that find a damaged download or a damaged stored file.

:func:`check_header` is cheap (a few ms; headers and the packet index only): the size fal stated, the
container opens, a video stream with a positive frame count, and as many video packets as the index
lists (a cut-off file has fewer). :func:`verify_video` adds decoding every video frame, without pixel
conversion, frame-threaded and without the deblocking filter, and the sound track: a decoder error, a
frame the decoder had to conceal (``is_corrupt``) or a frame count short of the header's fails it. It
costs about half of decoding the frames into an IMAGE tensor (``benchmarks/verify_bench.py``).

Neither can prove a file is the one fal made (fal states no checksum): damage that still decodes cleanly,
e.g. a few zeroed bytes the H.264 entropy decoder accepts, goes through.
"""

from __future__ import annotations

import os
from pathlib import Path

import av

from ..errors import MediaDecodeError
from .video_probe import VideoInfo, decode_error, open_video, video_info

# Deblocking only smooths decoded pixels; errors are found by the entropy decoder before it. Skipping it
# saves ~10 % of the decode and finds the same damage.
_DECODE_OPTIONS = {"skip_loop_filter": "all"}


def check_header(path: Path, *, request_id: str | None = None, expected_size: int | None = None) -> VideoInfo:
    """Headers and packet index only; MediaDecodeError (``detail`` says what is wrong) if damaged."""
    return _check(Path(path), request_id, expected_size, decode=False)


def verify_video(path: Path, *, request_id: str | None = None, expected_size: int | None = None) -> VideoInfo:
    """:func:`check_header` plus decoding every video frame and the sound track; MediaDecodeError if damaged."""
    return _check(Path(path), request_id, expected_size, decode=True)


def _check(path: Path, request_id: str | None, expected_size: int | None, *, decode: bool) -> VideoInfo:
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise decode_error(path, request_id, f"cannot read the file: {exc.strerror or exc}") from None
    if expected_size is not None and size != expected_size:
        raise decode_error(path, request_id, f"it has {size} bytes where fal stated {expected_size}")
    with open_video(path, request_id, error=_not_a_video) as (container, stream):
        info = video_info(container, stream, path)
        if info.frame_count <= 0:
            raise decode_error(path, request_id, "its headers list no video frames")
        try:
            packets, frames = _read(container, stream, path, request_id, decode=decode)
        except av.FFmpegError as exc:
            raise decode_error(path, request_id, f"decoding failed: {exc.strerror or exc}") from None
    if info.frame_count_exact and packets < info.frame_count:
        raise decode_error(path, request_id, f"it is cut off: {packets} of {info.frame_count} video frames are present")
    if decode and frames < packets:
        raise decode_error(path, request_id, f"only {frames} of {packets} video frames decode")
    return info


def _not_a_video(path: Path, request_id: str | None, detail: str) -> MediaDecodeError:
    return decode_error(path, request_id, f"it does not open as a video: {detail}")


def _read(container, stream, path: Path, request_id: str | None, *, decode: bool) -> tuple[int, int]:
    """One demux pass: count the video packets; with ``decode``, also decode them and the first sound
    track. Returns (video packets, decoded video frames)."""
    streams = [stream]
    if decode:
        stream.thread_type = "AUTO"
        stream.codec_context.options = dict(_DECODE_OPTIONS)
        streams += container.streams.audio[:1]
    packets = frames = 0
    for packet in container.demux(*streams):
        if packet.stream is not stream:
            packet.decode()  # the sound track: only its decoder errors matter
            continue
        packets += 1 if packet.size else 0
        if decode:
            for frame in packet.decode():
                if frame.is_corrupt:
                    raise decode_error(path, request_id, f"video frame {frames + 1} is damaged")
                frames += 1
    return packets, frames
