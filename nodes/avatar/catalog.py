"""The endpoint rows as JSON for the web extension (GET /fal_avatar/endpoints) and ``fal-avatar models
--json``: limits, prices, and the figures the browser needs to estimate a long run the way the segment
planner cuts it. ``fps`` is the planning clock (frame counts here are at 25 per second); ``output_fps`` is
the model's nominal output rate (``None``: unknown; the real one is read from fal's file)."""

from __future__ import annotations

from .endpoints import GENERATION_ENDPOINTS, EndpointSpec
from .frames import CHARS_PER_SECOND, FPS
from .segments import EXTRA_SEGMENTS, MARGIN_FRAMES, OVERLAP_FRAMES, frame_rule
from .text_pieces import TEXT_SLACK, TEXT_TAIL_S


def _long_run(spec: EndpointSpec) -> dict:
    """How a run longer than one job is cut (``segments.plan_segments``, ``longform/segmenting.py``)."""
    rule = frame_rule(spec, spec.default_resolution)
    # a row whose limit per job depends on the resolution (OmniHuman: 30 s at 1080p, 60 s at 720p)
    per_resolution = (
        {res: frame_rule(spec, res).max_frames for res in spec.resolutions} if spec.frames is None else {}
    )
    return {
        "min_frames": rule.min_frames,
        "max_frames": rule.max_frames,
        "max_frames_at": per_resolution,
        "overlap_frames": OVERLAP_FRAMES,
        "margin_frames": MARGIN_FRAMES,
        "extra_segments": EXTRA_SEGMENTS,
        "text_slack": TEXT_SLACK,
        "text_tail_s": TEXT_TAIL_S,
    }


def _segments(spec: EndpointSpec) -> dict | None:
    rule = spec.segments
    return (
        None if rule is None else {"first_s": rule.first_s, "step_s": rule.step_s, "max": rule.max_segments}
    )


def catalog_json() -> dict:
    rows = []
    for spec in GENERATION_ENDPOINTS:
        rule = spec.frames
        text, text2 = spec.role_param("text"), spec.role_param("text2")
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
                "family": spec.family,
                "status": spec.status,
                "status_note": spec.status_note,
                "strict": spec.strict,
                "length_rule": spec.length_rule,
                "output_fps": spec.fps,
                "max_seconds": dict(spec.max_seconds),
                "planning_max_s": spec.planning_max_s,
                "num_segments": _segments(spec),
                "resolutions": list(spec.resolutions),
                "default_resolution": spec.default_resolution,
                "required_choices": [p.name for p in spec.params if p.choice_required],
                "seed": spec.seed_param is not None,
                "output_has_seed": spec.output_has_seed,
                "output_extras": list(spec.output_extras),
                "inputs": [
                    {"name": s.name, "kind": s.kind, "fal_field": s.fal_field, "optional": s.optional}
                    for s in spec.media
                ],
                "length_from": spec.length_from,
                "source_video": any(slot.kind in ("video", "frames") for slot in spec.media),  # dubbing
                "min_audio_s": spec.min_audio_s,
                "max_audio_s": spec.max_audio_s,
                "chars_per_second": CHARS_PER_SECOND,
                "max_text_chars": spec.max_text_chars,  # one job
                "text_max_length": text.max_length if text else None,  # the widget (a long run)
                "text_param": text.name if text else None,  # the widget whose text is spoken
                "text2_param": text2.name if text2 else None,  # the second speaker's (two-person text)
                "long_run": _long_run(spec),
                "price": spec.price.to_json(),
                "price_source": spec.price.source,
            }
        )
    return {"endpoints": rows}
