"""`fal-avatar demo`: a talking video from the bundled samples, on the embedded emulator (no key needed)
or, with ``--live`` and FAL_KEY, on real fal. Same code path as the ComfyUI node."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

from ..avatar.endpoints import INFINITALK_IMAGE
from ..credentials import Credentials, resolve_credentials
from ..media.contact_sheet import contact_sheet
from ..pipeline.inputs import GenerationRequest
from ..services import build_services
from ..settings import FalUrls
from .files import load_audio, load_image
from .generate import run_request
from .interrupts import run_interruptible
from .output import check_writable, save_copy
from .progress import StderrStatus

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEMO_PROMPT = "A friendly cartoon person talking to the camera with clear lip movements."


def add_arguments(parser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo.mp4"), help="output video (default demo.mp4)")
    parser.add_argument("--sheet", type=Path, help="contact sheet PNG (default <out>_contact_sheet.png)")
    parser.add_argument("--live", action="store_true", help="use real fal (needs FAL_KEY; costs money)")


@contextlib.contextmanager
def _emulated_fal():
    """Start the embedded emulator; yields its address and the services of a run against it (its key, its
    URLs and a data directory of its own). Nothing in the process's environment changes."""
    from ..emulator import FalEmulator

    key = "demo-key-id:demo-key-secret"
    with (
        tempfile.TemporaryDirectory(prefix="fal-avatar-demo-") as home,
        FalEmulator(key=key, queue_delay=0.5, processing_time=1.5) as emu,
    ):
        services = build_services(
            home=Path(home), credentials=Credentials(key, "demo"), urls=FalUrls.single(emu.base_url)
        )
        yield emu.base_url, services


def run(args) -> int:
    started = time.monotonic()
    sheet = args.sheet or args.out.with_name(args.out.stem + "_contact_sheet.png")
    check_writable(args.out, flag="--out")
    check_writable(sheet, flag="--sheet")
    request = GenerationRequest(
        spec=INFINITALK_IMAGE,
        values={"prompt": DEMO_PROMPT, "num_frames": 0, "resolution": "480p"},
        image=load_image(ASSETS / "sample_portrait.png"),
        audio=load_audio(ASSETS / "sample_speech.wav"),
    )
    if args.live:
        resolve_credentials()  # fail now, before anything is uploaded
        where = contextlib.nullcontext(("real fal", build_services()))
    else:
        where = _emulated_fal()
    progress = StderrStatus()
    with where as (target, services):
        print(f"demo: running {INFINITALK_IMAGE.endpoint_id} on {target}", file=sys.stderr)
        try:
            outcome, outputs = run_interruptible(
                lambda interrupt: run_request(
                    request, services=services, progress=progress, interrupt=interrupt
                )
            )
        finally:
            progress.close()
        save_copy(outcome.path, args.out, request_id=outcome.request_id)
    contact_sheet(outputs.frames, sheet)
    info = outputs.info
    print(
        f"demo: request {outcome.request_id} · {outputs.frame_count} frames · {info.fps:g} fps · "
        f"{info.width}x{info.height} · {info.duration_s:.2f} s of video · audio "
        f"{'yes' if info.has_audio else 'no'} · {time.monotonic() - started:.1f} s → {args.out}, {sheet}"
    )
    return 0
