"""``fal-avatar emulator``: run the fal emulator until SIGINT/SIGTERM; the first stdout line is its URL."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..errors import os_error_reason
from .catalogue import STATUSES
from .server import FalEmulator

DEFAULT_KEY = "emulator-key-id:emulator-key-secret"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fal-avatar emulator",
        description="Serve a local fal.ai emulator (queue, storage and CDN on one port) with real, fast "
        "talking-avatar renders. Point the pack at it with "
        "FAL_QUEUE_URL/FAL_REST_URL/FAL_CDN_URL/FAL_API_URL=<url> (and "
        "FAL_OPENAPI_URL=<url>/api/openapi/queue/openapi.json for `fal-avatar doctor`).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0 = a free port)")
    parser.add_argument("--key", default=DEFAULT_KEY, help="the FAL_KEY clients must send (id:secret)")
    parser.add_argument(
        "--processing-time",
        type=float,
        default=2.0,
        metavar="S",
        help="minimum seconds a job spends IN_PROGRESS (default 2)",
    )
    parser.add_argument(
        "--queue-delay",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds a job spends IN_QUEUE (default 1)",
    )
    parser.add_argument("--log-lines", type=int, default=5, help="log lines per job (default 5)")
    parser.add_argument(
        "--catalogue-status",
        action="append",
        default=[],
        type=_catalogue_status,
        metavar="ENDPOINT=STATUS",
        help=f"list ENDPOINT in fal's model catalogue as {' / '.join(STATUSES)} (repeatable; "
        "default: every endpoint active except fal-ai/stable-avatar, absent)",
    )
    return parser


def _catalogue_status(value: str) -> tuple[str, str]:
    endpoint_id, sep, status = value.rpartition("=")
    if not sep or not endpoint_id or status not in STATUSES:
        raise argparse.ArgumentTypeError(f"expected ENDPOINT=STATUS with STATUS one of {', '.join(STATUSES)}")
    return endpoint_id, status


def main(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (main thread) or until ``stop`` is set (callers running it in a thread)."""
    args = build_parser().parse_args(argv)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    emulator = FalEmulator(
        args.key,
        processing_time=args.processing_time,
        queue_delay=args.queue_delay,
        log_lines=args.log_lines,
        host=args.host,
        port=args.port,
    )
    for endpoint_id, status in args.catalogue_status:
        emulator.set_catalogue_status(endpoint_id, status)
    try:
        emulator.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {os_error_reason(exc)}", file=sys.stderr)
        return 2
    try:
        print(emulator.base_url, flush=True)
        key_hint = f"FAL_KEY={DEFAULT_KEY}" if args.key == DEFAULT_KEY else "FAL_KEY to the --key you chose"
        print(
            f"fal emulator listening on {emulator.base_url}; set FAL_QUEUE_URL, FAL_REST_URL, FAL_CDN_URL "
            f"and FAL_API_URL to it, FAL_OPENAPI_URL to {emulator.base_url}/api/openapi/queue/openapi.json "
            f"and {key_hint}. Stop with Ctrl+C.",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
