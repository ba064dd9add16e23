"""A generation's request keys: from the inputs as given (v2, no encoding), and the legacy v1 key.

The scope of a key is where the job runs (``FalClient.endpoint_key``: host + endpoint id), plus the
duplicate index of a node copied within one ComfyUI graph. What the encoder makes of an input is decided
by the input and the encoder options named here (e.g. the image size limit), so both go into the key.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..avatar.plan import RunPlan
from ..media import digest
from ..media.payload import Payload
from ..media.video_excerpt import excerpt_indices
from ..store.request_key import input_request_key, request_key
from .inputs import GenerationRequest


def key_scope(endpoint_key: str, take: int) -> str:
    return f"{endpoint_key}#take{take}" if take else endpoint_key


def input_digests(request: GenerationRequest, max_image_side: int | None = None) -> dict[str, str]:
    """``{fal_field: digest}`` of every media input, with the encoder options that shape its upload
    (``max_image_side``: the run's setting, default the endpoint's own; CPU work on big tensors: run in a
    thread)."""
    spec = request.spec
    digests: dict[str, str] = {}
    for slot in spec.media:
        if slot.kind == "image" and request.image is not None:
            side = max_image_side or spec.max_image_side
            digests[slot.fal_field] = f"{digest.image_digest(request.image)}|max_side={side}"
        elif slot.kind == "audio" and request.audio is not None:
            digests[slot.fal_field] = digest.audio_digest(request.audio)
        elif slot.kind == "video" and request.video_path is not None:
            digests[slot.fal_field] = f"file:{digest.file_digest(request.video_path)}{_window(request)}"
        elif slot.kind == "frames" and request.video_path is None and request.frames is not None:
            fps = float(request.values.get("fps", 25.0))
            pick = None
            if request.video_window is not None:
                pick = excerpt_indices(fps, int(request.frames.shape[0]), *request.video_window)
            digests[slot.fal_field] = digest.frames_digest(request.frames, fps, pick) + _window(request)
    return digests


def _window(request: GenerationRequest) -> str:
    """An excerpt is re-timed to 25 fps: its source window is part of what is uploaded."""
    if request.video_window is None:
        return ""
    start, count = request.video_window
    return f"|excerpt={start}+{count}@25fps"


def generation_key(scope: str, plan: RunPlan, digests: Mapping[str, str]) -> str:
    return input_request_key(scope, plan.arguments, digests, plan.seed)


def legacy_key(scope: str, plan: RunPlan, payloads: Mapping[str, Payload]) -> str:
    """The key results were journaled under before v2 (sha256 of the encoded uploads)."""
    return request_key(scope, plan.arguments, {field: p.sha256 for field, p in payloads.items()}, plan.seed)
