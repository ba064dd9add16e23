"""ComfyUI V3 schemas built from the endpoint rows: sockets, widgets, outputs and the price badge."""

from __future__ import annotations

import json

from ..avatar.endpoints import EndpointSpec, Param
from ..avatar.pricing import PriceRule
from ..avatar.row import CHOOSE
from .api import io

CATEGORY = "fal avatar"  # the Add Node menu's folder; each family is a sub-folder
FAMILY_CATEGORIES = {
    "portrait_audio": "portrait + audio",
    "portrait_text": "portrait + text",
    "two_people": "two people",
    "footage_lipsync": "lip-sync footage",
    "compatibility": "compatibility",
}
OUTPUT_NAMES = ("video", "frames", "audio", "fps", "frame_count", "video_url", "request_id")
FRAMES_OUTPUT = OUTPUT_NAMES.index("frames")

_OUTPUT_TIPS = {
    "video": "The generated MP4 (lazy VIDEO: nothing is decoded unless a node asks).",
    "frames": "Decoded frames as IMAGE (float32). Decoded only when this output is connected.",
    "audio": "The video's sound track as AUDIO.",
    "fps": "Frames per second of the video, as read from the file (each model has its own).",
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


def category(spec: EndpointSpec) -> str:
    """The node's menu folder: its family's, or "compatibility" once fal has delisted the model."""
    family = "compatibility" if spec.status == "delisted" else spec.family
    return f"{CATEGORY}/{FAMILY_CATEGORIES[family]}"


def _widget(p: Param):
    if p.kind == "text":
        return io.String.Input(
            p.name, default=p.default, multiline=p.multiline, dynamic_prompts=False, tooltip=p.tooltip
        )
    if p.choice_required:
        # fal has no default: the first option asks for a choice and is refused before anything is paid
        tip = f"{p.tooltip} '{CHOOSE}' is refused before anything is sent."
        return io.Combo.Input(p.name, options=[CHOOSE, *p.options], default=CHOOSE, tooltip=tip)
    if p.kind == "enum":
        return io.Combo.Input(p.name, options=list(p.options), default=p.default, tooltip=p.tooltip)
    if p.kind == "bool":
        return io.Boolean.Input(p.name, default=p.default, tooltip=p.tooltip)
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
        kind = {"image": io.Image, "frames": io.Image, "audio": io.Audio, "video": io.Video, "mask": io.Mask}[
            slot.kind
        ]
        sockets.append(kind.Input(slot.name, optional=slot.optional, tooltip=slot.tooltip))
    return sockets


def inputs(spec: EndpointSpec) -> list:
    return _media(spec) + [_widget(p) for p in spec.params]


def price_badge_expr(rule: PriceRule, *, frames_fps: float | None, rate_widget: str | None) -> str:
    """A JSONata price expression (V3 price badge) generated from the price row: the rate at the value of
    ``rate_widget`` (the resolution, or sync v2's model; the dearest while none is chosen), per minute where
    fal states it so; with a num_frames widget (``frames_fps``: its frame rate) set above 0, the whole job."""
    scale, suffix = (60, "/minute") if rule.per == "minute" else (1, "/second")
    rates = json.dumps({key: rate * scale for key, rate in rule.usd_per_second.items()})
    dearest = rule.rate(None) * scale
    rate = (
        f"($r := $lookup({rates}, widgets.{rate_widget}); $exists($r) ? $r : {dearest})"
        if rate_widget
        else dearest
    )
    per_unit = f'{{"type":"usd","usd":$rate,"format":{{"suffix":"{suffix}","approximate":true}}}}'
    if frames_fps is None:
        return f"($rate := {rate}; {per_unit})"
    factor = "1"
    if rule.multiplier_above_frames:
        frames, mult = rule.multiplier_above_frames
        factor = f"(widgets.num_frames > {frames} ? {mult} : 1)"
    seconds = f"$max([widgets.num_frames / {frames_fps:g}, {rule.min_seconds}])"
    total = f'{{"type":"usd","usd":$rate / {scale} * {seconds} * {factor},"format":{{"approximate":true}}}}'
    return f"($rate := {rate}; widgets.num_frames = 0 ? {per_unit} : {total})"


def price_badge(spec: EndpointSpec):
    """The badge, or None where fal's price is unknown."""
    if spec.price.per == "unknown" or not spec.price.usd_per_second:
        return None
    has_frames = spec.has_param("num_frames")
    rate_widget = spec.price.by if spec.has_param(spec.price.by) else None
    widgets = [name for name in ("num_frames" if has_frames else None, rate_widget) if name]
    fps = spec.fps if has_frames else None  # an unknown frame rate: the badge shows the rate only
    return io.PriceBadge(
        expr=price_badge_expr(spec.price, frames_fps=fps, rate_widget=rate_widget),
        depends_on=io.PriceBadgeDepends(widgets=widgets),
    )
