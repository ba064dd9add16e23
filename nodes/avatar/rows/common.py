"""Widgets and media slots that several rows share."""

from __future__ import annotations

from ..frames import FrameRule
from ..row import MediaSlot, Param

VOICES = (
    "Aria", "Roger", "Sarah", "Laura", "Charlie", "George", "Callum", "River", "Liam", "Charlotte",
    "Alice", "Matilda", "Will", "Jessica", "Eric", "Chris", "Brian", "Daniel", "Lily", "Bill",
)  # fmt: skip

SEED_MAX = 2**31 - 1
LONG_TEXT_CHARS = 20_000  # a long run's whole text; each fal job gets a piece within max_text_chars
INFINITALK_FPS = 25.0
# fal-ai/infinitalk and fal-ai/infinitalk/single-text: num_frames minimum 41, maximum 721, default 145.
INFINITALK_FRAMES = FrameRule(min_frames=41, max_frames=721, default_frames=145)
# fal-ai/infinitalk/video-to-video: minimum 41, maximum 241, default 145 (InfinitalkVideoToVideoInput). The
# field's description text still says "between 81 to 129"; the schema's minimum/maximum are what it validates.
INFINITALK_VIDEO_FRAMES = FrameRule(min_frames=41, max_frames=241, default_frames=145)

PROMPT_TIP = "What the video should show (scene, person, mood). Sent to fal as 'prompt'."
TALK_PROMPT = (
    "A person talking naturally to the camera, with clear lip movements, subtle head motion and "
    "natural blinking. The background stays unchanged."
)

IMAGE = MediaSlot("image", "image", "image_url", "The portrait to animate (first image of a batch).")
AUDIO = MediaSlot("audio", "audio", "audio_url", "The speech that drives the lips.")
VIDEO = MediaSlot("video", "video", "video_url", "The footage whose lips are re-synced (MP4/H.264 is uploaded as is).")


def prompt(default: str, *, required: bool = True, max_length: int = 5000) -> Param:
    return Param("prompt", "text", default, PROMPT_TIP, multiline=True, required=required, max_length=max_length)


def num_frames(rule: FrameRule, source: str, fps: float = INFINITALK_FPS) -> Param:
    return Param(
        "num_frames",
        "int",
        0,
        f"Frames to generate at {fps:g} fps; must be 4n+1 between {rule.min_frames} and {rule.max_frames}. "
        f"0 = auto: the {source} length, rounded up to 4n+1 (fal's default is {rule.default_frames}). "
        "Price grows with the frame count.",
        minimum=0,
        maximum=rule.max_frames,
        step=1,
    )


def resolution(options: tuple[str, ...], default: str | None, tip: str) -> Param:
    """``default=None``: fal has no default, so the user must choose (see ``Param.choice_required``)."""
    return Param("resolution", "enum", default, tip, options=options, required=default is None)


def seed(default: int = 42, maximum: int = SEED_MAX) -> Param:
    return Param(
        "seed",
        "int",
        default,
        "fal's random seed. Identical inputs with the same seed reuse the stored result for free; "
        "change the seed to pay for a new generation.",
        minimum=0,
        maximum=maximum,
        seed=True,
    )


def voice(name: str, default: str, tip: str, fal_name: str | None = None) -> Param:
    return Param(name, "enum", default, tip, options=VOICES, fal_name=fal_name)


ACCELERATION = Param(
    "acceleration",
    "enum",
    "regular",
    "Speed/quality trade-off: none = best quality, slowest; regular = balanced; high = fastest.",
    options=("none", "regular", "high"),
)
