"""Validate widget values and turn them into a run plan: fal arguments, length, cost and warnings.

Everything here runs before any upload or submit. ``check_params`` needs only widget values, so the
ComfyUI adapter calls it from ``validate_inputs`` and ComfyUI refuses a bad prompt before it starts. A run
checks each job's values once: the result (:class:`CheckedParams`) is passed on, and :func:`make_plan`
takes it as it is.
The row says what sets the output's length (``EndpointSpec.length_rule``), how long one job may be, and
how fal prices it; nothing here assumes one model's frame rate, frame counts or seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError
from .endpoints import CHOOSE, NOT_SENT, EndpointSpec, Param
from .frames import FPS, auto_frames, frames_for_seconds, round_down_4n1, round_up_4n1, speech_seconds
from .row import ANY_RESOLUTION
from .speech_rate import has_words


@dataclass(frozen=True)
class RunPlan:
    """What will be sent and what it should cost. ``arguments`` lacks the media URL fields.

    ``seconds`` is the output's expected length; ``frames`` the same on the planning timeline (25 per
    second; for num_frames rows it is the num_frames sent). The real fps is read from fal's file."""

    spec: EndpointSpec
    arguments: dict
    frames: int
    cost_usd: float
    seed: int | None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0


def _check_number(p: Param, value) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"expected a number, got {value!r}", field=p.name)
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError("must be a finite number", field=p.name)
    if p.kind == "int":
        if float(value) != int(value):
            raise InputError(f"must be a whole number, got {value}", field=p.name)
        value = int(value)
    else:
        value = float(value)
    if p.minimum is not None and value < p.minimum or p.maximum is not None and value > p.maximum:
        raise InputError(
            f"{_number(value)} is outside {_number(p.minimum)}..{_number(p.maximum)}", field=p.name
        )
    return value


def _number(value: int | float | None) -> str:
    """A number as people write it: 2147483647, 0.5, 10 (``:g`` would print 2.14748e+09)."""
    if value is None:
        return "any"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _check_param(p: Param, value):
    if p.kind == "enum":
        if p.choice_required and value in (None, "", CHOOSE):
            raise InputError(
                f"choose one of {', '.join(p.options)}: fal has no default for it and refuses a request "
                "without it",
                field=p.name,
            )
        if value not in p.options:
            raise InputError(f"{value!r} is not one of {', '.join(p.options)}", field=p.name)
        return value
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"expected true or false, got {value!r}", field=p.name)
        return value
    if p.kind == "text":
        if not isinstance(value, str):
            raise InputError(f"expected text, got {type(value).__name__}", field=p.name)
        if p.required and not value.strip():
            raise InputError("is empty; write what fal should use here", field=p.name)
        if p.max_length and len(value) > p.max_length:
            raise InputError(
                f"is {len(value)} characters long; the limit is {p.max_length}. Shorten it.", field=p.name
            )
        return value.strip()
    return _check_number(p, value)


def _check_num_frames(spec: EndpointSpec, frames: int) -> None:
    rule = spec.frames
    if rule is None or frames == 0:
        return
    if not rule.min_frames <= frames <= rule.max_frames:
        raise InputError(
            f"{frames} is outside {rule.min_frames}..{rule.max_frames}; use 0 for auto", field="num_frames"
        )
    if frames % 4 != 1:
        lower, upper = round_down_4n1(frames), round_up_4n1(frames)
        choices = " or ".join(str(f) for f in (lower, upper) if rule.min_frames <= f <= rule.max_frames)
        raise InputError(
            f"{frames} is not of the form 4n+1 (the model renders blocks of 4 frames); use {choices}, "
            "or 0 for auto",
            field="num_frames",
        )


class CheckedParams(dict):
    """Widget values that passed :func:`check_params` for the endpoint ``endpoint_id``: normalised, every
    parameter present. A copy (``{**params}``, ``dict(params)``) is plain values again, to be checked."""

    def __init__(self, endpoint_id: str, values: dict) -> None:
        super().__init__(values)
        self.endpoint_id = endpoint_id


