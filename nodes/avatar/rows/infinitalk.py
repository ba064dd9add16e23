"""InfiniTalk (MeiGen) on fal: image + audio, image + text, and video dubbing. 25 fps, ``num_frames`` 4n+1.

Defaults, ranges and enums are fal's, as its per-endpoint OpenAPI documents state them
(``https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=<id>``; ``fal-avatar doctor`` compares),
checked against public copies taken on 2026-01-26: GitHub ``TanStack/ai`` at commit ec0e5a493,
``packages/typescript/ai-fal/scripts/openapi/`` (``video-to-video.json`` holds ``InfinitalkInput`` and
``InfinitalkVideoToVideoInput``, ``text-to-video.json`` ``InfinitalkSingleTextInput``), and again against
GitHub ``gokayfem/ComfyUI-fal-API`` ``data/fal_registry.json`` at 1780dde (2026-08). Unknown: fal publishes
no InfiniTalk price page (the price is third-party, see ``pricing.INFINITALK``).
"""

from __future__ import annotations

from .. import pricing
from ..row import EndpointSpec, MediaSlot, Param
from .common import (
    ACCELERATION,
    AUDIO,
    IMAGE,
    INFINITALK_FPS,
    INFINITALK_FRAMES,
    INFINITALK_VIDEO_FRAMES,
    LONG_TEXT_CHARS,
    TALK_PROMPT,
    num_frames,
    prompt,
    resolution,
    seed,
    voice,
)

_SOURCE = (
    "fal's OpenAPI documents as copied in GitHub TanStack/ai ec0e5a493 (2026-01-26) and "
    "gokayfem/ComfyUI-fal-API data/fal_registry.json 1780dde (2026-08). Unknown: fal's own price page "
    "(third-party price)."
)
_RESOLUTION = resolution(
    ("480p", "720p"), "480p", "Output resolution. 720p costs twice as much per second as 480p."
)
_MAX_S = {"*": INFINITALK_FRAMES.max_frames / INFINITALK_FPS}

INFINITALK_IMAGE = EndpointSpec(
    node_id="FalInfiniTalkImageToVideo",
    endpoint_id="fal-ai/infinitalk",
    display_name="fal InfiniTalk (Image + Audio)",
    description="InfiniTalk on fal: a portrait and a speech clip become a talking video (25 fps).",
    family="portrait_audio",
    media=(IMAGE, AUDIO),
    params=(prompt(TALK_PROMPT), num_frames(INFINITALK_FRAMES, "audio"), _RESOLUTION, ACCELERATION, seed()),
    price=pricing.INFINITALK,
    length_rule="num_frames",
    max_seconds=_MAX_S,
    fps=INFINITALK_FPS,
    frames=INFINITALK_FRAMES,
    source=_SOURCE,
    search_aliases=("infinitalk", "talking head", "lip sync", "avatar"),
    short_name="infinitalk",
)

INFINITALK_TEXT = EndpointSpec(
    node_id="FalInfiniTalkTextToVideo",
    endpoint_id="fal-ai/infinitalk/single-text",
    display_name="fal InfiniTalk (Image + Text)",
    description="InfiniTalk on fal with a built-in voice: a portrait and a text become a talking video.",
    family="portrait_text",
    media=(IMAGE,),
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
            role="text",
        ),
        voice("voice", "Sarah", "The built-in voice that speaks text_input."),
        prompt(TALK_PROMPT),
        num_frames(INFINITALK_FRAMES, "estimated speech"),
        _RESOLUTION,
        ACCELERATION,
        seed(),
    ),
    price=pricing.INFINITALK,
    length_rule="num_frames",
    max_seconds=_MAX_S,
    fps=INFINITALK_FPS,
    length_from="text",
    frames=INFINITALK_FRAMES,
    max_text_chars=1500,
    source=_SOURCE,
    search_aliases=("infinitalk", "text to speech", "talking head", "avatar"),
)

INFINITALK_VIDEO = EndpointSpec(
    node_id="FalInfiniTalkVideoToVideo",
    endpoint_id="fal-ai/infinitalk/video-to-video",
    display_name="fal InfiniTalk (Video Dubbing)",
    description="InfiniTalk video-to-video on fal: re-animates the lips of a video to new speech.",
    family="footage_lipsync",
    media=(
        MediaSlot(
            "video", "video", "video_url", "The video to dub (MP4/H.264 is uploaded as is).", optional=True
        ),
        MediaSlot(
            "frames",
            "frames",
            "video_url",
            "Instead of a VIDEO: frames (IMAGE batch) at 'fps'.",
            optional=True,
        ),
        AUDIO,
    ),
    params=(
        prompt(TALK_PROMPT),
        num_frames(INFINITALK_VIDEO_FRAMES, "audio (and source video)"),
        _RESOLUTION,
        ACCELERATION,
        seed(),
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
    length_rule="num_frames",
    max_seconds={"*": INFINITALK_VIDEO_FRAMES.max_frames / INFINITALK_FPS},
    fps=INFINITALK_FPS,
    frames=INFINITALK_VIDEO_FRAMES,
    source=_SOURCE,
    search_aliases=("infinitalk", "dubbing", "lip sync", "video to video"),
)
