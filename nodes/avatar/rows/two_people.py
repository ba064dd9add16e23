"""Two people in one portrait: MultiTalk (``fal-ai/ai-avatar/multi``: two audio tracks, or one with
``use_only_first_audio``) and its text version (two texts, two voices). 25 fps, ``num_frames`` 4n+1, at most
241 frames (9.64 s) per job. Which person is "first" is not documented by fal.

Fields, defaults and ranges: fal's documents (``common.REGISTRY``).
"""

from __future__ import annotations

from .. import pricing
from ..frames import FrameRule
from ..row import EndpointSpec, MediaSlot, Param
from .common import (
    ACCELERATION,
    IMAGE,
    INFINITALK_FPS,
    REGISTRY,
    TALK_PROMPT,
    num_frames,
    prompt,
    resolution,
    seed,
    voice,
)

# num_frames 41..241 (multi: default 181, multi-text: 191). The description still says "between 81 to 129" and
# "If the number of frames is greater than 81, the video will be generated with 1.25x more billing units."
MULTI_FRAMES = FrameRule(min_frames=41, max_frames=241, default_frames=181)
MULTI_TEXT_FRAMES = FrameRule(min_frames=41, max_frames=241, default_frames=191)
_PRICE = pricing.PriceRule(
    {"480p": 0.20, "720p": 0.40},
    "fal's llms.txt for the ai-avatar family: '$0.2 per seconds' (480p; 720p at twice that is a GUESS by "
    "analogy with InfiniTalk); fal's num_frames description: more than 81 frames bill 1.25x units.",
    multiplier_above_frames=(81, 1.25),
)
_RESOLUTION = resolution(
    ("480p", "720p"), "480p", "Output resolution. 720p costs about twice as much per second."
)
_UNKNOWN = "Unknown: which person is 'first' (fal does not say), fps (25 as InfiniTalk)."

AI_AVATAR_MULTI = EndpointSpec(
    node_id="FalAiAvatarMulti",
    endpoint_id="fal-ai/ai-avatar/multi",
    display_name="fal MultiTalk Two People (Image + 2 Audio)",
    description="MultiTalk on fal: two people in one image, each driven by their own audio track (both "
    "tracks play together: give each speaker silence while the other talks).",
    family="two_people",
    media=(
        IMAGE,
        MediaSlot("audio", "audio", "first_audio_url", "The first person's speech."),
        MediaSlot(
            "audio2", "audio", "second_audio_url", "The second person's speech (optional).", optional=True
        ),
    ),
    params=(
        prompt(TALK_PROMPT),
        num_frames(MULTI_FRAMES, "longer audio"),
        _RESOLUTION,
        seed(81),
        Param("use_only_first_audio", "bool", False, "Drive the video with the first audio only."),
        ACCELERATION,
    ),
    price=_PRICE,
    length_rule="num_frames",
    max_seconds={"*": MULTI_FRAMES.max_frames / INFINITALK_FPS},
    fps=INFINITALK_FPS,
    frames=MULTI_FRAMES,
    source=f"{REGISTRY} (first_audio_url required, second_audio_url optional, use_only_first_audio; "
    f"num_frames 41-241 default 181; seed default 81). {_UNKNOWN}",
    search_aliases=("multitalk", "two people", "dialogue", "conversation"),
)

AI_AVATAR_MULTI_TEXT = EndpointSpec(
    node_id="FalAiAvatarMultiText",
    endpoint_id="fal-ai/ai-avatar/multi-text",
    display_name="fal MultiTalk Two People (Image + 2 Texts)",
    description="MultiTalk on fal: two people in one image speak two texts in two built-in voices (one job).",
    family="two_people",
    media=(IMAGE,),
    params=(
        Param(
            "text",
            "text",
            "Hello! How are you?",
            "What the first person says.",
            multiline=True,
            required=True,
            fal_name="first_text_input",
            role="text",
        ),
        Param(
            "text2",
            "text",
            "Very well, thank you.",
            "What the second person says.",
            multiline=True,
            required=True,
            fal_name="second_text_input",
            role="text2",
        ),
        voice("voice", "Sarah", "The first person's voice.", fal_name="voice1"),
        voice("voice2", "Roger", "The second person's voice."),
        prompt(TALK_PROMPT),
        num_frames(MULTI_TEXT_FRAMES, "estimated speech of both texts"),
        _RESOLUTION,
        seed(81),
        ACCELERATION,
    ),  # fmt: skip
    price=_PRICE,
    length_rule="num_frames",
    max_seconds={"*": MULTI_TEXT_FRAMES.max_frames / INFINITALK_FPS},
    fps=INFINITALK_FPS,
    length_from="text",
    frames=MULTI_TEXT_FRAMES,
    max_text_chars=135,  # about 9.6 s of speech at 14 characters a second, the most one job renders
    source=f"{REGISTRY} (first_text_input, second_text_input, voice1 default Sarah, voice2 default Roger; "
    f"num_frames 41-241 default 191; seed default 81). {_UNKNOWN} The text limit is the pack's: what 9.64 s "
    "of speech holds.",
    search_aliases=("multitalk", "two people", "dialogue", "text to speech"),
)

ROWS = (AI_AVATAR_MULTI, AI_AVATAR_MULTI_TEXT)
