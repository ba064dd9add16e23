"""`fal-avatar generate`: the node's pipeline for scripts, with a JSON summary as the last stdout line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..avatar.endpoints import BY_ENDPOINT_ID, endpoint
from ..errors import InputError
from ..longform.run import AvatarRun, materialize_run, run_avatar
from ..pipeline.inputs import GenerationRequest
from ..pipeline.interrupt import UserInterrupt
from ..pipeline.outputs import AvatarOutputs
from ..services import RunSettings, Services, build_services
from ..settings import MAX_PARALLEL_CAP
from .fields import MEDIA_OPTIONS, coerce_param, field_of, missing_choice, not_taken
from .files import load_audio, load_image, load_mask
from .interrupts import run_interruptible
from .output import InputFiles, check_folder, check_not_input, check_writable, save_copy
from .progress import StderrStatus


def add_arguments(parser) -> None:
    parser.add_argument(
        "endpoint", help="fal endpoint id (see `fal-avatar models`): " + ", ".join(BY_ENDPOINT_ID)
    )
    parser.add_argument("--image", type=Path, help="portrait image file")
    parser.add_argument("--audio", type=Path, help="speech audio file (two-person rows: the first speaker's)")
    parser.add_argument("--audio2", type=Path, help="the second speaker's audio file (two-person rows)")
    parser.add_argument("--video", type=Path, help="source video (lip-sync on footage)")
    parser.add_argument(
        "--mask", type=Path, help="mask image: only the person in its white area speaks (OmniHuman)"
    )
    parser.add_argument("--text", help="text to speak (text rows; two-person rows: the first speaker's)")
    parser.add_argument("--text2", help="the second speaker's text (two-person text rows)")
    parser.add_argument("--voice", help="built-in voice (text rows; two-person rows: the first speaker's)")
    parser.add_argument("--voice2", help="the second speaker's built-in voice")
    parser.add_argument("--prompt")
    parser.add_argument("--num-frames", default="auto", help="4n+1 frame count, or 'auto' (default)")
    parser.add_argument(
        "--resolution", help="output resolution (the row's options; required where fal has no default)"
    )
    parser.add_argument("--seed", type=int, help="random seed (rows that have one)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="any other field of the endpoint"
    )
    parser.add_argument("--out", type=Path, help="where to copy the MP4 (default: <request id>.mp4)")
    parser.add_argument(
        "--max-usd",
        type=float,
        help="refuse (before any upload) a run whose cost estimate is above this many US dollars "
        "(default: FAL_AVATAR_MAX_USD_PER_RUN, the saved setting, or 25)",
    )
    parser.add_argument(
        "--max-parallel",
        type=int,
        help="fal jobs in flight at once for a long run (default FAL_AVATAR_MAX_PARALLEL or 4)",
    )
    parser.add_argument(
        "--resubmit",
        action="store_true",
        help="submit again even though an earlier submit of this exact request got no answer "
        "(if fal did create that job, both are billed)",
    )


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def build_request(args) -> GenerationRequest:
    try:
        spec = endpoint(args.endpoint)
    except KeyError as exc:
        raise InputError(str(exc.args[0]), field="endpoint") from None
    values: dict = {}
    for option in ("text", "text2", "voice", "voice2", "prompt", "resolution", "seed"):
        raw = getattr(args, option)
        if raw is None:
            continue
        name = field_of(spec, option)
        if name is None:
            raise not_taken(spec, option)
        values[name] = raw
    if spec.has_param("num_frames"):
        values["num_frames"] = (
            0 if args.num_frames == "auto" else coerce_param(spec, "num_frames", args.num_frames)
        )
    elif args.num_frames != "auto":
        raise not_taken(spec, "num_frames")
    for item in args.param:
        name, sep, raw = item.partition("=")
        if not sep:
            raise InputError(f"expected NAME=VALUE, got {item!r}", field="--param")
        values[name] = coerce_param(spec, name, raw)
    for option in MEDIA_OPTIONS:
        if getattr(args, option) is not None and not spec.has_slot(option):
            raise not_taken(spec, option)
    missing_choice(spec, values)
    return GenerationRequest(
        spec=spec,
        values=values,
        image=load_image(args.image, warn=_warn) if args.image else None,
        audio=load_audio(args.audio) if args.audio else None,
        audio2=load_audio(args.audio2) if args.audio2 else None,
        mask=load_mask(args.mask) if args.mask else None,
        video_path=args.video,
        resubmit=args.resubmit,
    )


async def run_request(
    request: GenerationRequest,
    *,
    services: Services | None = None,
    progress=None,
    want_audio: bool = True,
    thorough: bool = False,
    interrupt: UserInterrupt | None = None,
    max_usd: float | None = None,
) -> tuple[AvatarRun, AvatarOutputs]:
    """Run the request exactly as the node does (its whole input: one job or stitched segments) and decode
    the result (``thorough``: fully check a reused stored file first, see ``materialize_outcome``). The entry
    point of a CLI run: without ``services`` it builds them (once, from the environment)."""
    services = services if services is not None else build_services()
    run = await run_avatar(request, services=services, sink=progress, interrupt=interrupt, max_usd=max_usd)
    outputs = await materialize_run(
        run,
        want_frames=request.want_frames,
        want_audio=want_audio,
        thorough=thorough,
        services=services,
        sink=progress,
    )
    return run, outputs


def summary(run: AvatarRun, outputs: AvatarOutputs, out: Path, started: float) -> dict:
    info = outputs.info
    return {
        "request_id": run.request_id,
        "request_ids": list(run.request_ids),
        "segments": len(run.request_ids),
        "endpoint": run.endpoint_id,
        "path": str(out),
        "video_url": run.video_url_text,  # a stitched run: its segments' URLs, comma-joined (as before)
        "video_urls": list(run.video_urls),
        "frames": outputs.frame_count,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "video_seconds": round(info.duration_s, 3),
        "has_audio": info.has_audio,
        "estimated_cost_usd": run.estimate_usd,
        "estimated_new_spend_usd": run.spend.new_usd,  # what this process submitted (see pipeline/spend.py)
        "new_jobs": run.spend.new_jobs,
        "reused_jobs": run.spend.reused_jobs,
        "estimated_reused_usd": run.spend.reused_usd,
        "reused": run.reused,
        "warnings": list(run.warnings),
        "output_extras": [extras.to_json() for extras in run.extras],  # fal's extra fields, per job
        "seconds": round(time.monotonic() - started, 2),
    }


def run(args) -> int:
    started = time.monotonic()
    if args.out is not None:
        check_writable(args.out, flag="--out")
        inputs = InputFiles()
        for flag in ("image", "audio", "video"):
            if getattr(args, flag) is not None:
                inputs.add(getattr(args, flag), f"the --{flag} file")
        check_not_input(args.out, inputs, flag="--out")
    else:
        check_folder(Path.cwd(), flag="--out")
    if args.max_parallel is not None and not 1 <= args.max_parallel <= MAX_PARALLEL_CAP:
        raise InputError(f"must be from 1 to {MAX_PARALLEL_CAP}", field="--max-parallel")
    request = build_request(args)
    request.want_frames = False
    # held until the copy below: the files its run stores or reuses stay pinned (never evicted) till then
    services = build_services(RunSettings.from_env(max_parallel=args.max_parallel))
    progress = StderrStatus()
    try:
        # The command only needs the file and its facts: no frame or audio decoding, but a stored file it
        # reuses is checked in full before it is copied out.
        outcome, outputs = run_interruptible(
            lambda interrupt: run_request(
                request,
                services=services,
                progress=progress,
                want_audio=False,
                thorough=True,
                interrupt=interrupt,
                max_usd=args.max_usd,
            )
        )
    finally:
        progress.close()
    out = args.out or Path(f"{outcome.path.stem}.mp4")
    save_copy(outcome.path, out, request_id=outcome.request_id)
    services.media.release()
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(summary(outcome, outputs, out, started)))
    return 0
