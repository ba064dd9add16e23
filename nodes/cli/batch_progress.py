"""A batch's progress on stderr.

On a terminal: a live block redrawn a few times a second: one line per running row (line, endpoint, phase,
queue position or fal's latest log line, elapsed time) and an overall bar (done/total, failed, running,
estimated spend so far of the total, elapsed, ETA). Finished rows scroll above the block as permanent
lines. The block never outgrows the terminal (extra rows are counted on one line) and lines are cut to its
width, so the cursor arithmetic stays exact. Elsewhere (a pipe, a log file): plain lines, one per phase
change of a row and one per finished row.

The pack's own printer rather than a terminal library: this is ANSI cursor-up and clear-to-end (as the
single-run status line already uses) and needs no dependency in ComfyUI's environment.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import replace

from ..avatar.pricing import format_usd
from ..batch.run import Batch, BatchRow
from ..states import ENDED, Outcome

REDRAW_S = 0.25
BAR_WIDTH = 24
DEFAULT_SIZE = (100, 24)


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class BatchProgress:
    """Pass :meth:`changed` as the batch's ``on_change``; run :meth:`animate` while the batch runs (a terminal
    only); :meth:`close` at the end."""

    def __init__(self, stream=None, *, size: tuple[int, int] | None = None) -> None:
        self.batch: Batch | None = None
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._size = size
        self._drawn = 0  # lines of the live block now on screen
        self._dirty = False
        self._last_tick = 0.0
        self._shown: dict[int, str] = {}  # plain mode: the phase last printed for each row
        self._ended: set[int] = set()
        encoding = (getattr(self._stream, "encoding", None) or "").lower().replace("-", "")
        self._bar = ("█", "░") if encoding in ("utf8", "utf8sig") else ("#", "-")

    # --- called by the batch --------------------------------------------------------------------------------

    def changed(self, index: int | None = None) -> None:
        """Row ``index`` changed (None: look at every row)."""
        if self.batch is None:
            return
        if self._tty:
            self._dirty = True
            return
        self._log_changes(range(len(self.batch.rows)) if index is None else (index,))

    async def animate(self) -> None:
        """Redraw the live block while the batch runs (on a terminal; returns at once elsewhere)."""
        if not self._tty:
            return
        while True:
            self.draw()
            await asyncio.sleep(REDRAW_S)

    def close(self) -> None:
        """The final state: finished rows and the overall line, without the live block."""
        if self.batch is None:
            return
        if self._tty:
            self.draw(final=True)
        else:
            self._log_changes(range(len(self.batch.rows)))
            self._write(self.overall() + "\n")

    # --- what is shown -------------------------------------------------------------------------------------

    def running_line(self, index: int, row: BatchRow, now: float) -> str:
        status = row.state.status
        elapsed = now - row.started_at if row.started_at is not None else 0.0
        text = replace(status, elapsed_s=elapsed, cost_usd=None).text if status is not None else "Starting"
        return f"{row.item.label:>9}  {row.item.endpoint_id:<32} {text}"

    def ended_line(self, index: int, row: BatchRow) -> str:
        label = f"{row.item.label:>9}  {row.item.endpoint_id:<32}"
        outcome = row.outcome
        if outcome == "done":
            if row.same_as is not None:
                return f"{label} done (same as {self.batch.rows[row.same_as].item.label})"
            return f"{label} done" + (
                " (stored result, no new charge)" if row.run is not None and row.run.reused else ""
            )
        if outcome == "failed":
            return f"{label} FAILED: {_one_line(row.error)}"
        return f"{label} cancelled"

    def overall(self) -> str:
        batch = self.batch
        snapshot = batch.snapshot()
        total = len(batch.rows)
        done, failed, cancelled = (sum(1 for r in batch.rows if r.outcome == o) for o in ENDED)
        running = sum(1 for r in batch.rows if r.outcome == Outcome.RUNNING and r.same_as is None)
        finished = done + failed + cancelled
        filled = round(BAR_WIDTH * snapshot.progress)
        bar = self._bar[0] * filled + self._bar[1] * (BAR_WIDTH - filled)
        spent = batch.spend.new_usd
        parts = [f"[{bar}] {done}/{total} done"]
        if failed:
            parts.append(f"{failed} failed")
        if cancelled:
            parts.append(f"{cancelled} cancelled")
        if running:
            parts.append(f"{running} running")
        parts.append(f"est. {format_usd(spent)} spent of {format_usd(snapshot.cost_usd)}")
        parts.append(format_duration(snapshot.elapsed_s))
        if finished < total:
            eta = snapshot.elapsed_s * (total - finished) / finished if finished else None
            parts.append(f"ETA {format_duration(eta)}" if eta is not None else "ETA …")
        return " · ".join(parts)

    # --- terminal -------------------------------------------------------------------------------------------

    def draw(self, *, final: bool = False) -> None:
        if self.batch is None or (not self._dirty and not final and self._drawn and not self._ticks()):
            return
        self._dirty = False
        width, height = self._terminal_size()
        now = time.monotonic()
        out = [f"\r\x1b[{self._drawn}A" if self._drawn else "\r", "\x1b[J"]
        for index, row in enumerate(self.batch.rows):
            if row.outcome in ENDED and index not in self._ended:
                self._ended.add(index)
                out.append(_fit(self.ended_line(index, row), width) + "\n")
        block: list[str] = []
        if not final:
            running = [
                (i, r)
                for i, r in enumerate(self.batch.rows)
                if r.outcome == Outcome.RUNNING and r.same_as is None
            ]
            room = max(height - 2, 1)
            shown = running if len(running) <= room else running[: room - 1]
            block = [self.running_line(i, r, now) for i, r in shown]
            if len(shown) < len(running):
                block.append(f"{'':>9}  … and {len(running) - len(shown)} more running")
        block.append(self.overall())
        out.extend(_fit(line, width) + "\n" for line in block)
        self._drawn = 0 if final else len(block)
        self._write("".join(out))

    def _ticks(self) -> bool:
        """Elapsed times move on: redraw at least once a second."""
        now = time.monotonic()
        if now - self._last_tick >= 1.0:
            self._last_tick = now
            return True
        return False

    def _terminal_size(self) -> tuple[int, int]:
        """COLUMNS / LINES if set, else the terminal's own size, else 100x24 (a pty may report 0x0)."""
        if self._size is not None:
            return self._size
        try:
            columns, lines = os.get_terminal_size(self._stream.fileno())
        except (AttributeError, ValueError, OSError):
            columns = lines = 0
        columns = _env_int("COLUMNS") or columns or DEFAULT_SIZE[0]
        lines = _env_int("LINES") or lines or DEFAULT_SIZE[1]
        return max(columns, 20), max(lines, 3)

    # --- plain lines ----------------------------------------------------------------------------------------

    def _log_changes(self, indices) -> None:
        lines = []
        for index in indices:
            row = self.batch.rows[index]
            if index in self._ended:
                continue
            if row.outcome in ENDED:
                self._ended.add(index)
                lines.append(f"{self.ended_line(index, row)} [{self._counts()}]")
                continue
            status = row.state.status
            if row.same_as is not None or status is None or row.outcome != "running":
                continue
            if self._shown.get(index) != status.phase:
                self._shown[index] = status.phase
                lines.append(self.running_line(index, row, time.monotonic()))
        if lines:
            self._write("".join(line + "\n" for line in lines))

    def _counts(self) -> str:
        rows = self.batch.rows
        done = sum(1 for r in rows if r.outcome == Outcome.DONE)
        failed = sum(1 for r in rows if r.outcome == Outcome.FAILED)
        return f"{done}/{len(rows)} done" + (f", {failed} failed" if failed else "")

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


def _env_int(name: str) -> int:
    try:
        return max(int(os.environ.get(name, "")), 0)
    except ValueError:
        return 0


def _fit(line: str, width: int) -> str:
    """Cut a line to the terminal's width (one column spare: no automatic wrap)."""
    line = line.replace("\n", " ")
    return line if len(line) < width else line[: max(width - 2, 1)] + "…"


def _one_line(error: BaseException | None) -> str:
    return str(error).splitlines()[0] if error is not None and str(error) else type(error).__name__
