"""Portrait + audio → talking video: OmniHuman 1.5, Kling Avatar v2, VEED Fabric 1.0, Creatify Aurora, sync-3
image-to-video, LongCat, FlashTalk. The audio sets the length (LongCat: ``num_segments`` from it).

Fields, defaults and ranges: fal's documents (``common.REGISTRY``; output fields from ``common.FAL_JS``). Each
row's ``source`` says what else it rests on and what is unknown. Where fal states no output frame rate the
row's ``fps`` is ``None``: the pack reads the real one from the returned file.
"""

from __future__ import annotations

from .. import pricing
from ..row import EndpointSpec, ImageLimits, Param, SegmentRule
from .common import (
    AUDIO,
    FAL_JS,
    IMAGE,
    MASK,
    REGISTRY,
    UNKNOWN_LIMIT_NOTE,
    UNKNOWN_LIMIT_PLANNING_S,
    number,
    prompt,
    random_seed,
    resolution,
)

_UNKNOWN_MAX = {"*": None}

OMNIHUMAN_15 = EndpointSpec(
    node_id="FalOmniHuman15",
    endpoint_id="fal-ai/bytedance/omnihuman/v1.5",
    display_name="fal OmniHuman 1.5 (Image + Audio)",
    description="ByteDance OmniHuman 1.5 on fal: gestures and camera moves from the speech; an optional MASK "
    "picks who speaks.",
    family="portrait_audio",
    media=(IMAGE, AUDIO, MASK),
    params=(
        prompt("", required=False),
        Param("turbo_mode", "bool", False, "Faster, with a slight quality trade-off."),
        resolution(
            ("720p", "1080p"),
            "1080p",
            "1080p renders at most 30 s of audio per job, 720p 60 s (faster, and higher in quality per fal).",
        ),
    ),
    price=pricing.PriceRule(
        {"*": 0.16},
        "fal's llms.txt for the endpoint (https://fal.ai/models/fal-ai/bytedance/omnihuman/v1.5/llms.txt): "
        "$0.16 per second; the output's 'duration' is the billed length.",
    ),
    length_rule="audio",
    max_seconds={"720p": 60.0, "1080p": 30.0},
    fps=None,
    output_has_seed=False,
    output_extras=("duration",),
    source=f"{REGISTRY} (audio under 30 s at 1080p, under 60 s at 720p: the audio_url description); {FAL_JS} "
    "(output video + duration). Unknown: output fps, the shortest audio accepted.",
    search_aliases=("omnihuman", "bytedance", "gestures", "avatar", "mask"),
    short_name="omnihuman",
)


# fal's document states no image limit for Kling Avatar v2; Kling's own avatar API does, and fal's endpoint
# runs Kling's model: JPG/PNG at most 10 MB, each side at least 300 px, aspect ratio 1:2.5 to 2.5:1
# (https://app.klingai.com/cn/dev/document-api/apiReference/model/avatar; ComfyUI's KlingAvatarNode,
# docs.comfy.org, checks the same before calling Kling).
KLING_IMAGE = ImageLimits(
    "Kling's own avatar API; fal's page states none",
    min_side=300,
    min_aspect=1 / 2.5,
    max_aspect=2.5,
    max_bytes=10_000_000,
)


def _kling(tier: str, usd: float, price_source: str) -> EndpointSpec:
    return EndpointSpec(
        node_id=f"FalKlingAvatarV2{tier.title()}",
        endpoint_id=f"fal-ai/kling-video/ai-avatar/v2/{tier}",
        display_name=f"fal Kling Avatar v2 {tier.title()} (Image + Audio)",
        description=f"Kling AI Avatar v2 ({tier}) on fal: any character type, the video follows the audio.",
        family="portrait_audio",
        media=(IMAGE, AUDIO),
        params=(prompt(".", required=False),),
        price=pricing.PriceRule({"*": usd}, price_source),
        length_rule="audio",
        max_seconds=_UNKNOWN_MAX,
        fps=None,
        planning_max_s=UNKNOWN_LIMIT_PLANNING_S,
        min_audio_s=2.0,
        image_limits=KLING_IMAGE,
        output_has_seed=False,
        output_extras=("duration",),
        source=f"{REGISTRY}; {FAL_JS} (output video + duration). Third-party notes give audio 2-60 s (the 2 "
        f"s minimum is used here). {UNKNOWN_LIMIT_NOTE}; output fps; fal's own price page.",
        search_aliases=("kling", "avatar", "talking head"),
        short_name=f"kling-{'std' if tier == 'standard' else tier}",
    )


