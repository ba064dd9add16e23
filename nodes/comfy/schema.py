"""ComfyUI V3 schemas built from the endpoint rows: sockets, widgets, outputs and the price badge."""

from __future__ import annotations

import json

from ..avatar.endpoints import EndpointSpec, Param
from ..avatar.pricing import PriceRule
from .api import io

CATEGORY = "fal/avatar"
OUTPUT_NAMES = ("video", "frames", "audio", "fps", "frame_count", "video_url", "request_id")
FRAMES_OUTPUT = OUTPUT_NAMES.index("frames")

_OUTPUT_TIPS = {
    "video": "The generated MP4 (lazy VIDEO: nothing is decoded unless a node asks).",
    "frames": "Decoded frames as IMAGE (float32). Decoded only when this output is connected.",
    "audio": "The video's sound track as AUDIO.",
    "fps": "Frames per second of the video (25 for these models).",
    "frame_count": "Number of frames in the video.",
    "video_url": "fal's URL of the video (kept by fal for a limited time).",
    "request_id": "fal's request id: recover the result with 'fal Avatar: Fetch Result'.",
}


def outputs() -> list:
    return [
        io.Video.Output("video", tooltip=_OUTPUT_TIPS["video"]),
        io.Image.Output("frames", tooltip=_OUTPUT_TIPS["frames"]),
        io.Audio.Output("audio", tooltip=_OUTPUT_TIPS["audio"]),
        io.Float.Output("fps", tooltip=_OUTPUT_TIPS["fps"]),
        io.Int.Output("frame_count", tooltip=_OUTPUT_TIPS["frame_count"]),
        io.String.Output("video_url", tooltip=_OUTPUT_TIPS["video_url"]),
        io.String.Output("request_id", tooltip=_OUTPUT_TIPS["request_id"]),
    ]


def _widget(p: Param):
    if p.kind == "text":
        return io.String.Input(
            p.name, default=p.default, multiline=p.multiline, dynamic_prompts=False, tooltip=p.tooltip
        )
    if p.kind == "enum":
        return io.Combo.Input(p.name, options=list(p.options), default=p.default, tooltip=p.tooltip)
    if p.kind == "int":
        # "fixed": re-queueing an unchanged graph must never pay again; the user changes the seed on purpose.
        control = io.ControlAfterGenerate.fixed if p.seed else None
        return io.Int.Input(
            p.name,
            default=p.default,
            min=int(p.minimum),
            max=int(p.maximum),
            step=int(p.step or 1),
            control_after_generate=control,
            tooltip=p.tooltip,
        )
    return io.Float.Input(
        p.name, default=p.default, min=p.minimum, max=p.maximum, step=p.step, round=False, tooltip=p.tooltip
    )


def _media(spec: EndpointSpec) -> list:
    sockets = []
    for slot in spec.media:
        kind = {"image": io.Image, "frames": io.Image, "audio": io.Audio, "video": io.Video}[slot.kind]
        sockets.append(kind.Input(slot.name, optional=slot.optional, tooltip=slot.tooltip))
    return sockets


def inputs(spec: EndpointSpec) -> list:
    return _media(spec) + [_widget(p) for p in spec.params]


def price_badge_expr(rule: PriceRule, has_frames: bool, has_resolution: bool) -> str:
    """A JSONata price expression (V3 price badge) generated from the price row."""
    rates = json.dumps(rule.usd_per_second)
    rate = f"$lookup({rates}, widgets.resolution)" if has_resolution else str(rule.rate(None))
    per_second = '{"type":"usd","usd":$rate,"format":{"suffix":"/second","approximate":true}}'
    if not has_frames:
        return f"($rate := {rate}; {per_second})"
    factor = "1"
    if rule.multiplier_above_frames:
        frames, mult = rule.multiplier_above_frames
        factor = f"(widgets.num_frames > {frames} ? {mult} : 1)"
    seconds = f"$max([widgets.num_frames / 25, {rule.min_seconds}])"
    total = f'{{"type":"usd","usd":$rate * {seconds} * {factor},"format":{{"approximate":true}}}}'
    return f"($rate := {rate}; widgets.num_frames = 0 ? {per_second} : {total})"


def price_badge(spec: EndpointSpec):
    has_frames = spec.has_param("num_frames")
    has_resolution = spec.has_param("resolution")
    widgets = [name for name, present in (("num_frames", has_frames), ("resolution", has_resolution)) if present]
    return io.PriceBadge(
        expr=price_badge_expr(spec.price, has_frames, has_resolution),
        depends_on=io.PriceBadgeDepends(widgets=widgets),
    )
