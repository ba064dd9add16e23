"""`fal-avatar batch MANIFEST`: one generation per manifest row (see ``manifest.py``), resumable.

The whole manifest is checked and priced before anything is uploaded (every bad row is reported with its
line; the batch total, identical rows counted once, goes through the spend guard). Then every row runs in
one event loop with one connection pool, at most ``--concurrency`` fal jobs in flight across all rows. A
failed row does not stop the others. Every generation is journaled, so running the same manifest again pays
only for the rows not generated yet (and re-attaches to jobs still running after a crash).

Exit codes: 0 every row done; 3 a row failed; 2 the manifest was refused (nothing uploaded); 130 Ctrl-C
(every fal job in flight is cancelled). The last stdout line is a JSON summary.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from pathlib import Path

from ..avatar.pricing import format_usd
from ..batch.run import Batch, BatchEstimate, BatchItem, BatchRow
from ..credentials import resolve_credentials
from ..errors import FalAvatarError, InputError, JobCancelledError
from ..longform.run import AvatarRun
from ..pipeline.interrupt import UserInterrupt
from ..services import RunSettings, build_services
from ..settings import MAX_PARALLEL_CAP
from ..spend_guard import check_spend, spend_limit
from ..states import ENDED, Outcome
from .batch_progress import BatchProgress, format_duration
from .delivered import DeliveredOutputs
from .interrupts import run_interruptible
from .manifest import ManifestError, ManifestRow, MediaLoader, Problem, read_manifest
from .output import save_copy, table

DEFAULT_CONCURRENCY = 8


def add_arguments(parser) -> None:
    parser.add_argument("manifest", type=Path, help="CSV or JSONL file: one row per video (see the README)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"fal jobs in flight at once across all rows, 1-{MAX_PARALLEL_CAP} (default "
        f"{DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--max-usd",
        type=float,
        help="refuse (before any upload) a batch whose estimate still to pay is above this many US dollars "
        "(default: FAL_AVATAR_MAX_USD_PER_RUN, the saved setting, or 25)",
    )
    parser.add_argument("--dry-run", action="store_true", help="check and price every row; upload nothing")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="folder of rows without 'out' (named <manifest>-<line>.mp4) and base of relative 'out' paths "
        "(default: the manifest's folder)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing files at the rows' outputs even when this batch did not write them",
    )
    parser.add_argument(
        "--json", action="store_true", help="print only the JSON summary on stdout (no table)"
    )


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run(args) -> int:
    started = time.monotonic()
    if not 1 <= args.concurrency <= MAX_PARALLEL_CAP:
        raise InputError(f"must be from 1 to {MAX_PARALLEL_CAP}", field="--concurrency")
    if args.max_usd is not None:
        spend_limit(args.max_usd)  # a bad value is refused before the manifest is read
    delivered = DeliveredOutputs()
    rows, problems = read_manifest(
        args.manifest,
        out_dir=args.out_dir,
        overwrite=args.overwrite,
        is_ours=functools.partial(delivered.is_ours, manifest=args.manifest),
    )
    media = MediaLoader(warn=_warn)
    items = [
        BatchItem(f"line {row.line}", row.spec.endpoint_id, functools.partial(row.request, media))
        for row in rows
    ]
    progress = BatchProgress()

    def deliver(index: int, run: AvatarRun) -> None:
        out = rows[index].out
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # save_copy says why the file cannot be written, and where the stored copy is
        save_copy(run.path, out, request_id=run.request_id)
        delivered.record(out, args.manifest)

    services = build_services(RunSettings.from_env(max_parallel=args.concurrency))
    batch = Batch(items, services=services, deliver=deliver, on_change=progress.changed)
    progress.batch = batch
    try:
        estimate = run_interruptible(
            lambda interrupt: _check_and_run(batch, rows, problems, args, progress, interrupt)
        )
    except JobCancelledError:
        if not batch.started:
            print("interrupted: nothing was uploaded or submitted", file=sys.stderr)
            return 130
        progress.close()
        _report(batch, rows, args, started)
        print(
            "interrupted: every fal job in flight was cancelled; run the same command again to go on "
            "(finished rows cost nothing again)",
            file=sys.stderr,
        )
        return 130
    except FalAvatarError as exc:
        if exc.exit_code == 2:  # refused: nothing was uploaded
            print(
                json.dumps(
                    {
                        "manifest": str(args.manifest),
                        "refused": True,
                        "error": str(exc),
                        "problems": [
                            {"line": p.line, "error": p.message} for p in getattr(exc, "problems", ())
                        ],
                    }
                )
            )
        raise
    if args.dry_run:
        return _dry_run(batch, rows, estimate, args)
    progress.close()
    return _report(batch, rows, args, started)


async def _check_and_run(
    batch: Batch,
    rows: list[ManifestRow],
    problems: list[Problem],
    args,
    progress: BatchProgress,
    interrupt: UserInterrupt,
) -> BatchEstimate:
    estimate = await batch.check()
    problems = sorted(
        [*problems, *(Problem(rows[i].line, str(exc)) for i, exc in estimate.problems)], key=lambda p: p.line
    )
    if problems:
        raise ManifestError(args.manifest, problems)
    if args.dry_run:
        return estimate
    check_spend(
        estimate.to_pay_usd, what=_what(estimate), reused_usd=estimate.reused_usd, override=args.max_usd
    )
    resolve_credentials()  # a missing key is said now, before anything is uploaded
    drawer = asyncio.ensure_future(progress.animate())
    try:
        await batch.run(interrupt)
    finally:
        drawer.cancel()
    return estimate


def _what(estimate: BatchEstimate) -> str:
    jobs = "1 fal job" if estimate.jobs == 1 else f"{estimate.jobs} fal jobs"
    return f"{estimate.rows} rows ({jobs})"


# --- tables ------------------------------------------------------------------------------------------------


def _jobs(row: BatchRow) -> str:
    estimate = row.estimate
    return "1 job" if estimate.jobs == 1 else f"{estimate.jobs} segments"


def _dry_run(batch: Batch, rows: list[ManifestRow], estimate: BatchEstimate, args) -> int:
    limit, source = spend_limit(args.max_usd)
    lines = []
    for row, manifest_row in zip(batch.rows, rows, strict=True):
        e = row.estimate
        to_pay = f"= line {rows[row.same_as].line}" if row.same_as is not None else format_usd(e.to_pay_usd)
        lines.append(
            (
                manifest_row.line,
                row.item.endpoint_id,
                f"{e.length_text}, {_jobs(row)}",
                format_usd(e.estimate_usd),
                to_pay,
                manifest_row.out,
            )
        )
    _print_grouped(
        "note", {index: row.notes for index, row in enumerate(batch.rows) if row.same_as is None}, rows
    )
    if not args.json:
        print(table(("LINE", "ENDPOINT", "LENGTH / JOBS", "EST.", "TO PAY", "OUT"), lines))
        print(
            f"\n{_what(estimate)}: est. {format_usd(estimate.estimate_usd)}, still to pay "
            f"{format_usd(estimate.to_pay_usd)} (spend limit {format_usd(limit)}, {source}). Nothing was "
            "uploaded."
        )
    refused = None
    try:
        check_spend(
            estimate.to_pay_usd, what=_what(estimate), reused_usd=estimate.reused_usd, override=args.max_usd
        )
    except FalAvatarError as exc:
        refused = exc
        print(f"error: {exc}", file=sys.stderr)
    summary = {
        "manifest": str(args.manifest),
        "dry_run": True,
        "refused": refused is not None,
        "rows": [_row_json(batch, i, rows) for i in range(len(rows))],
        **_totals(estimate),
    }
    print(json.dumps(summary))
    return refused.exit_code if refused is not None else 0


def _report(batch: Batch, rows: list[ManifestRow], args, started: float) -> int:
    outcomes = [row.outcome for row in batch.rows]
    if not args.json:
        lines = []
        for row, manifest_row in zip(batch.rows, rows, strict=True):
            status = row.outcome
            if status == Outcome.DONE and row.same_as is not None:
                status = f"done (= line {rows[row.same_as].line})"
            elif status == Outcome.DONE and row.run.reused:
                status = "done (stored)"
            ids = row.request_ids
            request = ids[0] if len(ids) == 1 else f"{len(ids)} segments" if ids else "-"
            where = (
                manifest_row.out if row.outcome == Outcome.DONE else _short(row.error) if row.error else "-"
            )
            lines.append(
                (
                    manifest_row.line,
                    status,
                    row.item.endpoint_id,
                    request,
                    format_usd(row.estimate.estimate_usd),
                    where,
                )
            )
        print(table(("LINE", "STATUS", "ENDPOINT", "REQUEST", "EST.", "OUT / ERROR"), lines))
        counts = " · ".join(
            f"{outcomes.count(o)} {o}"
            for o in (Outcome.DONE, Outcome.FAILED, Outcome.CANCELLED, Outcome.PENDING)
            if outcomes.count(o)
        )
        spend = batch.spend
        print(
            f"\n{counts} · est. {format_usd(spend.new_usd)} newly spent ({spend.new_jobs} jobs submitted, "
            f"{spend.reused_jobs} reused) · {format_duration(time.monotonic() - started)}"
        )
    for row in batch.rows:
        if row.outcome == Outcome.FAILED and row.same_as is None:
            print(f"error: {row.item.label}: {row.error}", file=sys.stderr)
    _print_grouped(
        "warning",
        {
            i: row.run.warnings
            for i, row in enumerate(batch.rows)
            if row.run is not None and row.same_as is None
        },
        rows,
    )
    summary = {
        "manifest": str(args.manifest),
        "rows": [_row_json(batch, i, rows) for i in range(len(rows))],
        **{o: outcomes.count(o) for o in ENDED},
        **batch.spend.to_json(),  # new_jobs, new_spend_usd: what this process submitted (failed rows too)
        "seconds": round(time.monotonic() - started, 2),
    }
    print(json.dumps(summary))
    if any(o == Outcome.FAILED for o in outcomes):
        return 3
    return 0 if all(o == Outcome.DONE for o in outcomes) else 130


def _print_grouped(kind: str, texts: dict[int, list[str] | tuple[str, ...]], rows: list[ManifestRow]) -> None:
    """One stderr line per distinct text, with the lines of the rows it concerns."""
    lines: dict[str, list[str]] = {}
    for index, items in texts.items():
        for text in items:
            lines.setdefault(text, []).append(str(rows[index].line))
    for text, where in lines.items():
        print(f"{kind}: line{'s' if len(where) > 1 else ''} {', '.join(where)}: {text}", file=sys.stderr)


def _totals(estimate: BatchEstimate) -> dict:
    return {"jobs": estimate.jobs, "estimate_usd": estimate.estimate_usd, "to_pay_usd": estimate.to_pay_usd}


def _row_json(batch: Batch, index: int, rows: list[ManifestRow]) -> dict:
    row, manifest_row = batch.rows[index], rows[index]
    run = row.run
    return {
        "line": manifest_row.line,
        "status": row.outcome,
        "endpoint": row.item.endpoint_id,
        "request_ids": list(row.request_ids),
        "out": str(manifest_row.out),
        "frames": row.estimate.output_frames,  # at the row's own fps (None: the model's file says)
        "fps": row.estimate.fps,
        "seconds": round(row.estimate.seconds, 3),
        "jobs": row.estimate.jobs,
        "estimate_usd": row.estimate.estimate_usd,
        "to_pay_usd": 0.0 if row.same_as is not None else row.estimate.to_pay_usd,
        "same_as_line": rows[row.same_as].line if row.same_as is not None else None,
        "reused": run.reused if run is not None else None,
        "output_extras": [extras.to_json() for extras in run.extras] if run is not None else None,
        "new_jobs": row.spend.new_jobs,
        "new_spend_usd": row.spend.new_usd,
        "error": str(row.error) if row.error is not None else None,
    }


def _short(error: BaseException, width: int = 70) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= width else text[: width - 1] + "…"
