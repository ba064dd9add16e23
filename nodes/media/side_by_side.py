"""Several videos side by side in one MP4 (``fal-avatar compare``): each tile scaled to a common height, a
label drawn into its frames with Pillow, the caller's sound once, every tile on the absolute timeline.

Timeline: the output runs at one frame rate, the fastest tile's (at most ``MAX_FPS``). Output frame ``t``
shows, in each tile, that tile's frame on screen at ``t / fps`` seconds (the last one whose timestamp is at or
before it), so tiles of 16, 24, 29.97 and 48 fps stay in step with the sound for the whole length: each
frame is picked by its absolute time, never by counting frames. A tile that ends early holds its last frame;
a failed model's tile (``path=None``) is a dark panel whose label says why.

Memory: each tile is decoded frame by frame (PyAV, as the pack's decoder does: one decoded frame per tile
held), converted by swscale straight to the tile's size; one canvas is reused for every output frame.
Encoding: the stitcher's writer (H.264 yuv420p with ``x264.py``'s deterministic settings, AAC, bitexact,
``+faststart``), through a temporary file in ``out``'s folder that is renamed at the end: a failure leaves
no partial ``out``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import MediaDecodeError
from .stitch import Mp4Writer, output_fps, write_mp4
from .video_probe import open_video, video_info

MAX_HEIGHT = 720  # tiles are scaled to the smallest tile's height, at most this
MAX_FPS = 60
FAILED_ASPECT = 9 / 16  # a failed tile's width / height when no tile succeeded beside it
_BACKGROUND = 32  # a failed tile's grey
_TIME_SLACK = Fraction(1, 10_000)  # timestamps within this of an output instant count as on it


@dataclass(frozen=True)
class Tile:
    """One model's video (``path``), ``None`` for a model that failed; ``label``: lines drawn at its top."""

    path: Path | None
    label: tuple[str, ...]


@dataclass(frozen=True)
class SideBySideResult:
    path: Path
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    has_audio: bool


def _tile_error(path: Path, _request_id: str | None, detail: str) -> MediaDecodeError:
    return MediaDecodeError(f"Could not read the model video {Path(path).name} ({detail}); it is kept at "
                            f"{path}.",
                            path=str(path))  # fmt: skip


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


