"""Real (if cartoonish) model output: the input picture with a mouth that opens with the audio, as H.264 MP4.

Every frame is the resized + center-cropped input image (or source-video frame) with a dark ellipse whose
opening follows the audio's RMS envelope, so a contact sheet of the output visibly "talks". Output is
yuv420p at the model's frame rate (25 fps unless told; fractional rates such as 30000/1001 are exact) with
exactly the requested number of frames and the audio muxed in as AAC, trimmed or padded with silence to the
video length.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from fractions import Fraction

import av
import numpy as np

from .inputs import SAMPLE_RATE
from .render_cache import RenderCache, render_digest

FPS = 25
STABLE_AVATAR_MIN_FRAMES = 41
STABLE_AVATAR_MAX_FRAMES = 7501  # 5 minutes at 25 fps, 4n+1


class Cancelled(Exception):
    """The runner was asked to stop (client cancel or emulator shutdown)."""


def nearest_bucket(width: int, height: int, buckets: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The (w, h) bucket whose h/w ratio is nearest to the input's."""
    ratio = height / max(width, 1)
    return min(buckets, key=lambda b: abs(b[1] / b[0] - ratio))


def frames_for_audio(seconds: float) -> int:
    """StableAvatar's video length: ceil(seconds * 25), rounded up to 4n+1, clamped to 41..7501."""
    frames = max(math.ceil(seconds * FPS - 1e-9), 1)
    frames = 4 * math.ceil((frames - 1) / 4) + 1
    return min(max(frames, STABLE_AVATAR_MIN_FRAMES), STABLE_AVATAR_MAX_FRAMES)


def frames_for_seconds(seconds: float, fps: Fraction) -> int:
    """Frames that cover ``seconds`` at ``fps`` (at least one)."""
    return max(math.ceil(seconds * fps - 1e-6), 1)


def _sample_bounds(num_frames: int, fps: Fraction) -> np.ndarray:
    """Sample index where each frame starts, plus the end: frame i covers [i/fps, (i+1)/fps)."""
    return np.array([math.floor(i * SAMPLE_RATE / fps) for i in range(num_frames + 1)], dtype=np.int64)


def fit_audio(samples: np.ndarray, num_frames: int, fps: Fraction = Fraction(FPS)) -> np.ndarray:
    """Trim or zero-pad mono samples to exactly the video length."""
    wanted = int(_sample_bounds(num_frames, fps)[-1])
    if len(samples) >= wanted:
        return samples[:wanted].astype(np.float32)
    return np.concatenate([samples, np.zeros(wanted - len(samples), np.float32)]).astype(np.float32)


def mouth_levels(samples: np.ndarray, num_frames: int, fps: Fraction = Fraction(FPS)) -> np.ndarray:
    """Per-frame mouth opening in [0, 1] from the RMS of each frame's own stretch of audio."""
    fitted = fit_audio(samples, num_frames, fps).astype(np.float64)
    bounds = _sample_bounds(num_frames, fps)
    squares = np.concatenate([[0.0], np.cumsum(fitted**2)])
    lengths = np.maximum(bounds[1:] - bounds[:-1], 1)
    rms = np.sqrt((squares[bounds[1:]] - squares[bounds[:-1]]) / lengths)
    peak = float(np.percentile(rms, 95)) if num_frames else 0.0
    if peak <= 1e-4:
        return np.zeros(num_frames)
    return np.clip(rms / peak, 0.0, 1.0)


# Where a mouth sits in a centred head-and-shoulders portrait (the bundled sample's is at 0.58).
MOUTH_HEIGHT = 0.58


