"""The endpoint rows, looked up by fal endpoint id or node id.

Everything endpoint-specific is data (:mod:`.row` says the shape, :mod:`.rows` holds the rows); the node
adapter, validation, request building, the CLI and the web extension all read these rows, so the
endpoints differ in data, not in code. ``fal-avatar doctor`` compares each row with fal's OpenAPI document.
"""

from __future__ import annotations

from .row import CHOOSE, FAMILIES, NOT_SENT, EndpointSpec, MediaSlot, Param, SegmentRule
from .rows import footage, portrait_audio, portrait_text, two_people
from .rows.common import INFINITALK_FRAMES, INFINITALK_VIDEO_FRAMES, LONG_TEXT_CHARS, SEED_MAX, VOICES
from .rows.compatibility import STABLE_AVATAR
from .rows.infinitalk import INFINITALK_IMAGE, INFINITALK_TEXT, INFINITALK_VIDEO

__all__ = [
    "INFINITALK_IMAGE",
    "INFINITALK_TEXT",
    "INFINITALK_VIDEO",
    "STABLE_AVATAR",
    "INFINITALK_FRAMES",
    "INFINITALK_VIDEO_FRAMES",
    "CHOOSE",
    "FAMILIES",
    "LONG_TEXT_CHARS",
    "NOT_SENT",
    "SEED_MAX",
    "VOICES",
    "EndpointSpec",
    "MediaSlot",
    "Param",
    "SegmentRule",
]

# Family by family (FAMILIES' order); the first row is the default of pickers that list them all.
GENERATION_ENDPOINTS: tuple[EndpointSpec, ...] = (
    INFINITALK_IMAGE,
    *portrait_audio.ROWS,
    INFINITALK_TEXT,
    *portrait_text.ROWS,
    *two_people.ROWS,
    INFINITALK_VIDEO,
    *footage.ROWS,
    STABLE_AVATAR,
)
BY_ENDPOINT_ID = {spec.endpoint_id: spec for spec in GENERATION_ENDPOINTS}
BY_NODE_ID = {spec.node_id: spec for spec in GENERATION_ENDPOINTS}
BY_SHORT_NAME = {spec.short_name: spec for spec in GENERATION_ENDPOINTS if spec.short_name}


def endpoint(endpoint_id: str) -> EndpointSpec:
    """Look up a row by fal endpoint id, with an error that lists the known ids."""
    try:
        return BY_ENDPOINT_ID[endpoint_id.strip().strip("/")]
    except KeyError:
        known = ", ".join(BY_ENDPOINT_ID)
        raise KeyError(f"Unknown endpoint {endpoint_id!r}; expected one of: {known}") from None


def by_family(family: str) -> tuple[EndpointSpec, ...]:
    return tuple(spec for spec in GENERATION_ENDPOINTS if spec.family == family)
