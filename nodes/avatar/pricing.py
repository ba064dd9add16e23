"""Price formulas of the avatar endpoints, each with its source.

fal bills these models by the length of the generated video, but the rule differs per model: per second at
each resolution, seconds rounded up (Aurora), per minute (sync), a minimum (StableAvatar), billing units of
16 frames (LongCat), a multiplier above N frames (InfiniTalk video-to-video). One :class:`PriceRule` says
which; every figure shown to a user is labelled "estimated" (fal's invoice is the truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FPS = 25  # the planning clock when a caller gives no frame count (InfiniTalk's own rate)


@dataclass(frozen=True)
class PriceRule:
    """``usd_per_second[resolution]`` (key ``"*"`` when resolution does not matter), and how fal counts.

    ``round_up_s``: billed seconds are rounded up to a multiple of this (Aurora: 1 s).
    ``by``: the widget whose value keys ``usd_per_second`` (the resolution, or sync v2's model).
    ``unit_frames`` / ``unit_fps``: billed in whole units of this many frames at this frame rate (LongCat).
    ``min_seconds``: the least billed. ``multiplier_above_frames``: (frames, factor) applies when more than
    ``frames`` frames are requested. ``per`` is how fal states the price ("second" | "minute" | "unknown").
    """

    usd_per_second: dict[str, float]
    source: str
    min_seconds: float = 0.0
    multiplier_above_frames: tuple[int, float] | None = None
    round_up_s: float = 0.0
    unit_frames: int = 0
    unit_fps: float = 0.0
    per: str = "second"
    label: str = "estimated"
    by: str = "resolution"  # the widget whose value picks the rate (sync v2: its "model")

    def rate(self, resolution: str | None) -> float:
        """USD per second for a value of the ``by`` widget; an unknown one gets the dearest rate (never
        under-estimate)."""
        for key in (resolution, "*"):
            if key in self.usd_per_second:
                return self.usd_per_second[key]
        return max(self.usd_per_second.values())

    def billed_seconds(self, seconds: float) -> float:
        """The seconds fal bills for ``seconds`` of output."""
        seconds = max(seconds, 0.0)
        if self.round_up_s:
            seconds = math.ceil(round(seconds / self.round_up_s, 6)) * self.round_up_s
        if self.unit_frames and self.unit_fps:
            units = math.ceil(round(seconds * self.unit_fps / self.unit_frames, 6))
            seconds = units * self.unit_frames / self.unit_fps
        return max(seconds, self.min_seconds)

    def estimate(self, seconds: float, resolution: str | None = None, frames: int | None = None) -> float:
        """Estimated USD for ``seconds`` of output (``frames``: the num_frames requested, where the rule
        has a multiplier above a frame count)."""
        cost = self.billed_seconds(seconds) * self.rate(resolution)
        above = self.multiplier_above_frames
        if above and (frames if frames is not None else math.ceil(round(seconds * FPS, 6))) > above[0]:
            cost *= above[1]
        return round(cost, 4)

    def describe(self) -> str:
        """The formula in words: ``$0.08/s 480p, $0.15/s 720p; seconds rounded up``."""
        if self.per == "unknown":
            return "unknown"
        rates = ", ".join(
            (f"${rate * 60:g}/min" if self.per == "minute" else f"${rate:g}/s")
            + ("" if key == "*" else f" {key}")
            for key, rate in self.usd_per_second.items()
        )
        notes = []
        if self.round_up_s:
            notes.append(f"seconds rounded up to {self.round_up_s:g} s")
        if self.unit_frames:
            notes.append(f"billed in units of {self.unit_frames} frames")
        if self.min_seconds:
            notes.append(f"minimum {self.min_seconds:g} s")
        if self.multiplier_above_frames:
            frames, factor = self.multiplier_above_frames
            notes.append(f"×{factor:g} above {frames} frames")
        return "; ".join([rates, *notes])

    def to_json(self) -> dict:
        above = self.multiplier_above_frames
        return {
            "kind": "per_second",
            "usd_per_second": dict(self.usd_per_second),
            "min_seconds": self.min_seconds,
            "multiplier_above_frames": {"frames": above[0], "factor": above[1]} if above else None,
            "round_up_s": self.round_up_s,
            "unit_frames": self.unit_frames,
            "unit_fps": self.unit_fps,
            "per": self.per,
            "label": self.label,
            "by": self.by,
            "text": self.describe(),
        }


def per_minute(usd_per_minute: dict[str, float], source: str, **kw) -> PriceRule:
    """A rule fal states per minute of output (billed by the second here: the estimate errs neither way)."""
    return PriceRule({k: v / 60 for k, v in usd_per_minute.items()}, source, per="minute", **kw)


_INFINITALK_SOURCE = (
    "Third-party price trackers list fal InfiniTalk at $0.20/s (480p) and $0.40/s (720p) of output "
    "video (e.g. github.com/alissonryan/InfiniteTalk, tools/lipsync_options_report_2026.md at b4e3590, "
    "January 2026); not an official fal price page."
)

INFINITALK = PriceRule(usd_per_second={"480p": 0.20, "720p": 0.40}, source=_INFINITALK_SOURCE)

INFINITALK_VIDEO_TO_VIDEO = PriceRule(
    usd_per_second={"480p": 0.20, "720p": 0.40},
    source=_INFINITALK_SOURCE
    + " fal's video-to-video schema (num_frames, https://fal.ai/api/openapi/queue/openapi.json"
    "?endpoint_id=fal-ai/infinitalk/video-to-video): 'If the number of frames is greater than 81, the "
    "video will be generated with 1.25x more billing units.'",
    multiplier_above_frames=(81, 1.25),
)

STABLE_AVATAR = PriceRule(
    usd_per_second={"*": 0.10},
    min_seconds=4.0,
    source="fal's llms.txt for fal-ai/stable-avatar (https://fal.ai/models/fal-ai/stable-avatar/llms.txt): "
    "'Your request will cost $0.10 per generated second, with a minimum of 4 seconds'.",
)


def format_usd(amount: float | None) -> str:
    return "unknown" if amount is None else f"~${amount:.2f}"