def checked(spec: EndpointSpec, values: dict) -> CheckedParams:
    """``values`` as :func:`check_params` returns them: as given if they were checked for ``spec``."""
    if isinstance(values, CheckedParams) and values.endpoint_id == spec.endpoint_id:
        return values
    return check_params(spec, values)


def check_params(spec: EndpointSpec, values: dict) -> CheckedParams:
    """Validate widget values (missing ones take their defaults). Returns the normalised values.

    A strict row (fal refuses unknown fields) also refuses values for fields it does not have."""
    if spec.strict:
        unknown = sorted(set(values) - {p.name for p in spec.params})
        if unknown:
            names = ", ".join(p.name for p in spec.params) or "none"
            raise InputError(
                f"{spec.endpoint_id} has no field {', '.join(unknown)} (fal refuses unknown fields); "
                f"its fields: {names}",
                field=unknown[0],
            )
    out = {}
    for p in spec.params:
        out[p.name] = _check_param(p, values.get(p.name, p.default))
    for text in (spec.role_param("text"), spec.role_param("text2")):
        if text is not None and not has_words(out[text.name]):
            raise InputError(
                f"{out[text.name]!r} has nothing to say (no letter or digit in any script); write the words "
                "the voice should speak",
                field=text.name,
            )
    if spec.frames is not None:
        _check_num_frames(spec, out["num_frames"])
        if out["num_frames"] != 0 and spec.length_from == "text":  # an explicit frame count: one job
            _check_one_job_text(spec, out)
    return CheckedParams(spec.endpoint_id, out)


def _check_one_job_text(spec: EndpointSpec, values: dict) -> None:
    """The text of one fal job must be within the job's limit (a long run splits a longer single text;
    two speakers' texts share one job, so their sum counts)."""
    limit = spec.max_text_chars
    texts = [(p.name, values[p.name]) for p in (spec.role_param("text"), spec.role_param("text2")) if p]
    if not limit or sum(len(text) for _, text in texts) <= limit:
        return
    if len(texts) == 2:
        raise InputError(
            f"the two texts are {len(texts[0][1])} + {len(texts[1][1])} characters; one {spec.endpoint_id} "
            f"job speaks at most {limit} in all (about {spec.max_audio_s or spec.max_seconds_at(None):g} s). "
            "Shorten them.",
            field=texts[1][0],
        )
    hint = (
        "Set num_frames to 0 (auto): the run then splits the text into segments at sentence ends."
        if spec.frames is not None
        else "Shorten it, or split it over several runs."
    )
    name, text = texts[0]
    raise InputError(
        f"is {len(text)} characters long; one fal job speaks at most {limit}. {hint}", field=name
    )


def _check_audio(spec: EndpointSpec, seconds: float | None, slot: str) -> float:
    if seconds is None:
        raise InputError("no audio connected; connect a LoadAudio (or other AUDIO) output", field=slot)
    if seconds < spec.min_audio_s:
        raise InputError(
            f"is {seconds:.2f} s long; {spec.display_name} needs at least {spec.min_audio_s:g} s of speech",
            field=slot,
        )
    return seconds


def _length_seconds(spec: EndpointSpec, values: dict, audio_s: float | None, audio2_s: float | None) -> float:
    """The length the input asks for: the audio (the longer of two speakers' tracks) or the spoken text."""
    if spec.length_from == "text":
        _check_one_job_text(spec, values)
        texts = [values[p.name] for p in (spec.role_param("text"), spec.role_param("text2")) if p is not None]
        return sum(speech_seconds(text) for text in texts)
    seconds = _check_audio(spec, audio_s, "audio")
    if audio2_s is not None:
        seconds = max(seconds, _check_audio(spec, audio2_s, "audio2"))
    return seconds


def _at(spec: EndpointSpec, resolution: str | None) -> str:
    return f" at {resolution}" if resolution and ANY_RESOLUTION not in spec.max_seconds else ""


