"""A generation's request keys: from the inputs as given (v2, no encoding), and the legacy v1 key.

The scope of a key is where the job runs (``FalClient.endpoint_key``: host + endpoint id), plus the
duplicate index of a node copied within one ComfyUI graph. What the encoder makes of an input is decided
by the input and the encoder options named here (e.g. the image size limit), so both go into the key.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..avatar.plan import RunPlan
from ..media.payload import Payload
from ..store.request_key import input_request_key, request_key
from .inputs import GenerationRequest
from .media_kinds import connected, kind_of


def key_scope(endpoint_key: str, take: int) -> str:
    return f"{endpoint_key}#take{take}" if take else endpoint_key


def input_digests(request: GenerationRequest, max_image_side: int | None = None) -> dict[str, str]:
    """``{fal_field: digest}`` of every media input, with the encoder options that shape its upload
    (``max_image_side``: the run's setting, default the endpoint's own; CPU work on big tensors: run in a
    thread)."""
    kinds = connected(request)
    return {
        slot.fal_field: kind_of(request, slot).digest(request, slot, value, max_image_side)
        for slot, value in kinds
    }


def generation_key(scope: str, plan: RunPlan, digests: Mapping[str, str]) -> str:
    return input_request_key(scope, plan.arguments, digests, plan.seed)


def legacy_key(scope: str, plan: RunPlan, payloads: Mapping[str, Payload]) -> str:
    """The key results were journaled under before v2 (sha256 of the encoded uploads)."""
    return request_key(scope, plan.arguments, {field: p.sha256 for field, p in payloads.items()}, plan.seed)