class _Mouth:
    """Precomputed ellipse geometry for the mouth region of a (h, w) frame."""

    def __init__(self, width: int, height: int):
        side = min(width, height)
        self.rx = max(side * 0.09, 4.0)
        self.ry_max = max(side * 0.06, 3.0)
        cx, cy = width / 2, height * MOUTH_HEIGHT
        pad = 3
        self.x0, self.x1 = int(cx - self.rx - pad), int(math.ceil(cx + self.rx + pad))
        self.y0, self.y1 = int(cy - self.ry_max - pad), int(math.ceil(cy + self.ry_max + pad))
        ys, xs = np.mgrid[self.y0 : self.y1, self.x0 : self.x1]
        self.dx2 = ((xs + 0.5 - cx) / self.rx) ** 2
        self.dy = ys + 0.5 - cy

    def draw(self, frame: np.ndarray, level: float) -> None:
        ry = 1.5 + level * (self.ry_max - 1.5)
        roi = frame[self.y0 : self.y1, self.x0 : self.x1]
        lips = self.dx2 / 1.15 + (self.dy / (ry + 2.5)) ** 2 <= 1.0
        inner = self.dx2 + (self.dy / ry) ** 2 <= 1.0
        roi[lips] = (150, 45, 55)
        roi[inner] = (30, 8, 12)


def render_mp4(
    backgrounds: Sequence[np.ndarray],
    samples: np.ndarray,
    num_frames: int,
    *,
    fps: Fraction = Fraction(FPS),
    order: Callable[[int], int] | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    should_stop: Callable[[], bool] = lambda: False,
    cache: RenderCache | None = None,
) -> bytes:
    """Encode ``num_frames`` frames at ``fps`` with a talking mouth and the audio muxed in. Output frame i
    shows ``backgrounds[order(i)]`` (default: the backgrounds looped). With a ``cache``, a render of the same
    inputs is read from it instead (then done at once)."""
    pick = order or (lambda index: index % len(backgrounds))
    if cache is None:
        return _render(backgrounds, samples, num_frames, fps, pick, progress, should_stop)
    picks = np.fromiter(map(pick, range(num_frames)), np.int64, num_frames)
    data = cache.get_or_make(
        render_digest(backgrounds, samples, fps, picks),
        lambda: _render(backgrounds, samples, num_frames, fps, pick, progress, should_stop),
    )
    if should_stop():
        raise Cancelled
    progress(num_frames, num_frames)
    return data


def _render(backgrounds, samples, num_frames, fps, pick, progress, should_stop) -> bytes:
    height, width = backgrounds[0].shape[:2]
    levels = mouth_levels(samples, num_frames, fps)
    with tempfile.TemporaryDirectory(prefix="fal-emulator-") as tmp:
        target = os.path.join(
            tmp, "output.mp4"
        )  # +faststart (moov first, like fal's CDN files) needs a real file
        _encode(
            target,
            backgrounds,
            pick,
            fit_audio(samples, num_frames, fps),
            fps,
            levels,
            _Mouth(width, height),
            progress,
            should_stop,
        )
        with open(target, "rb") as handle:
            return handle.read()


# Up to this many pixels a frame, x264's own threads cost more CPU than they save and gain no time (the test
# suite renders at most 128 pixels a side, the demo 640); larger frames encode sooner with them.
X264_ONE_THREAD_MAX_PIXELS = 640 * 640


def _x264_threads(width: int, height: int) -> str:
    return "1" if width * height <= X264_ONE_THREAD_MAX_PIXELS else "0"  # 0: x264 chooses


def _encode(target, backgrounds, pick, sound_samples, fps, levels, mouth, progress, should_stop) -> None:
    height, width = backgrounds[0].shape[:2]
    num_frames = len(levels)
    with av.open(target, "w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "26", "threads": _x264_threads(width, height)}
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        audio.options = {"aac_coder": "fast"}  # a stand-in's sound: FFmpeg's default coder costs 2.5x the CPU
        for index in range(num_frames):
            if should_stop():
                raise Cancelled
            frame = backgrounds[pick(index)].copy()
            mouth.draw(frame, float(levels[index]))
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts, picture.time_base = index, 1 / fps
            container.mux(video.encode(picture))
            progress(index + 1, num_frames)
        container.mux(video.encode(None))
        sound = av.AudioFrame.from_ndarray(sound_samples[None, :], format="fltp", layout="mono")
        sound.sample_rate, sound.pts = SAMPLE_RATE, 0
        container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