def _output_seconds(
    spec: EndpointSpec, values: dict, length_s: float, source_frames: int | None
) -> tuple[int, float, list[str]]:
    """(planning frames, output seconds, warnings) for the row's length rule."""
    warnings: list[str] = []
    what = "estimated speech" if spec.length_from == "text" else "audio"
    resolution = values.get("resolution")
    if spec.length_rule == "num_frames":
        rule, fps = spec.frames, spec.fps or FPS
        explicit = values["num_frames"] != 0
        frames = (
            values["num_frames"] if explicit else auto_frames(length_s, rule, source_frames=source_frames)
        )
        if source_frames is not None and frames > source_frames:
            warnings.append(
                f"num_frames {frames} is longer than the source video ({source_frames} frames); "
                "fal may loop or stop early."
            )
        limit_s = rule.max_frames / fps
        if length_s > limit_s + 1e-6:
            warnings.append(
                f"The {what} is {length_s:.2f} s but one run renders at most {limit_s:.2f} s: "
                f"the last {length_s - limit_s:.2f} s will be cut."
            )
        elif length_s > frames / fps + 0.04 and _source_is_the_cut(values, source_frames, length_s, fps):
            warnings.append(
                f"The source video is {source_frames / fps:.2f} s, shorter than the {what} ({length_s:.2f} "
                f"s): the result follows the video ({frames} frames, {frames / fps:.2f} s), so the last "
                f"{length_s - frames / fps:.2f} s of the {what} will be cut."
            )
        elif length_s > frames / fps + 0.04:
            warnings.append(
                f"num_frames {frames} covers {frames / fps:.2f} s; the last {length_s - frames / fps:.2f} s "
                f"of the {what} will be cut."
            )
        return frames, frames / fps, warnings
    limit_s = spec.max_seconds_at(resolution)
    if limit_s is not None and length_s > limit_s + 1e-6:
        warnings.append(
            f"The {what} is {length_s:.2f} s but one {spec.endpoint_id} job renders at most {limit_s:g} s"
            f"{_at(spec, resolution)}: the last {length_s - limit_s:.2f} s will be cut (or fal refuses it)."
        )
        length_s = limit_s
    # A num_segments row renders whole segments, but its video stops with the audio (the shorter of the two),
    # and fal bills that video's seconds (the row's price rule says in what units).
    return frames_for_seconds(length_s), length_s, warnings


def _put(arguments: dict, field: str, value) -> None:
    """Set fal's field ``field``; a dotted name is a field inside an object (sync-3's ``options.prompt``)."""
    *outer, name = field.split(".")
    for key in outer:
        arguments = arguments.setdefault(key, {})
    arguments[name] = value


def _source_is_the_cut(values: dict, source_frames: int | None, length_s: float, fps: float) -> bool:
    """Whether "auto" frames stopped at the end of a source video shorter than the sound."""
    return values.get("num_frames") == 0 and source_frames is not None and source_frames / fps < length_s


def make_plan(
    spec: EndpointSpec,
    values: dict,
    *,
    audio_s: float | None = None,
    source_frames: int | None = None,
    audio2_s: float | None = None,
) -> RunPlan:
    """Resolve the length, build fal's arguments and estimate the cost (``values`` checked here unless they
    are :class:`CheckedParams`). Raises :class:`InputError`."""
    values = checked(spec, values)
    length_s = _length_seconds(spec, values, audio_s, audio2_s)
    frames, seconds, warnings = _output_seconds(spec, values, length_s, source_frames)
    arguments = {}
    for p in spec.params:
        if not p.fal:
            continue
        value = frames if p.name == "num_frames" else values[p.name]
        if p.omit_value is not NOT_SENT and value == p.omit_value:
            continue
        _put(arguments, p.field, value)
    if spec.length_rule == "num_segments":
        arguments["num_segments"] = spec.segments.segments_for(length_s)
    seed_param = spec.seed_param
    return RunPlan(
        spec=spec,
        arguments=arguments,
        frames=frames,
        cost_usd=spec.price.estimate(
            seconds, values.get(spec.price.by), frames if spec.frames is not None else None
        ),
        seed=values[seed_param.name] if seed_param else None,
        warnings=tuple(warnings),
        seconds=seconds,
    )
