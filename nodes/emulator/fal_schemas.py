"""The input schemas of the emulated fal endpoints: what *fal* accepts, field by field.

Deliberately independent of the pack's own rows (``nodes/avatar``), so a drift between the two shows up in
tests (``tests/test_emulator_catalogue.py`` also compares every schema here with the vendored extracts in
``tests/data/fal_schemas``). Sources, all public copies of fal's per-endpoint OpenAPI documents
(``https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=<id>``):

* every live row: GitHub ``gokayfem/ComfyUI-fal-API`` ``data/fal_registry.json`` at commit 1780dde (fal's
  catalogue distilled, about 2026-08): fields, enums, min/max, defaults, required;
* what that distillation drops: GitHub ``fal-ai/fal-js`` ``libs/client/src/types/endpoints.ts`` at commit
  381105e (2026-08-02): ``sync_mode`` and ``options`` of ``fal-ai/sync-lipsync/v2`` and ``/v3``; and
  ``libs/client/src/types/video/zod.gen.ts`` at 5324132 (2026-02): Fabric text's 1..2000 characters;
* ``fal-ai/stable-avatar`` (delisted in 2026-08, absent from the registry): GitHub ``TanStack/ai`` at commit
  ec0e5a493, ``packages/typescript/ai-fal/scripts/openapi/audio-to-video.json`` (2026-01-26).

Strictness (``additionalProperties: false``): stated for VEED Fabric only (fal refuses any other field there);
the other documents do not say, so those schemas ignore unknown fields as pydantic does by default. An
optional field without a default is nullable (pydantic's ``Optional[...] = None``).
"""

from __future__ import annotations

from .schemas import Field, Schema

VOICES = (
    "Aria", "Roger", "Sarah", "Laura", "Charlie", "George", "Callum", "River", "Liam", "Charlotte",
    "Alice", "Matilda", "Will", "Jessica", "Eric", "Chris", "Brian", "Daniel", "Lily", "Bill",
)  # fmt: skip
SYNC_MODES = ("cut_off", "loop", "bounce", "silence", "remap")
EMOTIONS = ("happy", "sad", "angry", "disgusted", "surprised", "neutral")
ACCELERATIONS = ("none", "regular", "high")
SEED_RANGE = {"ge": 0, "le": 4294967295}


def _text(name: str, *, required: bool = False, default: str | None = None, **bounds) -> Field:
    return Field(
        name, "str", required=required, default=default, nullable=not required and default is None, **bounds
    )


def _url(name: str, *, required: bool = True) -> Field:
    return Field(name, "str", required=required, nullable=not required)


def _seed(default: int | None, **bounds) -> Field:
    return Field("seed", "int", default=default, nullable=True, **bounds)


def _multitalk(frames: tuple[int, int, int], seed: int) -> tuple[Field, ...]:
    """InfiniTalk / MultiTalk (ai-avatar) generation fields: num_frames (min, max, default) at 25 fps."""
    low, high, default = frames
    return (
        _text("prompt", required=True),
        Field("num_frames", "int", default=default, ge=low, le=high),
        Field("resolution", "literal", default="480p", choices=("480p", "720p")),
        _seed(seed, **SEED_RANGE),
        Field("acceleration", "literal", default="regular", choices=ACCELERATIONS),
    )


def _single_audio(seed: int, frames: tuple[int, int, int]) -> tuple[Field, ...]:
    return (_url("image_url"), _url("audio_url"), *_multitalk(frames, seed))


def _single_text(seed: int, frames: tuple[int, int, int]) -> tuple[Field, ...]:
    return (
        _url("image_url"),
        _text("text_input", required=True),
        Field("voice", "literal", required=True, choices=VOICES),
        *_multitalk(frames, seed),
    )


_FABRIC_RESOLUTION = Field("resolution", "literal", required=True, choices=("720p", "480p"))
_KLING = (_url("image_url"), _url("audio_url"), _text("prompt", default="."))
_SYNC_OPTIONS = Field(
    "options",
    "object",
    nullable=True,
    fields=(
        Field("sync_mode", "literal", nullable=True, choices=SYNC_MODES),
        Field(
            "model_mode",
            "literal",
            nullable=True,
            choices=("lips", "face", "head", "lipsync", "emotion", "talking_head"),
        ),
        Field("prompt", "literal", nullable=True, choices=EMOTIONS),
        Field("temperature", "float", nullable=True),
        Field("occlusion_detection_enabled", "bool", nullable=True),
        Field("active_speaker_detection", "object", nullable=True),
    ),
)
_LONGCAT_NEGATIVE = (
    "Close-up, Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, "
    "images, static, overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, "
    "extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused "
    "fingers, still picture, messy background, three legs, many people in the background, walking backwards"
)


