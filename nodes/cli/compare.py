"""`fal-avatar compare`: the same portrait and opening seconds of speech on several models, side by side.

Prints a table (model, resolution, price, what this run paid, fal's time, fps, size, result) or, with
``--json``, the same as JSON. Exit code 3 when a model failed (the others are in the video and the table).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..avatar.pricing import format_usd
from ..compare.plan import DEFAULT_SECONDS, MAX_SECONDS, parse_models, plan_compare, qualifying
from ..compare.run import CompareResult, ModelResult, run_compare
from ..errors import FalAvatarError, InputError
from ..services import RunSettings, build_services
from ..settings import MAX_PARALLEL_CAP
from .files import load_audio, load_image
from .interrupts import run_interruptible
from .output import check_writable, table
from .progress import StderrStatus

DEFAULT_OUT = Path("compare.mp4")
PARTIAL_EXIT = FalAvatarError.exit_code  # 3: a model failed (the others are in the video and the table)


def add_arguments(parser) -> None:
    names = ", ".join(spec.short_name or spec.endpoint_id for spec in qualifying())
    parser.description = (
        "Render the same opening seconds of speech with the same portrait on several models and write one "
        "side-by-side MP4, labelled with each model's price and time, plus a table. Each model's job is an "
        "ordinary generation (journaled; an identical compare pays nothing) and the whole comparison's "
        "estimate is checked against the spend limit before anything is uploaded. Exit code 3 when a model "
        "failed (the others are still in the video and the table)."
    )
    parser.add_argument("--image", type=Path, required=True, help="portrait image file")
    parser.add_argument(
        "--audio", type=Path, required=True, help="speech audio file (its opening seconds are used)"
    )
    parser.add_argument(
        "--models", required=True, help=f"comma-separated short names or endpoint ids: {names}"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help=f"seconds of the audio's opening each model renders (default {DEFAULT_SECONDS:g}, at most "
        f"{MAX_SECONDS:g})",
    )
    parser.add_argument(
        "--resolution",
        help="resolution for every model that offers it; otherwise a model's default, or its cheapest option "
        "where fal has no default (Fabric)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"the side-by-side MP4 (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--max-usd",
        type=float,
        help="refuse (before any upload) a comparison whose cost estimate is above this many US dollars "
        "(default: FAL_AVATAR_MAX_USD_PER_RUN, the saved setting, or 25)",
    )
    parser.add_argument(
        "--max-parallel", type=int, help="fal jobs in flight at once (default FAL_AVATAR_MAX_PARALLEL or 4)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _resolution(model: ModelResult) -> str:
    entry = model.entry
    return f"{entry.resolution} ({entry.resolution_from})" if entry.resolution else "-"


def _outcome(model: ModelResult) -> str:
    if not model.ok:
        return f"FAILED: {str(model.error).splitlines()[0] if model.error else 'no result'}"
    return "reused (no new charge)" if model.reused else "ok"


def _lines(result: CompareResult) -> list[tuple]:
    lines = []
    for m in result.models:
        video = m.video
        lines.append((
            m.entry.name,
            _resolution(m),
            format_usd(m.estimate_usd),
            format_usd(m.paid_usd),
            f"{m.render_s:.1f} s" if m.render_s is not None else "-",
            f"{video.fps:.2f}".rstrip("0").rstrip(".") if video else "-",
            f"{video.width}x{video.height}" if video else "-",
            _outcome(m),
        ))  # fmt: skip
    return lines


def summary(result: CompareResult) -> dict:
    video = result.video
    return {
        "path": str(video.path) if video else None,
        "seconds": round(result.plan.seconds, 3),
        "width": video.width if video else None,
        "height": video.height if video else None,
        "fps": video.fps if video else None,
        "video_seconds": round(video.duration_s, 3) if video else None,
        "has_audio": video.has_audio if video else False,
        "estimated_cost_usd": result.estimate_usd,
        "estimated_new_spend_usd": result.paid_usd,
        "failed": len(result.failed),
        "models": [
            {
                "model": m.entry.name,
                "endpoint": m.entry.spec.endpoint_id,
                "resolution": m.entry.resolution,
                "resolution_from": m.entry.resolution_from or None,
                "estimated_usd": m.estimate_usd,
                "new_spend_usd": m.paid_usd,
                "reused": m.reused,
                "render_s": m.render_s,
                "fps": m.video.fps if m.video else None,
                "width": m.video.width if m.video else None,
                "height": m.video.height if m.video else None,
                "request_id": m.outcome.request_id if m.outcome else None,
                "path": str(m.outcome.path) if m.outcome else None,
                "video_url": m.outcome.video_url if m.outcome else None,
                "error": str(m.error) if m.error else None,
            }
            for m in result.models
        ],
    }


def _report(result: CompareResult) -> str:
    header = ("MODEL", "RESOLUTION", "EST. PRICE", "PAID NOW", "TIME", "FPS", "SIZE", "RESULT")
    video = result.video
    made = (
        f"{video.path}: {len(result.models)} tiles, {video.width}x{video.height}, {video.fps:.3g} fps, "
        f"{video.duration_s:.2f} s"
        if video
        else "no video: every model failed"
    )
    totals = (f"estimate {format_usd(result.estimate_usd)} for {result.plan.seconds:.2f} s of speech on each "
              f"model; paid now {format_usd(result.paid_usd)}")  # fmt: skip
    return "\n".join((table(header, _lines(result)), "", made, totals))


def run(args) -> int:
    if args.max_parallel is not None and not 1 <= args.max_parallel <= MAX_PARALLEL_CAP:
        raise InputError(f"must be from 1 to {MAX_PARALLEL_CAP}", field="--max-parallel")
    specs = parse_models(args.models)
    check_writable(args.out, flag="--out")
    plan = plan_compare(
        specs,
        image=load_image(args.image, warn=_warn),
        audio=load_audio(args.audio),
        seconds=args.seconds,
        resolution=args.resolution,
    )
    if plan.seconds < args.seconds:
        _warn(f"the audio is {plan.seconds:.2f} s long: each model renders all of it")
    services = build_services(RunSettings.from_env(max_parallel=args.max_parallel))
    progress = StderrStatus()
    try:
        result = run_interruptible(
            lambda interrupt: run_compare(
                plan, args.out, services=services, max_usd=args.max_usd, interrupt=interrupt, sink=progress
            )
        )
    finally:
        progress.close()
    print(json.dumps(summary(result), indent=1) if args.json else _report(result))
    return PARTIAL_EXIT if result.failed else 0