KLING_AVATAR_V2_STANDARD = _kling(
    "standard",
    0.0562,
    "Third-party: $0.0562 per second (three independent repositories; one read it from fal's pricing API in "
    "2026-10); not on a fal page read.",
)
KLING_AVATAR_V2_PRO = _kling(
    "pro",
    0.115,
    "Third-party: $0.115 per second (GitHub AI-Prompt-Ops-Kitchen/ndninja-home .sharingan/scrolls/"
    "kling-avatar-api.md, 2026-02); not on a fal page read.",
)


def _fabric(suffix: str, display: str, rates: dict[str, float]) -> EndpointSpec:
    endpoint_id = f"veed/fabric-1.0{suffix}"
    return EndpointSpec(
        node_id=f"FalFabric10{display.replace(' ', '')}",
        endpoint_id=endpoint_id,
        display_name=f"fal VEED Fabric 1.0{(' ' + display) if display else ''} (Image + Audio)",
        description="VEED Fabric 1.0 on fal: a portrait talks to the audio; choose the resolution (fal has "
        "no default).",
        family="portrait_audio",
        media=(IMAGE, AUDIO),
        params=(resolution(("720p", "480p"), None, "Output resolution (required: fal has no default)."),),
        price=pricing.PriceRule(
            rates,
            f"{REGISTRY}, price text: '480p - ${rates['480p']:.2f} per second, 720p - ${rates['720p']:.2f} "
            "per second'",
        ),
        length_rule="audio",
        max_seconds=_UNKNOWN_MAX,
        fps=None,
        planning_max_s=UNKNOWN_LIMIT_PLANNING_S,
        strict=True,
        output_has_seed=False,
        source=f"{REGISTRY}: image_url, audio_url, resolution (required, no default); fal refuses any other "
        f"field (issue 14; third-party notes: additionalProperties false). {UNKNOWN_LIMIT_NOTE} (ComfyUI's "
        "VeedFabricNode allows 300 s, Replicate's page says 60 s); output fps.",
        search_aliases=("fabric", "veed", "talking head", "avatar"),
        short_name="fabric" + suffix.replace("/", "-"),
    )


FABRIC_10 = _fabric("", "", {"480p": 0.08, "720p": 0.15})
FABRIC_10_FAST = _fabric("/fast", "Fast", {"480p": 0.10, "720p": 0.20})

AURORA = EndpointSpec(
    node_id="FalCreatifyAurora",
    endpoint_id="fal-ai/creatify/aurora",
    display_name="fal Creatify Aurora (Image + Audio)",
    description="Creatify Aurora on fal: a portrait talks to the audio; billed in whole seconds.",
    family="portrait_audio",
    media=(IMAGE, AUDIO),
    params=(
        prompt("", required=False),
        number("guidance_scale", 1.0, 0.0, 5.0, "How closely the video follows the prompt, 0 to 5."),
        number("audio_guidance_scale", 2.0, 0.0, 5.0, "How closely the motion follows the audio, 0 to 5."),
        resolution(("480p", "720p"), "720p", "Output resolution. 720p costs twice as much per second."),
    ),
    price=pricing.PriceRule(
        {"480p": 0.07, "720p": 0.14},
        f"{REGISTRY}, price text: '$0.07 per video second for 480p, $0.14 per video second for 720p ... a "
        "generation with an output video of 9.4 seconds will be billed as a 10 second video'",
        round_up_s=1.0,
    ),
    length_rule="audio",
    max_seconds=_UNKNOWN_MAX,
    fps=None,
    planning_max_s=UNKNOWN_LIMIT_PLANNING_S,
    output_has_seed=False,
    output_extras=("video.fps", "video.width", "video.height", "video.num_frames", "video.duration"),
    source=f"{REGISTRY}; {FAL_JS} (output VideoFile with fps, size, num_frames, duration). "
    f"{UNKNOWN_LIMIT_NOTE}.",
    search_aliases=("aurora", "creatify", "talking head", "avatar"),
    short_name="aurora",
)

SYNC_3_IMAGE = EndpointSpec(
    node_id="FalSync3ImageToVideo",
    endpoint_id="fal-ai/sync-lipsync/v3/image-to-video",
    display_name="fal sync-3 Avatar (Image + Audio)",
    description="sync-3 on fal: animates the face in a portrait to the audio; the video matches its length.",
    family="portrait_audio",
    media=(IMAGE, AUDIO),
    params=(),
    price=pricing.PriceRule({"*": 0.1333}, f"{REGISTRY}, price text: '$0.1333 per output second'"),
    length_rule="audio",
    max_seconds=_UNKNOWN_MAX,
    fps=None,
    planning_max_s=UNKNOWN_LIMIT_PLANNING_S,
    output_has_seed=False,
    source=f"{REGISTRY} (image_url, audio_url only; 'the output video matches its duration'). "
    f"{UNKNOWN_LIMIT_NOTE} "
    "(sync.so's own API via ComfyUI allows 600 s); output fps.",
    search_aliases=("sync", "sync-3", "talking photo", "avatar"),
    short_name="sync3",
)

