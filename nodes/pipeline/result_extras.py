"""What fal's result says beside the video URL and the seed: the output fields a row declares
(``EndpointSpec.output_extras``: ``duration``, ``timings``, a VideoFile's ``video.fps`` and the like), read
from the result JSON here, once, as typed values. A declared field that is missing or malformed reads as
unknown (``None``): it is information for the user, never a reason to fail a paid result."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if value >= 0 else None


def _count(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _timings(value) -> tuple[tuple[str, float], ...] | None:
    """fal's ``timings``: named durations in seconds (``{"inference": 3.2}``); other entries are skipped."""
    if not isinstance(value, dict):
        return None
    named = tuple((str(k), _number(v)) for k, v in value.items())
    return tuple((k, v) for k, v in named if v is not None) or None


@dataclass(frozen=True)
class OutputExtras:
    """The declared extras of one fal result (``None``: not declared by the row, or not in the result)."""

    duration: float | None = None  # seconds; OmniHuman's is "the duration as used for billing"
    timings: tuple[tuple[str, float], ...] | None = None  # (name, seconds)
    video_fps: float | None = None
    video_width: int | None = None
    video_height: int | None = None
    video_num_frames: int | None = None
    video_duration: float | None = None

    def to_json(self) -> dict:
        """The known values under fal's names (``video.fps``, ``timings`` as an object)."""
        out = {}
        for name, (attribute, _) in _READERS.items():
            value = getattr(self, attribute)
            if value is not None:
                out[name] = dict(value) if name == "timings" else value
        return out

    def describe(self) -> str:
        """One line for a status text: ``duration 6.04 s · inference 3.1 s`` or ``23.976 fps · 848×480 · 24
        frames · video 1.001 s``."""
        parts = []
        if self.duration is not None:
            parts.append(f"duration {self.duration:g} s")
        parts.extend(f"{name} {seconds:.3g} s" for name, seconds in self.timings or ())
        if self.video_fps is not None:
            parts.append(f"{self.video_fps:g} fps")
        if self.video_width is not None and self.video_height is not None:
            parts.append(f"{self.video_width}×{self.video_height}")
        if self.video_num_frames is not None:
            parts.append(f"{self.video_num_frames} frames")
        if self.video_duration is not None:
            parts.append(f"video {self.video_duration:g} s")
        return " · ".join(parts)


# fal's field (``video.<name>``: inside the result's VideoFile) → (attribute, reader).
_READERS: dict[str, tuple[str, Callable]] = {
    "duration": ("duration", _number),
    "timings": ("timings", _timings),
    "video.fps": ("video_fps", _number),
    "video.width": ("video_width", _count),
    "video.height": ("video_height", _count),
    "video.num_frames": ("video_num_frames", _count),
    "video.duration": ("video_duration", _number),
}


def read_extras(result: dict | None, declared: tuple[str, ...]) -> OutputExtras:
    """The ``declared`` extras of fal's ``result`` (the row's ``output_extras``)."""
    values = {}
    for name in declared:
        attribute, reader = _READERS[name]
        where = result if isinstance(result, dict) else {}
        for key in name.split("."):
            where = where.get(key) if isinstance(where, dict) else None
        values[attribute] = reader(where)
    return OutputExtras(**values)


def describe_jobs(extras: tuple[OutputExtras, ...]) -> str:
    """The extras of a run's jobs for a status line: one job's as they are, several jobs' by segment."""
    texts = [e.describe() for e in extras]
    if len(texts) == 1:
        return texts[0]
    return "; ".join(f"segment {i}: {text}" for i, text in enumerate(texts, 1) if text)
