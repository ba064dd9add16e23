"""Price rules of the avatar endpoints, kept in one table with their sources.

fal bills these models per second of generated video. The figures are third-party (fal publishes no
InfiniTalk price page among the sources read), so every estimate is labelled "estimated".
"""

from __future__ import annotations

from dataclasses import dataclass

FPS = 25


@dataclass(frozen=True)
class PriceRule:
    """Per-second pricing: ``usd_per_second[resolution]`` (key ``"*"`` when resolution does not matter)."""

    usd_per_second: dict[str, float]
    source: str
    min_seconds: float = 0.0
    # Billing units are multiplied by ``factor`` when more than ``frames`` frames are generated.
    multiplier_above_frames: tuple[int, float] | None = None

    def rate(self, resolution: str | None) -> float:
        """USD per second; an unknown resolution gets the dearest rate (never under-estimate)."""
        for key in (resolution, "*"):
            if key in self.usd_per_second:
                return self.usd_per_second[key]
        return max(self.usd_per_second.values())

    def estimate(self, frames: int, resolution: str | None = None) -> float:
        """Estimated USD for ``frames`` frames of output at 25 fps."""
        seconds = max(frames / FPS, self.min_seconds)
        cost = seconds * self.rate(resolution)
        if self.multiplier_above_frames and frames > self.multiplier_above_frames[0]:
            cost *= self.multiplier_above_frames[1]
        return round(cost, 4)

    def to_json(self) -> dict:
        above = self.multiplier_above_frames
        return {
            "kind": "per_second",
            "usd_per_second": dict(self.usd_per_second),
            "min_seconds": self.min_seconds,
            "multiplier_above_frames": {"frames": above[0], "factor": above[1]} if above else None,
        }


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
