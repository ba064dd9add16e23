"""Widgets and media slots that several rows share."""

from __future__ import annotations

from ..frames import FrameRule
from ..row import NOT_SENT, MediaSlot, Param

VOICES = (
    "Aria", "Roger", "Sarah", "Laura", "Charlie", "George", "Callum", "River", "Liam", "Charlotte",
    "Alice", "Matilda", "Will", "Jessica", "Eric", "Chris", "Brian", "Daniel", "Lily", "Bill",
)  # fmt: skip

SEED_MAX = 2**31 - 1
# InfiniTalk / MultiTalk (ai-avatar) seeds: 0..4294967295 in fal's documents (REGISTRY below).
INFINITALK_SEED_MAX = 2**32 - 1
# Where most rows' facts come from: fal's per-endpoint OpenAPI documents
# (https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=<id>) as distilled, with fal's price text, in
# GitHub gokayfem/ComfyUI-fal-API data/fal_registry.json at commit 1780dde (about 2026-08).
REGISTRY = (
    "fal's OpenAPI document as distilled in GitHub gokayfem/ComfyUI-fal-API data/fal_registry.json @ 1780dde"
)
FAL_JS = "fal-ai/fal-js libs/client/src/types/endpoints.ts @ 381105e (2026-08-02)"
# Where fal states no per-job limit, long runs plan with this many seconds per job: the shortest limit any
# source names for these models (third-party notes give Kling Avatar 60 s, Replicate's Fabric page 60 s). A
# job within it is not refused for length by any source read; a longer one might be, at no charge (a 422).
UNKNOWN_LIMIT_PLANNING_S = 60.0
UNKNOWN_LIMIT_NOTE = f"Unknown: fal's per-job limit (long runs plan {UNKNOWN_LIMIT_PLANNING_S:g} s per job)"
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

MASK = MediaSlot(
    "mask",
    "mask",
    "mask_url",
    "Optional: only the person in the white area of the mask speaks.",
    optional=True,
)
IMAGE = MediaSlot("image", "image", "image_url", "The portrait to animate (first image of a batch).")
AUDIO = MediaSlot("audio", "audio", "audio_url", "The speech that drives the lips.")
VIDEO = MediaSlot(
    "video", "video", "video_url", "The footage whose lips are re-synced (MP4/H.264 is uploaded as is)."
)


def prompt(default: str, *, required: bool = True, max_length: int = 5000) -> Param:
    """fal's ``prompt``; an optional one left empty is not sent (fal's own default applies)."""
    omit = NOT_SENT if required else ""
    return Param("prompt", "text", default, PROMPT_TIP, multiline=True, required=required,
                 max_length=max_length, omit_value=omit)  # fmt: skip


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


def random_seed() -> Param:
    """A seed fal draws itself when none is sent (no default in fal's document): -1 sends none."""
    return Param(
        "seed",
        "int",
        -1,
        "Random seed; -1 lets fal choose (not sent). Identical inputs with the same seed reuse the stored "
        "result for free; change it to pay for a new generation.",
        minimum=-1,
        maximum=SEED_MAX,
        omit_value=-1,
        seed=True,
    )


def enum(name: str, default: str, options: tuple[str, ...], tip: str, **kw) -> Param:
    return Param(name, "enum", default, tip, options=options, **kw)


def number(name: str, default: float, low: float, high: float, tip: str, step: float = 0.1) -> Param:
    return Param(name, "float", default, tip, minimum=low, maximum=high, step=step)


def seed(default: int = 42, maximum: int = INFINITALK_SEED_MAX) -> Param:
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
