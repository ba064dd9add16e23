"""What ``fal-avatar compare`` runs: the models (portrait + audio rows, by short name or endpoint id), each
one's settings, and the opening seconds of the speech that every model gets.

The audio is trimmed here, before any request key is computed, so an identical compare has the same keys and
pays nothing. A required choice without a default (Fabric's resolution) comes from ``--resolution`` when the
row offers it, else the row's cheapest option; every other setting is the row's default. Nothing here
uploads or spends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..avatar.endpoints import BY_ENDPOINT_ID, BY_SHORT_NAME, FAMILIES, EndpointSpec, by_family
from ..errors import InputError
from ..media.audio import audio_duration_s
from ..pipeline.inputs import GenerationRequest

FAMILY = "portrait_audio"  # the rows compare runs: a portrait and a speech clip in, a talking video out
DEFAULT_SECONDS = 6.0
MAX_SECONDS = 60.0  # the opening of a speech, one job per model; longer runs are `fal-avatar generate`'s


@dataclass(frozen=True)
class CompareEntry:
    """One model of a comparison: its name in the table, its row, the resolution it renders at (``None``:
    the row has no such choice) and where that came from ("--resolution", "default" or "cheapest")."""

    name: str
    spec: EndpointSpec
    resolution: str | None
    resolution_from: str
    request: GenerationRequest


@dataclass(frozen=True)
class ComparePlan:
    """The models in the order given, the seconds each renders and the (trimmed) speech they all get."""

    entries: tuple[CompareEntry, ...]
    seconds: float
    audio: dict


def qualifying() -> tuple[EndpointSpec, ...]:
    return by_family(FAMILY)


def _names() -> str:
    return ", ".join(spec.short_name or spec.endpoint_id for spec in qualifying())


def resolve_model(name: str) -> EndpointSpec:
    """A row by short name or fal endpoint id; InputError (naming the qualifying short names) for an unknown
    model or one that does not take a portrait and a speech clip."""
    key = name.strip()
    spec = BY_SHORT_NAME.get(key.lower()) or BY_ENDPOINT_ID.get(key.strip("/"))
    if spec is None:
        raise InputError(f"unknown model {key!r}; compare takes: {_names()}", field="--models")
    if spec.family != FAMILY:
        raise InputError(
            f"{key} ({spec.endpoint_id}) is a {FAMILIES[spec.family].lower()} model; compare runs models "
            f"that take a portrait and a speech clip: {_names()}",
            field="--models",
        )
    return spec


def parse_models(text: str) -> tuple[EndpointSpec, ...]:
    """``omnihuman,fabric,kling-std`` → rows, in order; each once."""
    names = [name for name in (part.strip() for part in text.split(",")) if name]
    if not names:
        raise InputError(f"name at least one model; compare takes: {_names()}", field="--models")
    specs = tuple(resolve_model(name) for name in names)
    twice = sorted({s.short_name or s.endpoint_id for s in specs if specs.count(s) > 1})
    if twice:
        raise InputError(f"{', '.join(twice)} is listed more than once", field="--models")
    return specs


def trim_audio(audio: dict, seconds: float) -> tuple[dict, float]:
    """The first ``seconds`` of ``audio`` (all of it when shorter) and its length in seconds."""
    if not 0 < seconds <= MAX_SECONDS:
        raise InputError(f"must be more than 0 and at most {MAX_SECONDS:g} seconds (the opening of the "
                         "speech; `fal-avatar generate` runs any length)", field="--seconds")  # fmt: skip
    length = audio_duration_s(audio)
    rate = int(audio["sample_rate"])
    keep = min(audio["waveform"].shape[-1], round(seconds * rate))
    waveform = np.ascontiguousarray(np.asarray(audio["waveform"])[..., :keep])
    return {"waveform": waveform, "sample_rate": rate}, min(length, keep / rate)


def _resolution(spec: EndpointSpec, asked: str | None, seconds: float) -> tuple[str | None, str]:
    if not spec.resolutions:
        return None, ""
    if asked in spec.resolutions:
        return asked, "--resolution"
    if spec.default_resolution is not None:
        return spec.default_resolution, "default"
    return min(spec.resolutions, key=lambda r: spec.price.estimate(seconds, r)), "cheapest"


def plan_compare(
    specs: tuple[EndpointSpec, ...], *, image, audio: dict, seconds: float, resolution: str | None = None
) -> ComparePlan:
    """One request per model, all with ``image`` and the first ``seconds`` of ``audio``. ``resolution`` is
    used by every model that offers it (InputError when none does)."""
    if resolution is not None and not any(resolution in spec.resolutions for spec in specs):
        offered = sorted({r for spec in specs for r in spec.resolutions})
        raise InputError(f"no model listed offers {resolution!r} "
                         f"(they offer: {', '.join(offered) or 'none'})",
                         field="--resolution")  # fmt: skip
    trimmed, length = trim_audio(audio, seconds)
    entries = []
    for spec in specs:
        chosen, source = _resolution(spec, resolution, length)
        values = {"resolution": chosen} if source in ("--resolution", "cheapest") else {}
        request = GenerationRequest(spec=spec, values=values, image=image, audio=trimmed, want_frames=False)
        entries.append(CompareEntry(spec.short_name or spec.endpoint_id, spec, chosen, source, request))
    return ComparePlan(tuple(entries), length, trimmed)
