"""Frame counts: InfiniTalk renders 25 fps in blocks of 4 frames plus one (4n+1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .speech_rate import LATIN_CHARS_PER_SECOND, speech_units

FPS = 25
# Speech runs at roughly 14 Latin characters per second (about 150 words per minute) in the built-in voices;
# other scripts are weighed against that (speech_rate.py).
CHARS_PER_SECOND = LATIN_CHARS_PER_SECOND


@dataclass(frozen=True)
class FrameRule:
    """What an endpoint accepts for ``num_frames``."""

    min_frames: int
    max_frames: int
    default_frames: int


def round_up_4n1(frames: int) -> int:
    """Smallest 4n+1 that is >= ``frames``."""
    frames = max(int(frames), 1)
    return frames + (1 - frames) % 4


def round_down_4n1(frames: int) -> int:
    """Largest 4n+1 that is <= ``frames`` (at least 1)."""
    frames = max(int(frames), 1)
    return frames - (frames - 1) % 4


def frames_covering(seconds: float) -> int:
    """Frames that cover ``seconds`` at 25 fps (not rounded to 4n+1)."""
    return math.ceil(round(seconds * FPS, 6))


def frames_for_seconds(seconds: float) -> int:
    """Frames that cover ``seconds`` of speech at 25 fps, rounded up to 4n+1."""
    return round_up_4n1(frames_covering(seconds))


def auto_frames(seconds: float, rule: FrameRule, *, source_frames: int | None = None) -> int:
    """num_frames for "auto": the audio length at 25 fps, rounded up to 4n+1, clamped to the rule
    (and to the source video's length for video-to-video)."""
    frames = min(frames_for_seconds(seconds), rule.max_frames)
    if source_frames is not None:
        frames = min(frames, round_down_4n1(source_frames))
    return max(frames, rule.min_frames)


def speech_seconds(text: str, chars_per_second: float = CHARS_PER_SECOND) -> float:
    """Estimated spoken length of ``text`` in the built-in voices (whitespace runs count as one; a character
    of a slower-spoken script counts more, see ``speech_rate``)."""
    return speech_units(text) / chars_per_second
