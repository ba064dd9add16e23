"""The rows as a catalogue people read: `fal-avatar models` and the README's table (one line per row: family,
inputs, price per second at each resolution, most seconds per job, seed or not, live or delisted)."""

from __future__ import annotations

from .endpoints import GENERATION_ENDPOINTS
from .row import ANY_RESOLUTION, FAMILIES, EndpointSpec


def inputs(spec: EndpointSpec) -> str:
    """``image, audio, mask?``: the media slots and texts, ``?`` where optional."""
    names = [s.name + ("?" if s.optional else "") for s in spec.media if s.kind != "frames"]
    names += [p.role for p in spec.params if p.role]
    return ", ".join(names)


def max_seconds(spec: EndpointSpec) -> str:
    """``30 s @1080p, 60 s @720p``; ``unknown (plans 60 s)`` where fal states none."""
    parts = []
    for key, seconds in spec.max_seconds.items():
        at = "" if key == ANY_RESOLUTION else f" @{key}"
        parts.append(f"{seconds:g} s{at}" if seconds is not None else f"unknown{at}")
    text = ", ".join(parts)
    if spec.max_seconds_at(spec.default_resolution) is None and spec.planning_max_s:
        text += f" (plans {spec.planning_max_s:g} s)"
    return text


def status(spec: EndpointSpec) -> str:
    return spec.status if not spec.status_note else f"{spec.status}: {spec.status_note}"


def model_row(spec: EndpointSpec) -> dict:
    """One row as `fal-avatar models --json` prints it."""
    return {
        "endpoint_id": spec.endpoint_id,
        "short_name": spec.short_name or None,
        "name": spec.display_name,
        "family": spec.family,
        "inputs": inputs(spec),
        "price": spec.price.describe(),
        "usd_per_second": dict(spec.price.usd_per_second),
        "price_by": spec.price.by,
        "price_source": spec.price.source,
        "max_seconds_per_job": dict(spec.max_seconds),
        "planning_max_s": spec.planning_max_s,
        "length_rule": spec.length_rule,
        "fps": spec.fps,
        "seed": spec.seed_param is not None,
        "strict": spec.strict,
        "required_choices": [p.name for p in spec.params if p.choice_required],
        "status": spec.status,
        "status_note": spec.status_note,
        "source": spec.source,
    }


def markdown_table() -> str:
    """The README's table, family by family (prices are estimates; see each row's source)."""
    lines = [
        "| endpoint | family | inputs | price (estimated) | most per job | seed | status |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = sorted(GENERATION_ENDPOINTS, key=lambda s: list(FAMILIES).index(s.family))
    for spec in rows:
        cells = (
            f"`{spec.endpoint_id}`",
            FAMILIES[spec.family],
            inputs(spec),
            spec.price.describe(),
            max_seconds(spec),
            "yes" if spec.seed_param is not None else "no",
            status(spec),
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
