"""`fal-avatar models`: every endpoint row as a table (or JSON with --json). Nothing is sent anywhere."""

from __future__ import annotations

import json

from ..avatar.endpoints import GENERATION_ENDPOINTS
from ..avatar.listing import inputs, max_seconds, model_row, status
from ..avatar.row import FAMILIES


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")


def render_table() -> str:
    lines = ["fal-avatar models: prices are estimates (fal's invoice is the truth); 'plans' = the per-job "
             "length a",
             "long run uses where fal states no limit", ""]  # fmt: skip
    for family, title in FAMILIES.items():
        rows = [spec for spec in GENERATION_ENDPOINTS if spec.family == family]
        if not rows:
            continue
        lines.append(title)
        for spec in rows:
            seed = "seed" if spec.seed_param is not None else "no seed"
            lines.append(f"  {spec.endpoint_id}" + (f"  ({spec.short_name})" if spec.short_name else ""))
            lines.append(f"      inputs: {inputs(spec)} · {seed}{' · strict fields' if spec.strict else ''}")
            lines.append(f"      price:  {spec.price.describe()}")
            lines.append(f"      per job: {max_seconds(spec)} · {status(spec)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def run(args) -> int:
    if args.json:
        print(json.dumps({"models": [model_row(spec) for spec in GENERATION_ENDPOINTS]}, indent=1))
    else:
        print(render_table(), end="")
    return 0