class _TileFrames:
    """A tile's frames, scaled to ``size``, picked by time: :meth:`at` returns the frame on screen then."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float):
        self._path, self._size, self._fps = Path(path), size, fps
        self._stack = ExitStack()
        container, stream = self._stack.enter_context(open_video(path, error=_tile_error))
        stream.thread_type = "AUTO"
        self._decoded = container.decode(stream)
        self._count, self._origin = 0, None
        self._shown: np.ndarray | None = None
        self._next = self._read()
        if self._next is None:
            self.close()
            raise _tile_error(path, None, "it contains no decodable video frames")

    def _read(self) -> tuple[Fraction, av.VideoFrame] | None:
        try:
            frame = next(self._decoded)
        except StopIteration:
            return None
        except av.FFmpegError as exc:
            raise _tile_error(
                self._path, None, f"decoding failed after {self._count} frames: {exc}"
            ) from None
        if frame.pts is not None and frame.time_base is not None:
            stamp = frame.pts * Fraction(frame.time_base)
        else:  # no timestamps: a constant frame rate
            stamp = Fraction(self._count) / output_fps(self._fps or 25.0)
        self._origin = stamp if self._origin is None else self._origin
        self._count += 1
        return stamp - self._origin, frame

    def at(self, seconds: Fraction) -> np.ndarray:
        while self._next is not None and (self._shown is None or self._next[0] <= seconds + _TIME_SLACK):
            self._shown = self._rgb(self._next[1])
            self._next = self._read()
        return self._shown

    def _rgb(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self._size
        turns = round(frame.rotation / 90) % 4
        if turns % 2:
            width, height = height, width
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height, threads=1)
        return np.rot90(rgb, turns) if turns else rgb

    def close(self) -> None:
        self._stack.close()


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _label(lines: Sequence[str], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The label as RGB pixels and their opacity (0..256), for the top of a tile ``width`` wide."""
    from PIL import Image, ImageDraw

    size = max(10, height // 24)
    font, pad = _font(size), max(3, size // 3)
    band = Image.new("RGBA", (width, pad + len(lines) * (size + pad)), (0, 0, 0, 150))
    draw = ImageDraw.Draw(band)
    for index, line in enumerate(lines):
        draw.text((pad, pad + index * (size + pad)), line, font=font, fill=(255, 255, 255, 255))
    pixels = np.asarray(band).astype(np.uint32)
    alpha = pixels[..., 3:]
    return pixels[..., :3], alpha + (alpha >> 7)


def _draw_label(canvas: np.ndarray, x: int, label: tuple[np.ndarray, np.ndarray]) -> None:
    """Blend a label into the canvas at column ``x`` (8-bit fixed point)."""
    rgb, alpha = label
    area = canvas[: rgb.shape[0], x : x + rgb.shape[1]]
    area[:] = (area * (256 - alpha) + rgb * alpha + 128) >> 8


def _layout(tiles: Sequence[Tile], max_height: int) -> tuple[list, int, list[int]]:
    """Each tile's facts (None for a failed one), the common height and each tile's width."""
    infos = []
    for tile in tiles:
        if tile.path is None:
            infos.append(None)
            continue
        with open_video(tile.path, error=_tile_error) as (container, stream):
            infos.append(video_info(container, stream, tile.path))
    shown = [info for info in infos if info is not None]
    height = _even(min([max_height, *(info.height for info in shown)]))
    widths = [_even(info.width * height / info.height) if info is not None else 0 for info in infos]
    failed_width = min((w for w in widths if w), default=_even(height * FAILED_ASPECT))
    return infos, height, [w or failed_width for w in widths]


def side_by_side(
    tiles: Sequence[Tile],
    out: Path,
    *,
    seconds: float,
    audio: tuple[np.ndarray, int] | None = None,
    max_height: int = MAX_HEIGHT,
    on_progress: Callable[[int, int], None] | None = None,
) -> SideBySideResult:
    """Write ``tiles`` left to right into ``out`` (MP4), ``seconds`` long, with ``audio`` (float32 ``[C, T]``
    and its rate; cut or padded with silence to the length) as its sound. ``on_progress(done, total)``
    about every 1 %. A tile file that cannot be read raises MediaDecodeError naming it."""
    if not tiles or seconds <= 0:
        raise ValueError("side_by_side needs at least one tile and a positive length")
    infos, height, widths = _layout(tiles, max_height)
    rates = [output_fps(info.fps) for info in infos if info is not None and info.fps]
    fps = min(max(rates, default=Fraction(25)), Fraction(MAX_FPS))
    total = max(1, round(seconds * fps))
    canvas = np.full((height, sum(widths), 3), _BACKGROUND, np.uint8)
    lefts = [sum(widths[:i]) for i in range(len(tiles))]
    labels = [_label(tile.label, w, height) for tile, w in zip(tiles, widths, strict=True)]
    sound = (audio[1], audio[0].shape[0]) if audio is not None else None

    def write(writer: Mp4Writer) -> None:
        with ExitStack() as stack:
            readers: dict[int, _TileFrames] = {}
            for index, (info, tile) in enumerate(zip(infos, tiles, strict=True)):
                if info is not None:
                    readers[index] = _TileFrames(tile.path, (widths[index], height), info.fps)
                    stack.callback(readers[index].close)
            _write(canvas, readers, lefts, widths, labels, writer, total, fps, audio, on_progress)

    out = Path(out)
    write_mp4(out, (canvas.shape[1], height), sound, fps, write)
    return SideBySideResult(
        out, canvas.shape[1], height, float(fps), total, float(total / fps), audio is not None
    )


def _write(canvas, readers, lefts, widths, labels, writer: Mp4Writer, total, fps, audio, on_progress) -> None:
    """Every output frame: each tile's frame at that instant, the labels over them, and its share of sound."""
    failed = [i for i in range(len(lefts)) if i not in readers]
    for index in failed:  # painted once: only the video tiles change from frame to frame
        _draw_label(canvas, lefts[index], labels[index])
    every = max(1, total // 100)
    for t in range(total):
        instant = Fraction(t) / fps
        for index, reader in readers.items():
            canvas[:, lefts[index] : lefts[index] + widths[index]] = reader.at(instant)
            _draw_label(canvas, lefts[index], labels[index])
        writer.video(av.VideoFrame.from_ndarray(canvas, format="rgb24"), t)
        if audio is not None:
            samples, rate = audio
            writer.audio(_slice(samples, math.floor(t * rate / fps), math.floor((t + 1) * rate / fps)))
        if on_progress is not None and ((t + 1) % every == 0 or t + 1 == total):
            on_progress(t + 1, total)


def _slice(samples: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``samples[:, lo:hi]``, padded with silence past the end."""
    piece = samples[:, lo:hi]
    return piece if piece.shape[1] == hi - lo else np.pad(piece, ((0, 0), (0, hi - lo - piece.shape[1])))
