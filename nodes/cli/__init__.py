"""The `fal-avatar` command: demo, generate, batch, compare, jobs, fetch, doctor, models, emulator.

Exit codes: 0 success; 2 bad input or settings (nothing was submitted); 3 fal-side failure or a result that
could not be saved locally (the paid job is kept); 130 interrupted (a submitted fal job is cancelled).
`doctor` also uses 1: an endpoint drifted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import FalAvatarError

SQLITE_MAX_INT = 2**63 - 1


def _parser() -> argparse.ArgumentParser:
    from . import batch, compare, demo, doctor, generate, models

    parser = argparse.ArgumentParser(
        prog="fal-avatar", description="fal.ai talking avatars from the command line"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo.add_arguments(
        sub.add_parser("demo", help="talking video from the bundled samples (emulator by default)")
    )
    generate.add_arguments(sub.add_parser("generate", help="run one endpoint, as the ComfyUI node does"))
    batch.add_arguments(
        sub.add_parser("batch", help="one generation per row of a CSV or JSONL manifest (resumable)")
    )
    compare.add_arguments(
        sub.add_parser(
            "compare", help="the same face and opening seconds of speech on several models, side by side"
        )
    )
    jobs = sub.add_parser("jobs", help="list the request journal")
    jobs.add_argument("--limit", type=_row_count, default=50, help="newest entries to list (default 50)")
    jobs.add_argument("--json", action="store_true")
    fetch = sub.add_parser("fetch", help="recover a finished request's result without paying again")
    fetch.add_argument("request_id", help="the request id a run showed (a long run's whole segment list)")
    fetch.add_argument("--endpoint", required=True, help="the endpoint id the request was submitted to")
    fetch.add_argument("--out", type=Path)
    doctor.add_arguments(
        sub.add_parser(
            "doctor", help="check the key, fal's hosts and the endpoints against fal's schemas (free)"
        )
    )
    models.add_arguments(
        sub.add_parser(
            "models", help="every endpoint: family, inputs, price, most seconds per job, seed, status"
        )
    )
    sub.add_parser("emulator", help="run the fal emulator on 127.0.0.1", add_help=False)
    return parser


def _row_count(text: str) -> int:
    """A positive whole number of rows (``1e20`` too); one above what SQLite counts means "all of them"."""
    try:
        number = float(text) if "e" in text.lower() else int(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1 or (isinstance(number, float) and not number.is_integer()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return min(int(number), SQLITE_MAX_INT)


def _note_missing_sniffio() -> None:
    """httpcore runs ``import sniffio`` on every request; when sniffio is not installed each of those failed
    imports searches sys.path again (~0.5 ms a request, a third of a 64-job batch's CPU). Record the miss
    once; ``import sniffio`` still fails the same way. Only in this command's own process."""
    import importlib.util

    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _note_missing_sniffio()
    if argv[:1] == ["emulator"]:
        from ..emulator.serve import main as serve

        return serve(argv[1:])
    args = _parser().parse_args(argv)
    from . import batch, compare, demo, doctor, generate, jobs, models

    command = {
        "demo": demo.run,
        "generate": generate.run,
        "batch": batch.run,
        "compare": compare.run,
        "jobs": jobs.list_jobs,
        "fetch": jobs.fetch,
        "doctor": doctor.run,
        "models": models.run,
    }
    try:
        return command[args.command](args)
    except FalAvatarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "interrupted: finished results are kept (running again takes them at no charge)", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
