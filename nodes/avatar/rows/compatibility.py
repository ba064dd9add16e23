"""Rows fal removed from its catalogue, kept so that saved workflows still open (family "compatibility")."""

from __future__ import annotations

from .. import pricing
from ..row import EndpointSpec, Param
from .common import AUDIO, IMAGE, SEED_MAX, prompt

_AVATAR_PROMPT = (
    "A person is in a relaxed pose. As the video progresses, the character speaks while arm and body "
    "movements are minimal and consistent with a natural speaking posture. Hand movements remain "
    "minimal. Don't blink too often. Preserve background integrity matching the reference image's "
    "spatial configuration, lighting conditions, and color temperature."
)

# Bounds and defaults of StableAvatarInput: GitHub TanStack/ai at ec0e5a493,
# packages/typescript/ai-fal/scripts/openapi/audio-to-video.json (2026-01-26), and fal-ai/fal-js
# libs/client/src/types/ (2026-02). Absent from GitHub gokayfem/ComfyUI-fal-API data/fal_registry.json
# (1780dde, 2026-08) and from fal-js after 381105e (2026-08-02). Unknown: whether fal's queue still accepts
# jobs for it; its output fps (the pack reads it from the file).
STABLE_AVATAR = EndpointSpec(
    node_id="FalStableAvatar",
    endpoint_id="fal-ai/stable-avatar",
    display_name="fal StableAvatar (Image + Audio)",
    description="StableAvatar on fal: audio-driven avatar video whose length follows the audio (up to 5 "
    "min). fal removed it from its catalogue in 2026-08; kept so that saved workflows open.",
    family="compatibility",
    media=(IMAGE, AUDIO),
    params=(
        prompt(_AVATAR_PROMPT),
        Param(
            "aspect_ratio",
            "enum",
            "auto",
            "Output shape: 16:9 (832×480), 1:1 (512×512), 9:16 (480×832); auto follows the image.",
            options=("16:9", "1:1", "9:16", "auto"),
        ),
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
    length_rule="audio",
    max_seconds={"*": 300.0},
    fps=25.0,
    status="delisted",
    status_note="fal removed it from its catalogue in 2026-08; whether its queue still accepts jobs is "
    "unknown",
    max_image_side=1024,
    output_has_seed=False,
    source="fal's llms.txt (https://fal.ai/models/fal-ai/stable-avatar/llms.txt: up to five minutes, "
    "$0.10/s, minimum 4 s); TanStack/ai ec0e5a493 audio-to-video.json. Unknown: output fps (25 assumed for "
    "estimates).",
    search_aliases=("stable avatar", "talking head", "lip sync", "avatar"),
    short_name="stable-avatar",
)