# LongCat: "First segment is ~5.8s, additional segments are 5s each", 1..10 segments; the video stops with the
# audio (the shorter of the two), billed per video-second of 16 frames (fal's resolution description), so the
# output runs at 16 fps.
LONGCAT_SEGMENTS = SegmentRule(first_s=5.8, step_s=5.0, max_segments=10)
_LONGCAT_NEGATIVE = (
    "Close-up, Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, "
    "images, static, overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, "
    "extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused "
    "fingers, still picture, messy background, three legs, many people in the background, walking backwards"
)

LONGCAT = EndpointSpec(
    node_id="FalLongCatAvatar",
    endpoint_id="fal-ai/longcat-single-avatar/image-audio-to-video",
    display_name="fal LongCat Avatar (Image + Audio)",
    description="LongCat-Video-Avatar on fal: up to 10 segments (about 51 s) per job; num_segments follows "
    "the audio.",
    family="portrait_audio",
    media=(IMAGE, AUDIO),
    params=(
        prompt("A person is talking naturally with natural expressions and movements.", required=False),
        Param("negative_prompt", "text", _LONGCAT_NEGATIVE, "What the video should avoid.", multiline=True),
        Param(
            "num_inference_steps", "int", 50, "Sampling steps, 10 to 100.", minimum=10, maximum=100, step=1
        ),
        number("text_guidance_scale", 4.0, 1.0, 10.0, "How closely the video follows the prompt, 1 to 10."),
        number(
            "audio_guidance_scale",
            4.0,
            1.0,
            10.0,
            "How strongly the audio drives the mouth (higher may exaggerate).",
        ),
        resolution(("480p", "720p"), "480p", "Output resolution. 720p costs twice as much per second."),
        random_seed(),
        Param(
            "enable_safety_checker",
            "bool",
            True,
            "fal's safety checker (turning it off needs fal's approval).",
        ),
        Param("enable_prompt_expansion", "bool", False, "Let an LLM expand the prompt."),
    ),
    price=pricing.PriceRule(
        {"480p": 0.15, "720p": 0.30},
        f"{REGISTRY}, price text: '$0.3 per video second for 720p, $0.15 per video second for 480p'; the "
        "resolution field: 'Billing is per video-second (16 frames): 480p is 1 unit per second and 720p is 4 "
        "units per second' (4 units would be $0.60/s at 480p's rate; the estimate follows the price text). "
        "Billed: the video's seconds (it stops with the audio), not the whole segments requested.",
        unit_frames=16,
        unit_fps=16.0,
    ),
    length_rule="num_segments",
    max_seconds={"*": LONGCAT_SEGMENTS.max_s},
    fps=16.0,
    segments=LONGCAT_SEGMENTS,
    output_extras=(),
    source=f"{REGISTRY} (num_segments 1-10: first ~5.8 s, then 5 s each; 16 frames per billed second); "
    f"{FAL_JS} (output video + seed). The video stops with the audio, so the last segment is not billed "
    "whole (issue 14; fal's document does not say what the last segment renders past the audio).",
    search_aliases=("longcat", "meituan", "long", "avatar"),
    short_name="longcat",
)

FLASHTALK = EndpointSpec(
    node_id="FalFlashTalk",
    endpoint_id="fal-ai/flashtalk",
    display_name="fal FlashTalk (Image + Audio)",
    description="SoulX-FlashTalk on fal: fast, cheap streaming-distilled talking head.",
    family="portrait_audio",
    media=(IMAGE, AUDIO),
    params=(random_seed(),),
    price=pricing.PriceRule(
        {"*": 0.02}, "Third-party: $0.02 per second; fal's document carries no price text (GUESS-level)."
    ),
    length_rule="audio",
    max_seconds=_UNKNOWN_MAX,
    fps=None,
    planning_max_s=UNKNOWN_LIMIT_PLANNING_S,
    output_extras=("duration", "timings"),
    source=f"{REGISTRY} (image_url, audio_url, seed); {FAL_JS} (output video, duration, timings, seed). "
    f"{UNKNOWN_LIMIT_NOTE}; output fps; fal's price.",
    search_aliases=("flashtalk", "soulx", "fast", "cheap", "avatar"),
    short_name="flashtalk",
)

ROWS = (OMNIHUMAN_15, KLING_AVATAR_V2_STANDARD, KLING_AVATAR_V2_PRO, FABRIC_10, FABRIC_10_FAST, AURORA,
        SYNC_3_IMAGE, LONGCAT, FLASHTALK)  # fmt: skip
