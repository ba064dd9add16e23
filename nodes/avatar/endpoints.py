"""The four avatar endpoints as rows of data: fields, limits, prices, output shape.

Everything endpoint-specific lives here; the node adapter, validation, request building, the CLI and
the web extension all read these rows, so the endpoints differ in data, not in code. Defaults, ranges
and enums are fal's, as its per-endpoint OpenAPI documents state them
(``https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=<id>``; ``fal-avatar doctor`` compares).
The values here were checked against public copies of those documents taken on 2026-01-26: GitHub
``TanStack/ai`` at commit ec0e5a493, ``packages/typescript/ai-fal/scripts/openapi/`` (``video-to-video.json``
holds ``InfinitalkInput`` and ``InfinitalkVideoToVideoInput``, ``text-to-video.json``
``InfinitalkSingleTextInput``, ``audio-to-video.json`` ``StableAvatarInput``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import pricing
from .frames import FrameRule

NOT_SENT = object()  # marker: a parameter value that means "leave the field out of the request"

VOICES = (
    "Aria", "Roger", "Sarah", "Laura", "Charlie", "George", "Callum", "River", "Liam", "Charlotte",
    "Alice", "Matilda", "Will", "Jessica", "Eric", "Chris", "Brian", "Daniel", "Lily", "Bill",
)  # fmt: skip

SEED_MAX = 2**31 - 1
# InfiniTalk / MultiTalk seeds: 0..4294967295 in fal's documents (GitHub gokayfem/ComfyUI-fal-API
# data/fal_registry.json @ 1780dde)
INFINITALK_SEED_MAX = 2**32 - 1
LONG_TEXT_CHARS = 20_000  # a long run's whole text; each fal job gets a piece within max_text_chars


@dataclass(frozen=True)
class Param:
    """A widget. ``name`` is fal's field name; ``fal=False`` for local-only widgets (never sent)."""

    name: str
    kind: str  # "text" | "int" | "float" | "enum"
    default: object
    tooltip: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()
    multiline: bool = False
    max_length: int | None = None
    required: bool = False  # a text that must not be empty
    omit_value: object = NOT_SENT  # this widget value means "do not send the field"
    seed: bool = False
    fal: bool = True


@dataclass(frozen=True)
class MediaSlot:
    """A media input socket and the fal URL field it is uploaded to (``None``: used locally)."""

    name: str
    kind: str  # "image" | "audio" | "video" | "frames"
    fal_field: str | None
    tooltip: str
    optional: bool = False


@dataclass(frozen=True)
class EndpointSpec:
    node_id: str
    endpoint_id: str
    display_name: str
    description: str
    media: tuple[MediaSlot, ...]
    params: tuple[Param, ...]
    price: pricing.PriceRule
    frames: FrameRule | None  # None: the length follows the audio (no num_frames field)
    length_from: str  # "audio" | "text": what "auto" length is measured from
    min_audio_s: float = 1.0
    max_audio_s: float | None = None  # audio beyond this is not rendered
    max_image_side: int = 1280
    max_text_chars: int | None = None
    output_has_seed: bool = True
    search_aliases: tuple[str, ...] = field(default=())
    status: str = "live"  # "live" | "delisted" (fal removed it from its catalogue; the row stays loadable)
    status_note: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def has_param(self, name: str) -> bool:
        return any(p.name == name for p in self.params)

    def slot(self, name: str) -> MediaSlot:
        for s in self.media:
            if s.name == name:
                return s
        raise KeyError(name)


# --- shared widgets ---------------------------------------------------------------------------------

# fal-ai/infinitalk and fal-ai/infinitalk/single-text: num_frames minimum 41, maximum 721, default 145.
INFINITALK_FRAMES = FrameRule(min_frames=41, max_frames=721, default_frames=145)
# fal-ai/infinitalk/video-to-video: minimum 41, maximum 241, default 145 (InfinitalkVideoToVideoInput). The
# field's description text still says "between 81 to 129"; the schema's minimum/maximum are what it validates.
INFINITALK_VIDEO_FRAMES = FrameRule(min_frames=41, max_frames=241, default_frames=145)

