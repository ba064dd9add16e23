"""Lip-sync on footage (video + audio → the same video, re-synced): sync lipsync-2, sync-3, sync react-1
and VEED lipsync v2. InfiniTalk's video-to-video row is in :mod:`.infinitalk`. The footage keeps its own frame
rate and size (``fps`` None: read from the file).

Fields, defaults and ranges: fal's documents (``common.REGISTRY``); ``sync_mode`` and sync-3's ``options``
object from ``common.FAL_JS`` (the registry's distilled inputs omit them).
"""

from __future__ import annotations

from .. import pricing
from ..row import EndpointSpec, Param
from .common import AUDIO, FAL_JS, REGISTRY, UNKNOWN_LIMIT_NOTE, UNKNOWN_LIMIT_PLANNING_S, VIDEO, enum, number

_SYNC_MODES = ("cut_off", "loop", "bounce", "silence", "remap")
_SYNC_MODE_TIP = "What happens when the audio and the video differ in length (cut_off: the shorter one wins)."
_EMOTIONS = ("happy", "sad", "angry", "disgusted", "surprised", "neutral")
_UNKNOWN_MAX = {"*": None}


def _footage_row(**kw) -> EndpointSpec:
    defaults = dict(
        family="footage_lipsync",
        media=(VIDEO, AUDIO),
        length_rule="video",
        max_seconds=_UNKNOWN_MAX,
        fps=None,
        planning_max_s=UNKNOWN_LIMIT_PLANNING_S,
        output_has_seed=False,
    )
    return EndpointSpec(**{**defaults, **kw})


SYNC_LIPSYNC_V2 = _footage_row(
    node_id="FalSyncLipsyncV2",
    endpoint_id="fal-ai/sync-lipsync/v2",
    display_name="fal sync lipsync-2 (Video + Audio)",
    description="sync lipsync-2 on fal: re-syncs the lips of existing footage to new speech (mouth only).",
    params=(
        enum(
            "model", "lipsync-2", ("lipsync-2", "lipsync-2-pro"), "lipsync-2-pro costs about 1.67x as much."
        ),
        enum("sync_mode", "cut_off", _SYNC_MODES, _SYNC_MODE_TIP),
    ),
    price=pricing.per_minute(
        {"lipsync-2": 3.0, "lipsync-2-pro": 5.0},
        f"{REGISTRY}, price text: '$3 per minute of video'; the model field: 'lipsync-2-pro will cost "
        "roughly 1.67 times as much' (≈ $5 per minute).",
        by="model",
    ),
    source=f"{REGISTRY} (model lipsync-2 | lipsync-2-pro); {FAL_JS} (sync_mode, default cut_off). "
    f"{UNKNOWN_LIMIT_NOTE}.",
    search_aliases=("sync", "lipsync", "dubbing", "video to video"),
)

SYNC_LIPSYNC_V3 = _footage_row(
    node_id="FalSyncLipsyncV3",
    endpoint_id="fal-ai/sync-lipsync/v3",
    display_name="fal sync-3 (Video + Audio)",
    description="sync-3 on fal: re-syncs existing footage to new speech, with speaker selection and emotion.",
    params=(
        enum("sync_mode", "cut_off", _SYNC_MODES, _SYNC_MODE_TIP),
        enum(
            "emotion",
            "default",
            ("default", *_EMOTIONS),
            "An emotion for the face (default: none sent).",
            omit_value="default",
            fal_name="options.prompt",
        ),
        enum(
            "model_mode",
            "default",
            ("default", "lips", "face", "head", "lipsync", "emotion", "talking_head"),
            "Which region the model edits (default: fal's choice, not sent).",
            omit_value="default",
            fal_name="options.model_mode",
        ),
        Param(
            "speaker_detection",
            "bool",
            False,
            "Find the active speaker automatically (several faces in shot).",
            omit_value=False,
            fal_name="options.active_speaker_detection.auto_detect",
        ),
    ),  # fmt: skip
    price=pricing.per_minute(
        {"*": 8.0}, "fal's llms.txt (https://fal.ai/models/fal-ai/sync-lipsync/v3/llms.txt): '$8 per minute'"
    ),
    source=f"{REGISTRY} (video_url, audio_url, options); {FAL_JS} (sync_mode; options: prompt = emotion, "
    "model_mode, active_speaker_detection.auto_detect). Not offered here: speaker coordinates, bounding "
    f"boxes, face image. {UNKNOWN_LIMIT_NOTE}.",
    search_aliases=("sync", "sync-3", "lipsync", "dubbing", "emotion", "speaker"),
)

SYNC_REACT_1 = _footage_row(
    node_id="FalSyncReact1",
    endpoint_id="fal-ai/sync-lipsync/react-1",
    display_name="fal sync react-1 (Video + Audio + Emotion)",
    description="sync react-1 on fal: re-syncs footage with an explicit emotion (at most 15 s per job; "
    "longer footage runs as several jobs).",
    params=(
        enum(
            "emotion",
            None,
            _EMOTIONS,
            "The emotion of the performance (required: fal has no default).",
            required=True,
        ),
        enum(
            "model_mode", "face", ("lips", "face", "head"), "Edit region: lips only, the face, or the head."
        ),
        enum("lipsync_mode", "bounce", _SYNC_MODES, _SYNC_MODE_TIP),
        number("temperature", 0.5, 0.0, 1.0, "How expressive the lip sync is, 0 to 1.", step=0.01),
    ),  # fmt: skip
    price=pricing.PriceRule(
        {"*": 0.1333},
        "GUESS: fal's document carries no price text; sync-3's $8 per minute (the same vendor) is assumed.",
    ),
    max_seconds={"*": 15.0},
    planning_max_s=None,
    output_extras=("video.fps", "video.width", "video.height", "video.num_frames", "video.duration"),
    source=f"{REGISTRY} (video and audio '15 seconds or shorter'; emotion required); {FAL_JS} (output "
    "VideoFile). Unknown: fal's price.",
    search_aliases=("sync", "react", "emotion", "lipsync", "dubbing"),
)

VEED_LIPSYNC_V2 = _footage_row(
    node_id="FalVeedLipsyncV2",
    endpoint_id="veed/lipsync/v2",
    display_name="fal VEED Lipsync v2 (Video + Audio)",
    description="VEED lipsync v2 on fal: re-syncs the lips of existing footage to new speech.",
    params=(),
    price=pricing.PriceRule({"*": 0.07}, f"{REGISTRY}, price text: '$0.07 for every second of output video'"),
    source=f"{REGISTRY} (video_url, audio_url only; fal-js's own type for it is wrong). "
    f"{UNKNOWN_LIMIT_NOTE}; "
    "whether it is strict.",
    search_aliases=("veed", "lipsync", "dubbing", "video to video"),
)

ROWS = (SYNC_LIPSYNC_V2, SYNC_LIPSYNC_V3, SYNC_REACT_1, VEED_LIPSYNC_V2)
