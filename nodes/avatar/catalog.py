"""The endpoint rows as JSON for the web extension (GET /fal_avatar/endpoints): limits, prices, and the
figures the browser needs to estimate a long run the way the segment planner cuts it."""

from __future__ import annotations

from .endpoints import GENERATION_ENDPOINTS, EndpointSpec
from .frames import CHARS_PER_SECOND, FPS
from .segments import EXTRA_SEGMENTS, MARGIN_FRAMES, OVERLAP_FRAMES, frame_rule
from .text_pieces import TEXT_SLACK, TEXT_TAIL_S


def _long_run(spec: EndpointSpec) -> dict:
    """How a run longer than one job is cut (``segments.plan_segments``, ``longform/segmenting.py``)."""
    rule = frame_rule(spec)
    return {
        "min_frames": rule.min_frames,
        "max_frames": rule.max_frames,
        "overlap_frames": OVERLAP_FRAMES,
        "margin_frames": MARGIN_FRAMES,
        "extra_segments": EXTRA_SEGMENTS,
        "text_slack": TEXT_SLACK,
        "text_tail_s": TEXT_TAIL_S,
    }


def catalog_json() -> dict:
    rows = []
    for spec in GENERATION_ENDPOINTS:
        rule = spec.frames
        text = spec.param("text_input") if spec.has_param("text_input") else None
        rows.append(
            {
                "node_id": spec.node_id,
                "endpoint_id": spec.endpoint_id,
                "display_name": spec.display_name,
                "fps": FPS,
                "min_frames": rule.min_frames if rule else None,
                "max_frames": rule.max_frames if rule else None,
                "default_frames": rule.default_frames if rule else None,
                "frame_multiple": 4,
                "length_from": spec.length_from,
                "source_video": any(slot.kind in ("video", "frames") for slot in spec.media),  # dubbing
                "min_audio_s": spec.min_audio_s,
                "max_audio_s": spec.max_audio_s,
                "chars_per_second": CHARS_PER_SECOND,
                "max_text_chars": spec.max_text_chars,  # one job
                "text_max_length": text.max_length if text else None,  # the widget (a long run)
                "long_run": _long_run(spec),
                "price": spec.price.to_json(),
                "price_source": spec.price.source,
            }
        )
    return {"endpoints": rows}