_PROMPT_TIP = "What the video should show (scene, person, mood). Sent to fal as 'prompt'."
_TALK_PROMPT = (
    "A person talking naturally to the camera, with clear lip movements, subtle head motion and "
    "natural blinking. The background stays unchanged."
)
_AVATAR_PROMPT = (
    "A person is in a relaxed pose. As the video progresses, the character speaks while arm and body "
    "movements are minimal and consistent with a natural speaking posture. Hand movements remain "
    "minimal. Don't blink too often. Preserve background integrity matching the reference image's "
    "spatial configuration, lighting conditions, and color temperature."
)


def _prompt(default: str) -> Param:
    return Param("prompt", "text", default, _PROMPT_TIP, multiline=True, required=True, max_length=5000)


def _num_frames(rule: FrameRule, source: str) -> Param:
    return Param(
        "num_frames",
        "int",
        0,
        f"Frames to generate at 25 fps; must be 4n+1 between {rule.min_frames} and {rule.max_frames}. "
        f"0 = auto: the {source} length, rounded up to 4n+1 (fal's default is {rule.default_frames}). "
        "Price grows with the frame count.",
        minimum=0,
        maximum=rule.max_frames,
        step=1,
    )


_RESOLUTION = Param(
    "resolution",
    "enum",
    "480p",
    "Output resolution. 720p costs twice as much per second as 480p.",
    options=("480p", "720p"),
)
_ACCELERATION = Param(
    "acceleration",
    "enum",
    "regular",
    "Speed/quality trade-off: none = best quality, slowest; regular = balanced; high = fastest.",
    options=("none", "regular", "high"),
)
_SEED = Param(
    "seed",
    "int",
    42,
    "fal's random seed. Identical inputs with the same seed reuse the stored result for free; "
    "change the seed to pay for a new generation.",
    minimum=0,
    maximum=INFINITALK_SEED_MAX,
    seed=True,
)

_IMAGE = MediaSlot("image", "image", "image_url", "The portrait to animate (first image of a batch).")
_AUDIO = MediaSlot("audio", "audio", "audio_url", "The speech that drives the lips.")


INFINITALK_IMAGE = EndpointSpec(
    node_id="FalInfiniTalkImageToVideo",
    endpoint_id="fal-ai/infinitalk",
    display_name="fal InfiniTalk (Image + Audio)",
    description="InfiniTalk on fal: a portrait and a speech clip become a talking video (25 fps).",
    media=(_IMAGE, _AUDIO),
    params=(_prompt(_TALK_PROMPT), _num_frames(INFINITALK_FRAMES, "audio"), _RESOLUTION, _ACCELERATION, _SEED),
    price=pricing.INFINITALK,
    frames=INFINITALK_FRAMES,
    length_from="audio",
    max_audio_s=INFINITALK_FRAMES.max_frames / 25,
    search_aliases=("infinitalk", "talking head", "lip sync", "avatar"),
)

INFINITALK_TEXT = EndpointSpec(
    node_id="FalInfiniTalkTextToVideo",
    endpoint_id="fal-ai/infinitalk/single-text",
    display_name="fal InfiniTalk (Image + Text)",
    description="InfiniTalk on fal with a built-in voice: a portrait and a text become a talking video.",
    media=(_IMAGE,),
    params=(
        Param(
            "text_input",
            "text",
            "Hello! This video was made with InfiniTalk on fal.",
            "The text the avatar speaks, in the chosen voice. With num_frames 0 (auto) a text longer than "
            "one fal job can speak is split at sentence ends into segments, joined in the pauses.",
            multiline=True,
            required=True,
            max_length=LONG_TEXT_CHARS,
        ),
        Param("voice", "enum", "Sarah", "The built-in voice that speaks text_input.", options=VOICES),
        _prompt(_TALK_PROMPT),
        _num_frames(INFINITALK_FRAMES, "estimated speech"),
        _RESOLUTION,
        _ACCELERATION,
        _SEED,
    ),
    price=pricing.INFINITALK,
    frames=INFINITALK_FRAMES,
    length_from="text",
    max_text_chars=1500,
    search_aliases=("infinitalk", "text to speech", "talking head", "avatar"),
)

