"""`fal-avatar jobs` and `fal-avatar fetch`: what the journal holds, and recovering a paid result."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from ..avatar.pricing import format_usd
from ..longform.fetch import fetch_run
from ..services import build_services
from ..store.journal import QUEUE_AHEAD, Journal
from .output import check_folder, check_writable, save_copy, table
from .progress import StderrStatus


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def list_jobs(args) -> int:
    entries = Journal().entries(limit=args.limit)
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=1))
        return 0
    if not entries:
        print("The journal is empty: no fal request has been submitted from this machine yet.")
        return 0
    now = time.time()
    rows = []
    for e in entries:
        local = e.local_path if e.local_path and Path(e.local_path).exists() else "-"
        rows.append(
            (
                e.request_id or "(submitting)",
                e.endpoint_id,
                e.state,
                _age(now - e.created_at),
                format_usd(e.cost_estimate_usd),
                f"prompt {e.prompt_id}" if e.origin == QUEUE_AHEAD else "-",
                local,
            )
        )
    print(
        table(
            ("REQUEST ID", "ENDPOINT", "STATE", "AGE", "EST. COST", "STARTED EARLY FOR", "LOCAL FILE"), rows
        )
    )
    return 0


def fetch(args) -> int:
    if args.out is not None:
        check_writable(args.out, flag="--out")
    else:
        check_folder(Path.cwd(), flag="--out")
    progress = StderrStatus()
    services = build_services()  # held until the copy below: its files stay pinned (never evicted) till then
    try:
        # A local copy is decoded in full before it is copied out; a damaged one is downloaded again.
        outcome = asyncio.run(
            fetch_run(args.endpoint, args.request_id, services=services, sink=progress, thorough=True)
        )
    finally:
        progress.close()
    out = args.out or Path(f"{outcome.path.stem}.mp4")
    save_copy(outcome.path, out, request_id=outcome.request_id)
    services.media.release()
    print(f"saved {out} (stored copy: {outcome.path})", file=sys.stderr)
    summary = {
        "request_id": outcome.request_id,
        "path": str(out),
        "video_url": outcome.video_url_text,
        "output_extras": [extras.to_json() for extras in outcome.extras],  # fal's extra fields, per job
    }
    print(json.dumps(summary))
    return 0
