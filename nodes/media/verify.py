"""Is a result video whole? Two checks that find a damaged download or a damaged stored file.

:func:`check_header` is cheap (one demux pass, no decoding: 25 ms for 721 frames at 480p): the size fal
stated, the container opens, a video stream with a positive frame count, as many video packets as the
index lists (a cut-off file has fewer), and every H.264/H.265 frame split exactly into NAL units free of
the byte sequences the standard forbids inside them (zero-filled or overwritten runs).
:func:`verify_video` adds decoding every video frame, without pixel conversion, frame-threaded and
without the deblocking filter, and the sound track: a decoder error, a frame the decoder had to
conceal (``is_corrupt``) or fewer frames than packets fails it. It costs about 0.8 of decoding the
frames to RGB, i.e. well under half of the frames output (``benchmarks/verify_bench.py``).

Neither can prove a file is the one fal made (fal states no checksum): a changed bit the decoder does
not trip over goes through (1 to 5 in 10 single-bit flips in the benchmark, varying with the frame
threads' timing); cut, replaced, zero-filled or heavily changed files are found.
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
# H.264 7.4.1 / H.265 7.4.2: these byte sequences never occur inside a NAL unit (emulation prevention), so
# finding one in a frame's data means bytes were overwritten, e.g. zero-filled by a failed write.
_FORBIDDEN_IN_NAL = (b"\x00\x00\x00", b"\x00\x00\x01", b"\x00\x00\x02")


def check_header(path: Path, *, request_id: str | None = None, expected_size: int | None = None) -> VideoInfo:
    """Headers and packet index only; MediaDecodeError (``detail`` says what is wrong) if damaged."""
    return _check(Path(path), request_id, expected_size, decode=False)


def verify_video(path: Path, *, request_id: str | None = None, expected_size: int | None = None) -> VideoInfo:
    """:func:`check_header` plus decoding every video frame and the sound track; MediaDecodeError if bad."""
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
        raise decode_error(
            path, request_id, f"it is cut off: {packets} of {info.frame_count} video frames are present"
        )
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
    length_size = _nal_length_size(stream)
    packets = frames = 0
    for packet in container.demux(*streams):
        if packet.stream is not stream:
            packet.decode()  # the sound track: only its decoder errors matter
            continue
        if packet.size:  # (the empty packet at the end only drains the decoder)
            packets += 1
            if length_size and not _nals_intact(bytes(packet), length_size):
                raise decode_error(path, request_id, f"the data of video frame {packets} is damaged")
        if decode:
            for frame in packet.decode():
                if frame.is_corrupt:
                    raise decode_error(path, request_id, f"video frame {frames + 1} is damaged")
                frames += 1
    return packets, frames


def _nal_length_size(stream) -> int | None:
    """Bytes of each NAL unit's length prefix in an MP4 H.264/H.265 stream (from avcC/hvcC); ``None`` for
    other codecs or start-code framing, which are not syntax-checked."""
    extradata = stream.codec_context.extradata or b""
    if not extradata or extradata[0] != 1:
        return None
    if stream.codec_context.name == "h264" and len(extradata) > 4:
        return (extradata[4] & 3) + 1
    if stream.codec_context.name == "hevc" and len(extradata) > 21:
        return (extradata[21] & 3) + 1
    return None


def _nals_intact(data: bytes, length_size: int) -> bool:
    """Whether a packet splits exactly into non-empty NAL units free of the forbidden byte sequences."""
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + length_size], "big")
        start, pos = pos + length_size, pos + length_size + size
        if size == 0 or pos > len(data):
            return False
        if any(data.find(sequence, start, pos) >= 0 for sequence in _FORBIDDEN_IN_NAL):
            return False
    return True
