"""Portrait + text → talking video with a built-in voice: VEED Fabric 1.0 text and MultiTalk single-text
(``fal-ai/ai-avatar/single-text``). InfiniTalk's own text row is in :mod:`.infinitalk`.

Fields, defaults and ranges: fal's documents (``common.REGISTRY``); each row's ``source`` says what is
unknown.
"""

from __future__ import annotations

from .. import pricing
from ..row import EndpointSpec, Param
from .common import (
    ACCELERATION,
    FAL_JS,
    IMAGE,
    INFINITALK_FPS,
    INFINITALK_FRAMES,
    LONG_TEXT_CHARS,
    REGISTRY,
    TALK_PROMPT,
    UNKNOWN_LIMIT_PLANNING_S,
    VOICES,
    num_frames,
    prompt,
    resolution,
    seed,
)

_SPEAK_TIP = (
    "The text the avatar speaks. A text longer than one fal job speaks is split at sentence ends into "
    "segments, joined in the pauses."
)

FABRIC_10_TEXT = EndpointSpec(
    node_id="FalFabric10Text",
    endpoint_id="veed/fabric-1.0/text",
    display_name="fal VEED Fabric 1.0 (Image + Text)",
    description="VEED Fabric 1.0 on fal: a portrait speaks a text in a voice derived from the image; choose "
    "the resolution (fal has no default).",
    family="portrait_text",
    media=(IMAGE,),
    params=(
        Param(
            "text",
            "text",
            "Hello! This video was made with VEED Fabric on fal.",
            "The text the avatar speaks (one fal job: at most 2000 characters; fal's speech sets the length, "
            "so a longer text cannot be cut into jobs that join exactly).",
            multiline=True,
            required=True,
            max_length=2000,
            role="text",
        ),
        Param(
            "voice_description",
            "text",
            "",
            "Optional: adds to the voice derived from the image, e.g. 'British accent'. Empty sends nothing.",
            omit_value="",
        ),
        resolution(("720p", "480p"), None, "Output resolution (required: fal has no default)."),
    ),  # fmt: skip
    price=pricing.PriceRule(
        {"480p": 0.08, "720p": 0.15},
        f"{REGISTRY}, price text: '480p - $0.08 per second, 720p - $0.15 per second'",
    ),
    length_rule="text",
    max_seconds={"*": None},
    fps=None,
    length_from="text",
    planning_max_s=UNKNOWN_LIMIT_PLANNING_S,
    strict=True,
    max_text_chars=2000,
    output_has_seed=False,
    source=f"{REGISTRY} (image_url, text, voice_description, resolution required without default); "
    "fal-ai/fal-js libs/client/src/types/video/zod.gen.ts @ 5324132 (2026-02): text 1-2000 characters. "
    "Strict per issue 14. Unknown: the longest speech per job (a text is one job: its spoken length is "
    "fal's, so pieces could not be joined frame-exactly), output fps.",
    search_aliases=("fabric", "veed", "text to speech", "avatar"),
)

AI_AVATAR_SINGLE_TEXT = EndpointSpec(
    node_id="FalAiAvatarSingleText",
    endpoint_id="fal-ai/ai-avatar/single-text",
    display_name="fal MultiTalk (Image + Text)",
    description="MultiTalk (fal's ai-avatar) with a built-in voice: a portrait and a text become a talking "
    "video. Choose the voice (fal has no default).",
    family="portrait_text",
    media=(IMAGE,),
    params=(
        Param(
            "text_input",
            "text",
            "Hello! This video was made with MultiTalk on fal.",
            _SPEAK_TIP,
            multiline=True,
            required=True,
            max_length=LONG_TEXT_CHARS,
            role="text",
        ),
        Param(
            "voice",
            "enum",
            None,
            "The built-in voice (required: fal has no default).",
            options=VOICES,
            required=True,
        ),
        prompt(TALK_PROMPT),
        num_frames(INFINITALK_FRAMES, "estimated speech"),
        resolution(("480p", "720p"), "480p", "Output resolution. 720p costs about twice as much per second."),
        ACCELERATION,
        seed(),
    ),  # fmt: skip
    price=pricing.PriceRule(
        {"480p": 0.20, "720p": 0.40},
        "fal's llms.txt for the ai-avatar family: '$0.2 per seconds' (480p); 720p at twice that is a GUESS "
        "by analogy with InfiniTalk.",
    ),
    length_rule="num_frames",
    max_seconds={"*": INFINITALK_FRAMES.max_frames / INFINITALK_FPS},
    fps=INFINITALK_FPS,
    length_from="text",
    frames=INFINITALK_FRAMES,
    max_text_chars=1500,
    source=f"{REGISTRY} (num_frames 41-721 default 145; voice required without default; seed 0-4294967295); "
    f"{FAL_JS}. Unknown: the longest text per job (1500 characters as InfiniTalk), fps (25 as InfiniTalk).",
    search_aliases=("multitalk", "ai-avatar", "text to speech", "avatar"),
)

ROWS = (FABRIC_10_TEXT, AI_AVATAR_SINGLE_TEXT)
