"""The options of ``fal-avatar generate`` (and the columns of a batch manifest) and the row fields they set.

One option per media input and per speaker: ``--image --audio --audio2 --video --mask`` are media slots,
``--text --text2`` the texts (whatever fal calls them: ``text_input``, ``text``, ``first_text_input``...),
``--voice --voice2 --prompt --resolution --seed --num-frames`` widgets, and ``--param NAME=VALUE`` any other
widget of the row. An option the row does not take is refused with the row's own list.
"""

from __future__ import annotations

import math

from ..avatar.endpoints import EndpointSpec
from ..errors import InputError

MEDIA_OPTIONS = ("image", "audio", "audio2", "video", "mask")  # slot names, the same on every row
VALUE_OPTIONS = ("text", "text2", "voice", "voice2", "prompt", "resolution", "seed", "num_frames")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def field_of(spec: EndpointSpec, option: str) -> str | None:
    """The widget ``option`` sets on ``spec`` (``None``: the row has no such widget)."""
    if option in ("text", "text2"):
        p = spec.role_param(option)
        return p.name if p is not None else None
    return option if spec.has_param(option) else None


def takes(spec: EndpointSpec) -> str:
    """What ``spec`` takes, as options: for "X takes no --Y" messages."""
    media = [f"--{s.name}" for s in spec.media if s.name in MEDIA_OPTIONS]
    values = [f"--{o.replace('_', '-')}" for o in VALUE_OPTIONS if field_of(spec, o)]
    shown = {field_of(spec, o) for o in VALUE_OPTIONS}
    others = [f"--param {p.name}=…" for p in spec.params if p.name not in shown and p.fal]
    return ", ".join(media + values + others)


def not_taken(spec: EndpointSpec, option: str) -> InputError:
    return InputError(f"{spec.endpoint_id} takes no --{option.replace('_', '-')} (it takes {takes(spec)})",
                      field=f"--{option.replace('_', '-')}")  # fmt: skip


def missing_choice(spec: EndpointSpec, values: dict) -> None:
    """A required choice (fal has no default) left out: name the option that gives it."""
    for p in spec.params:
        if p.choice_required and values.get(p.name) is None:
            option = f"--{p.name}" if p.name in VALUE_OPTIONS else f"--param {p.name}=…"
            raise InputError(
                f"{spec.endpoint_id} needs {option} (one of {', '.join(p.options)}): fal has no default for "
                "it",
                field=p.name,
            )


def coerce_param(spec: EndpointSpec, name: str, raw: str):
    """A command-line value of widget ``name`` as the widget's type (InputError for an unknown widget or a bad
    value)."""
    try:
        p = spec.param(name)
    except KeyError:
        names = ", ".join(p.name for p in spec.params) or "none"
        raise InputError(f"unknown field {name!r}; {spec.endpoint_id} has: {names}", field=name) from None
    if p.kind == "bool":
        word = raw.strip().lower()
        if word in _TRUE + _FALSE:
            return word in _TRUE
        raise InputError(f"{raw!r} is not true or false", field=name)
    try:
        value = int(raw) if p.kind == "int" else float(raw) if p.kind == "float" else raw
    except ValueError:
        raise InputError(f"{raw!r} is not a {p.kind}", field=name) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{raw!r} is not a finite number", field=name)
    return value
