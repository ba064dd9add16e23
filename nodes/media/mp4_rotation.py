"""Display rotation of an MP4/MOV's first video track, read from its ``tkhd`` matrix without decoding.

PyAV exposes the display matrix only on decoded frames (``VideoFrame.rotation``); probing must not decode,
so the few boxes needed are read here. The angle follows FFmpeg's ``av_display_rotation_get`` (the
counter-clockwise rotation that makes the frame upright), rounded to a multiple of 90°.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _boxes(fh: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes between ``start`` and ``end``."""
    pos = start
    while pos + 8 <= end:
        fh.seek(pos)
        size, kind = struct.unpack(">I4s", fh.read(8))
        header = 8
        if size == 1:
            raw = fh.read(8)
            if len(raw) < 8:
                return
            size, header = struct.unpack(">Q", raw)[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, min(pos + size, end)
        pos += size


def _child(fh: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(fh, start, end) if k == kind), None)


def _tkhd_rotation(fh: BinaryIO, start: int) -> int:
    fh.seek(start)
    version = fh.read(1)[0]
    fh.seek(start + (52 if version == 1 else 40))  # the 3x3 matrix (a, b, u, c, d, v, x, y, w)
    a, b = struct.unpack(">ii", fh.read(8))
    angle = -math.degrees(math.atan2(b, a))  # as av_display_rotation_get() on the [a b; c d] matrix
    return (round(angle / 90) % 4) * 90


def mp4_rotation(path: Path) -> int:
    """0, 90, 180 or 270 (counter-clockwise, as ``VideoFrame.rotation``); 0 when absent or unreadable."""
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            moov = next(((s, e) for k, s, e in _boxes(fh, 0, end) if k == b"moov"), None)
            if moov is None:
                return 0
            for kind, start, stop in _boxes(fh, *moov):
                if kind != b"trak":
                    continue
                mdia = _child(fh, start, stop, b"mdia")
                hdlr = _child(fh, *mdia, b"hdlr") if mdia else None
                tkhd = _child(fh, start, stop, b"tkhd")
                if hdlr and tkhd:
                    fh.seek(hdlr[0] + 8)
                    if fh.read(4) == b"vide":
                        return _tkhd_rotation(fh, tkhd[0])
    except (OSError, struct.error, IndexError):
        return 0
    return 0