def build_schemas() -> dict[str, Schema]:
    """Schemas by full endpoint id."""
    return {
        # portrait + audio ---------------------------------------------------------------------------------
        "fal-ai/infinitalk": Schema(_single_audio(42, (41, 721, 145))),
        "fal-ai/bytedance/omnihuman/v1.5": Schema(
            (
                _text("prompt"),
                _url("image_url"),
                _url("mask_url", required=False),
                _url("audio_url"),
                Field("turbo_mode", "bool", default=False),
                Field("resolution", "literal", default="1080p", choices=("720p", "1080p")),
            )
        ),
        "fal-ai/kling-video/ai-avatar/v2/standard": Schema(_KLING),
        "fal-ai/kling-video/ai-avatar/v2/pro": Schema(_KLING),
        "veed/fabric-1.0": Schema((_url("image_url"), _url("audio_url"), _FABRIC_RESOLUTION), strict=True),
        "veed/fabric-1.0/fast": Schema(
            (_url("image_url"), _url("audio_url"), _FABRIC_RESOLUTION), strict=True
        ),
        "fal-ai/creatify/aurora": Schema(
            (
                _url("image_url"),
                _url("audio_url"),
                _text("prompt"),
                Field("guidance_scale", "float", default=1.0, ge=0, le=5),
                Field("audio_guidance_scale", "float", default=2.0, ge=0, le=5),
                Field("resolution", "literal", default="720p", choices=("480p", "720p")),
            )
        ),
        "fal-ai/sync-lipsync/v3/image-to-video": Schema((_url("image_url"), _url("audio_url"))),
        "fal-ai/longcat-single-avatar/image-audio-to-video": Schema(
            (
                _url("image_url"),
                _url("audio_url"),
                _text(
                    "prompt", default="A person is talking naturally with natural expressions and movements."
                ),
                _text("negative_prompt", default=_LONGCAT_NEGATIVE),
                Field("num_inference_steps", "int", default=50, ge=10, le=100),
                Field("text_guidance_scale", "float", default=4.0, ge=1, le=10),
                Field("audio_guidance_scale", "float", default=4.0, ge=1, le=10),
                Field("resolution", "literal", default="480p", choices=("480p", "720p")),
                Field("num_segments", "int", default=1, ge=1, le=10),
                _seed(None),
                Field("enable_safety_checker", "bool", default=True),
                Field("enable_prompt_expansion", "bool", default=False),
            )
        ),
        "fal-ai/flashtalk": Schema((_url("image_url"), _url("audio_url"), _seed(None))),
        # portrait + text ----------------------------------------------------------------------------------
        "fal-ai/infinitalk/single-text": Schema(_single_text(42, (41, 721, 145))),
        "fal-ai/ai-avatar/single-text": Schema(_single_text(42, (41, 721, 145))),
        "veed/fabric-1.0/text": Schema(
            (
                _url("image_url"),
                _text("text", required=True, min_length=1, max_length=2000),
                _text("voice_description"),
                _FABRIC_RESOLUTION,
            ),
            strict=True,
        ),
        # two people ---------------------------------------------------------------------------------------
        "fal-ai/ai-avatar/multi": Schema(
            (
                _url("image_url"),
                _url("first_audio_url"),
                _url("second_audio_url", required=False),
                _text("prompt", required=True),
                Field("num_frames", "int", default=181, ge=41, le=241),
                Field("resolution", "literal", default="480p", choices=("480p", "720p")),
                _seed(81, **SEED_RANGE),
                Field("use_only_first_audio", "bool", default=False),
                Field("acceleration", "literal", default="regular", choices=ACCELERATIONS),
            )
        ),
        "fal-ai/ai-avatar/multi-text": Schema(
            (
                _url("image_url"),
                _text("first_text_input", required=True),
                _text("second_text_input", required=True),
                Field("voice1", "literal", default="Sarah", choices=VOICES),
                Field("voice2", "literal", default="Roger", choices=VOICES),
                *_multitalk((41, 241, 191), 81),
            )
        ),
        # lip-sync on footage ------------------------------------------------------------------------------
        "fal-ai/infinitalk/video-to-video": Schema(
            (_url("video_url"), _url("audio_url"), *_multitalk((41, 241, 145), 42))
        ),
        "fal-ai/sync-lipsync/v2": Schema(
            (
                Field("model", "literal", default="lipsync-2", choices=("lipsync-2", "lipsync-2-pro")),
                _url("video_url"),
                _url("audio_url"),
                Field("sync_mode", "literal", default="cut_off", choices=SYNC_MODES),
            )
        ),
        "fal-ai/sync-lipsync/v3": Schema(
            (
                _url("video_url"),
                _url("audio_url"),
                _SYNC_OPTIONS,
                Field("sync_mode", "literal", default="cut_off", choices=SYNC_MODES),
            )
        ),
        "fal-ai/sync-lipsync/react-1": Schema(
            (
                _url("video_url"),
                _url("audio_url"),
                Field("emotion", "literal", required=True, choices=EMOTIONS),
                Field("model_mode", "literal", default="face", choices=("lips", "face", "head")),
                Field("lipsync_mode", "literal", default="bounce", choices=SYNC_MODES),
                Field("temperature", "float", default=0.5, ge=0, le=1),
            )
        ),
        "veed/lipsync/v2": Schema((_url("video_url"), _url("audio_url"))),
        # compatibility: delisted by fal in 2026-08 ---------------------------------------------------------
        "fal-ai/stable-avatar": Schema(
            (
                _url("image_url"),
                _url("audio_url"),
                _text("prompt", required=True),
                Field("aspect_ratio", "literal", default="auto", choices=("16:9", "1:1", "9:16", "auto")),
                Field("guidance_scale", "float", default=5.0, ge=1.0, le=10.0),
                Field("audio_guidance_scale", "float", default=4.0, ge=0.0, le=10.0),
                Field("num_inference_steps", "int", default=50, ge=10, le=50),
                _seed(None),
                Field("perturbation", "float", default=0.1, ge=0.0, le=1.0),
            ),
            random_seed=False,
        ),
    }
