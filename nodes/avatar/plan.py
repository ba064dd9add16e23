"""Validate widget values and turn them into a run plan: fal arguments, frames, cost and warnings.

Everything here runs before any upload or submit. ``check_params`` needs only widget values, so the
ComfyUI adapter calls it from ``validate_inputs`` and ComfyUI refuses a bad prompt before it starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError
from .endpoints import NOT_SENT, EndpointSpec, Param
from .frames import FPS, auto_frames, frames_for_seconds, round_down_4n1, round_up_4n1, speech_seconds
from .speech_rate import has_words


@dataclass(frozen=True)
class RunPlan:
    """What will be sent and what it should cost. ``arguments`` lacks the media URL fields."""

    spec: EndpointSpec
    arguments: dict
    frames: int  # frames fal will render (estimated for endpoints without num_frames)
    cost_usd: float
    seed: int | None
    warnings: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.frames / FPS


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
        raise InputError(f"{_number(value)} is outside {_number(p.minimum)}..{_number(p.maximum)}", field=p.name)
    return value


def _number(value: int | float | None) -> str:
    """A number as people write it: 2147483647, 0.5, 10 (``:g`` would print 2.14748e+09)."""
    if value is None:
        return "any"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _check_param(p: Param, value):
    if p.kind == "enum":
        if value not in p.options:
            raise InputError(f"{value!r} is not one of {', '.join(p.options)}", field=p.name)
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
            f"{frames} is not of the form 4n+1 (InfiniTalk renders blocks of 4 frames); use {choices}, "
            "or 0 for auto",
            field="num_frames",
        )


def check_params(spec: EndpointSpec, values: dict) -> dict:
    """Validate widget values (missing ones take their defaults). Returns the normalised values."""
    out = {}
    for p in spec.params:
        out[p.name] = _check_param(p, values.get(p.name, p.default))
    if spec.length_from == "text" and not has_words(out["text_input"]):
        raise InputError(
            f"{out['text_input']!r} has nothing to say (no letter or digit in any script); write the words "
            "the voice should speak",
            field="text_input",
        )
    if spec.frames is not None:
        _check_num_frames(spec, out["num_frames"])
        if out["num_frames"] != 0 and spec.length_from == "text":  # an explicit frame count: one job
            _check_one_job_text(spec, out["text_input"])
    return out


def _check_one_job_text(spec: EndpointSpec, text: str) -> None:
    """A text for one fal job must be within the job's limit (a long run splits longer texts)."""
    if spec.max_text_chars and len(text) > spec.max_text_chars:
        raise InputError(
            f"is {len(text)} characters long; one fal job speaks at most {spec.max_text_chars}. Set "
            "num_frames to 0 (auto): the run then splits the text into segments at sentence ends.",
            field="text_input",
        )


def _length_seconds(spec: EndpointSpec, values: dict, audio_s: float | None) -> float:
    if spec.length_from == "text":
        _check_one_job_text(spec, values["text_input"])
        return speech_seconds(values["text_input"])
    if audio_s is None:
        raise InputError("no audio connected; connect a LoadAudio (or other AUDIO) output", field="audio")
    if audio_s < spec.min_audio_s:
        raise InputError(
            f"is {audio_s:.2f} s long; {spec.display_name} needs at least {spec.min_audio_s:g} s of speech",
            field="audio",
        )
    return audio_s


def _source_is_the_cut(values: dict, source_frames: int | None, length_s: float) -> bool:
    """Whether "auto" frames stopped at the end of a source video shorter than the sound."""
    return values.get("num_frames") == 0 and source_frames is not None and source_frames / FPS < length_s


def make_plan(
    spec: EndpointSpec, values: dict, *, audio_s: float | None = None, source_frames: int | None = None
) -> RunPlan:
    """Resolve auto frames, build fal's arguments and estimate the cost. Raises :class:`InputError`."""
    values = check_params(spec, values)
    length_s = _length_seconds(spec, values, audio_s)
    warnings: list[str] = []
    what = "estimated speech" if spec.length_from == "text" else "audio"

    if spec.frames is None:  # the length follows the audio
        frames = frames_for_seconds(min(length_s, spec.max_audio_s or length_s))
    elif values["num_frames"] == 0:
        frames = auto_frames(length_s, spec.frames, source_frames=source_frames)
    else:
        frames = values["num_frames"]
    if source_frames is not None and frames > source_frames:
        warnings.append(
            f"num_frames {frames} is longer than the source video ({source_frames} frames); "
            "fal may loop or stop early."
        )

    limit_s = spec.max_audio_s if spec.frames is None else spec.frames.max_frames / FPS
    if limit_s is not None and length_s > limit_s + 1e-6:
        warnings.append(
            f"The {what} is {length_s:.2f} s but one run renders at most {limit_s:.2f} s: "
            f"the last {length_s - limit_s:.2f} s will be cut."
        )
    elif spec.frames is not None and length_s > frames / FPS + 0.04 and _source_is_the_cut(values, source_frames, length_s):
        warnings.append(
            f"The source video is {source_frames / FPS:.2f} s, shorter than the {what} ({length_s:.2f} s): the "
            f"result follows the video ({frames} frames, {frames / FPS:.2f} s), so the last "
            f"{length_s - frames / FPS:.2f} s of the {what} will be cut."
        )
    elif spec.frames is not None and length_s > frames / FPS + 0.04:
        warnings.append(
            f"num_frames {frames} covers {frames / FPS:.2f} s; the last {length_s - frames / FPS:.2f} s "
            f"of the {what} will be cut."
        )

    arguments = {}
    for p in spec.params:
        if not p.fal:
            continue
        value = frames if p.name == "num_frames" else values[p.name]
        if p.omit_value is not NOT_SENT and value == p.omit_value:
            continue
        arguments[p.name] = value
    seed = next((values[p.name] for p in spec.params if p.seed), None)
    resolution = values.get("resolution")
    return RunPlan(
        spec=spec,
        arguments=arguments,
        frames=frames,
        cost_usd=spec.price.estimate(frames, resolution),
        seed=seed,
        warnings=tuple(warnings),
    )
