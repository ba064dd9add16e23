"""The batch's progress display: the live block on a terminal (a fake TTY stream, and the command on a real
pty), plain lines elsewhere."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import threading

from test_batch import folder, row, write_csv  # noqa: F401 - folder is a fixture

from comfyui_fal_avatar.nodes.batch.run import Batch, BatchItem
from comfyui_fal_avatar.nodes.cli.batch_progress import BatchProgress
from comfyui_fal_avatar.nodes.longform.run import RunEstimate
from comfyui_fal_avatar.nodes.pipeline.status import RunStatus
from comfyui_fal_avatar.nodes.services import RunSettings, Services
from comfyui_fal_avatar.nodes.states import Phase, Stage

CLI = [sys.executable, "-m", "comfyui_fal_avatar.nodes.cli"]
CURSOR_UP = re.compile(r"\x1b\[(\d+)A")


class FakeTTY(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def rows_batch(count: int, *, same_as: dict[int, int] | None = None) -> Batch:
    """A checked batch of ``count`` rows (no inputs read: the display only looks at the rows' state)."""
    batch = Batch(
        [BatchItem(f"line {i + 2}", "fal-ai/infinitalk", lambda: None) for i in range(count)],
        services=Services(settings=RunSettings(max_parallel=8)),
    )
    for index, state in enumerate(batch.rows):
        state.estimate = RunEstimate(1, 0.33, 0.33, (f"key{index}",), (), seconds=1.64, fps=25.0)
        state.state.cost_usd = 0.33
    for follower, leader in (same_as or {}).items():
        batch.rows[follower].state.shared_with = leader
        batch.rows[follower].state.cost_usd = 0.0
    batch._started = 0.0
    return batch


def status(phase: str, **fields) -> RunStatus:
    return RunStatus(phase=Phase(phase), endpoint="fal-ai/infinitalk", **fields)


def set_stage(batch: Batch, index: int, stage: str, st: RunStatus | None = None) -> None:
    row = batch.rows[index]
    row.state.stage, row.state.status = Stage(stage), st
    row.started_at = row.started_at or 1.0


def screen(text: str) -> list[str]:
    """The lines of the last redraw (after its clear-to-end)."""
    return text.rsplit("\x1b[J", 1)[-1].splitlines()


def test_terminal_block_has_one_line_per_running_job_and_the_overall_bar():
    batch = rows_batch(5, same_as={4: 0})
    stream = FakeTTY()
    progress = BatchProgress(stream, size=(120, 30))
    progress.batch = batch
    set_stage(batch, 0, "queued", status("queued", queue_position=3))
    set_stage(batch, 1, "generating", status("generating", detail="Generating frames 14/41"))
    set_stage(
        batch, 4, "queued", status("queued", queue_position=3)
    )  # identical to row 0: not a job of its own
    progress.draw()
    first = screen(stream.getvalue())
    assert len(first) == 3
    assert re.match(r"\s+line 2\s+fal-ai/infinitalk\s+Queued · position 3 · \d+:\d\d$", first[0])
    assert "line 3" in first[1] and "Generating · Generating frames 14/41" in first[1]
    assert first[2].startswith("[") and "0/5 done · 2 running · est. ~$0.00 spent of ~$1.32" in first[2]
    assert "ETA …" in first[2]

    batch.rows[1].state.stage = Stage.DONE  # finished: a permanent line above the block, printed once
    batch.rows[1].finished_at = 2.0
    batch.rows[2].state.stage = Stage.FAILED
    batch.rows[2].error = RuntimeError("The fal job failed: Runner disconnected.\nmore")
    progress.changed()
    progress.draw()
    assert CURSOR_UP.findall(stream.getvalue())[-1] == "3"  # back over the three lines of the previous block
    lines = screen(stream.getvalue())
    assert re.match(r"\s+line 3\s+fal-ai/infinitalk\s+done$", lines[0])
    assert lines[1].endswith("FAILED: The fal job failed: Runner disconnected.")
    assert "line 2" in lines[2] and "1/5 done · 1 failed · 1 running" in lines[3] and "ETA" in lines[3]
    progress.changed()
    progress.draw()
    assert sum("FAILED" in line for line in stream.getvalue().splitlines()) == 1

    for index in (0, 3, 4):
        batch.rows[index].state.stage = Stage.DONE
    progress.close()
    final = screen(stream.getvalue())
    assert "same as line 2" in final[-2] and "4/5 done · 1 failed" in final[-1] and "running" not in final[-1]


def test_the_block_fits_the_terminal():
    batch = rows_batch(40)
    for index in range(40):
        set_stage(batch, index, "generating", status("generating", detail="x" * 300))
    stream = FakeTTY()
    progress = BatchProgress(stream, size=(60, 10))
    progress.batch = batch
    progress.draw()
    lines = screen(stream.getvalue())
    assert len(lines) == 9  # the terminal's height minus one: nothing scrolls, so cursor-up stays exact
    assert lines[-2].strip() == "… and 33 more running"  # 7 rows shown
    assert all(len(line) < 60 for line in lines)
    progress.changed()
    progress.draw()
    assert CURSOR_UP.findall(stream.getvalue())[-1] == "9"


def test_plain_stream_gets_a_line_per_phase_change_and_per_finished_row():
    batch = rows_batch(3)
    stream = io.StringIO()
    progress = BatchProgress(stream)
    progress.batch = batch
    set_stage(batch, 0, "queued", status("queued", queue_position=2))
    progress.changed()
    set_stage(batch, 0, "queued", status("queued", queue_position=1))  # same phase: no new line
    progress.changed()
    set_stage(batch, 0, "generating", status("generating", detail="Generating frames 9/41"))
    progress.changed()
    batch.rows[0].state.stage = Stage.DONE
    progress.changed()
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\x1b" not in stream.getvalue()
    assert [line.split("fal-ai/infinitalk")[1].strip().split(" ·")[0] for line in lines[:3]] == [
        "Queued",
        "Generating",
        "done [1/3 done]",
    ]
    assert "position 2" in lines[0]
    assert lines[-1].startswith("[") and "1/3 done" in lines[-1]


def test_the_command_on_a_terminal_draws_the_live_block(fal_env, folder):  # noqa: F811
    manifest = write_csv(folder / "m.csv", [row("fal-ai/infinitalk", i, folder) for i in range(4)])
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "20"}
    proc = subprocess.Popen(
        [*CLI, "batch", str(manifest), "--concurrency", "2"],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    out, _ = proc.communicate(timeout=120)
    reader.join(timeout=30)
    os.close(master)
    shown = b"".join(chunks).decode()
    assert proc.returncode == 0, shown[-2000:]
    assert "\x1b[J" in shown and CURSOR_UP.search(shown)  # redrawn in place
    assert re.search(r"line \d+\s+fal-ai/infinitalk\s+(Queued|Generating|Uploading|Submitting)", shown)
    assert "4/4 done" in shown.rsplit("\x1b[J", 1)[-1]
    assert "\x1b" not in out  # stdout (the table and the JSON) stays plain