INFINITALK_VIDEO = EndpointSpec(
    node_id="FalInfiniTalkVideoToVideo",
    endpoint_id="fal-ai/infinitalk/video-to-video",
    display_name="fal InfiniTalk (Video Dubbing)",
    description="InfiniTalk video-to-video on fal: re-animates the lips of a video to new speech.",
    media=(
        MediaSlot("video", "video", "video_url", "The video to dub (MP4/H.264 is uploaded as is).", optional=True),
        MediaSlot(
            "frames", "frames", "video_url", "Instead of a VIDEO: frames (IMAGE batch) at 'fps'.", optional=True
        ),
        _AUDIO,
    ),
    params=(
        _prompt(_TALK_PROMPT),
        _num_frames(INFINITALK_VIDEO_FRAMES, "audio (and source video)"),
        _RESOLUTION,
        _ACCELERATION,
        _SEED,
        Param(
            "fps",
            "float",
            25.0,
            "Frame rate of the 'frames' input (ignored when a VIDEO is connected).",
            minimum=1.0,
            maximum=120.0,
            step=0.01,
            fal=False,
        ),
    ),
    price=pricing.INFINITALK_VIDEO_TO_VIDEO,
    frames=INFINITALK_VIDEO_FRAMES,
    length_from="audio",
    max_audio_s=INFINITALK_VIDEO_FRAMES.max_frames / 25,
    search_aliases=("infinitalk", "dubbing", "lip sync", "video to video"),
)

STABLE_AVATAR = EndpointSpec(
    node_id="FalStableAvatar",
    endpoint_id="fal-ai/stable-avatar",
    display_name="fal StableAvatar (Image + Audio)",
    description="StableAvatar on fal: audio-driven avatar video whose length follows the audio (up to 5 min).",
    status="delisted",
    status_note="fal removed it from its catalogue in 2026-08; whether its queue still accepts jobs is unknown",
    media=(_IMAGE, _AUDIO),
    params=(
        _prompt(_AVATAR_PROMPT),
        Param(
            "aspect_ratio",
            "enum",
            "auto",
            "Output shape: 16:9 (832×480), 1:1 (512×512), 9:16 (480×832); auto follows the image.",
            options=("16:9", "1:1", "9:16", "auto"),
        ),
        # Bounds and defaults of StableAvatarInput (fal's schema; see the module docstring).
        Param(
            "guidance_scale",
            "float",
            5.0,
            "How closely the video follows the prompt (text CFG), 1 to 10.",
            minimum=1.0,
            maximum=10.0,
            step=0.1,
        ),
        Param(
            "audio_guidance_scale",
            "float",
            4.0,
            "How strongly the audio drives the motion, 0 to 10.",
            minimum=0.0,
            maximum=10.0,
            step=0.1,
        ),
        Param(
            "num_inference_steps",
            "int",
            50,
            "Sampling steps, 10 to 50 (StableAvatar's authors recommend 30-50).",
            minimum=10,
            maximum=50,
            step=1,
        ),
        Param(
            "perturbation",
            "float",
            0.1,
            "Amount of perturbation: 0 = none, 1 = full.",
            minimum=0.0,
            maximum=1.0,
            step=0.01,
        ),
        Param(
            "seed",
            "int",
            -1,
            "Random seed; -1 lets fal choose (not sent). Identical inputs with the same seed reuse the "
            "stored result for free; change it to pay for a new generation.",
            minimum=-1,
            maximum=SEED_MAX,
            omit_value=-1,
            seed=True,
        ),
    ),
    price=pricing.STABLE_AVATAR,
    frames=None,
    length_from="audio",
    max_audio_s=300.0,
    max_image_side=1024,
    output_has_seed=False,
    search_aliases=("stable avatar", "talking head", "lip sync", "avatar"),
)

GENERATION_ENDPOINTS = (INFINITALK_IMAGE, INFINITALK_TEXT, INFINITALK_VIDEO, STABLE_AVATAR)
BY_ENDPOINT_ID = {spec.endpoint_id: spec for spec in GENERATION_ENDPOINTS}
BY_NODE_ID = {spec.node_id: spec for spec in GENERATION_ENDPOINTS}


def endpoint(endpoint_id: str) -> EndpointSpec:
    """Look up a row by fal endpoint id, with an error that lists the known ids."""
    try:
        return BY_ENDPOINT_ID[endpoint_id.strip().strip("/")]
    except KeyError:
        known = ", ".join(BY_ENDPOINT_ID)
        raise KeyError(f"Unknown endpoint {endpoint_id!r}; expected one of: {known}") from None

