"""Helpers of tests/test_pipeline_fault_matrix.py: one generation run as the node runs it (in-process) or as
the `fal-avatar generate` CLI (a subprocess that can be killed), what the emulator saw meanwhile, and the
Markdown table of the matrix (printed at the end of the session with FAL_AVATAR_PRINT_MATRIX=1)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from comfyui_fal_avatar import nodes
from comfyui_fal_avatar.nodes.avatar.endpoints import INFINITALK_IMAGE
from comfyui_fal_avatar.nodes.cli.files import load_audio, load_image
from comfyui_fal_avatar.nodes.cli.generate import run_request
from comfyui_fal_avatar.nodes.emulator import FalEmulator, RecordedRequest
from comfyui_fal_avatar.nodes.errors import FalAvatarError
from comfyui_fal_avatar.nodes.pipeline.generate import GenerationOutcome
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
from comfyui_fal_avatar.nodes.pipeline.interrupt import UserInterrupt, run_cancellable
from comfyui_fal_avatar.nodes.pipeline.outputs import AvatarOutputs
from comfyui_fal_avatar.nodes.pipeline.status import RunStatus
from comfyui_fal_avatar.nodes.store.journal import Journal

ASSETS = Path(nodes.__file__).resolve().parent / "assets"
PORTRAIT = ASSETS / "sample_portrait.png"
SPEECH = ASSETS / "sample_speech.wav"
UPLOAD_ROUTES = frozenset({"cdn_upload", "multipart_part", "signed_put"})
# Submit answers after which the emulator holds no job (fal's ingress, rate limiter, lock and 500 answer
# before any job exists); every other submit request must be the one that created the job.
NO_JOB_STATUSES = frozenset({403, 429, 500, 502, 503, 504})
PHASES = ("upload", "submit", "queued", "generating", "result", "download", "decode", "rerun")
HANG_GUARD_S = 120.0  # only to fail instead of hanging; never asserted as a duration


@functools.cache
def _inputs():
    return load_image(PORTRAIT), load_audio(SPEECH)


def request(*, resubmit: bool = False) -> GenerationRequest:
    """The matrix's one generation: the bundled samples, 41 frames at 480p. Like the CLI it skips decoding
    frames (nothing here depends on them); the video is still probed and its audio decoded."""
    image, audio = _inputs()
    return GenerationRequest(
        spec=INFINITALK_IMAGE,
        values={"num_frames": 41, "resolution": "480p"},
        image=image,
        audio=audio,
        want_frames=False,
        resubmit=resubmit,
    )


@dataclass
class Run:
    """One run and the requests the emulator received during it."""

    requests: list[RecordedRequest] = field(default_factory=list)
    statuses: list[RunStatus] = field(default_factory=list)
    outcome: GenerationOutcome | None = None
    outputs: AvatarOutputs | None = None
    error: FalAvatarError | None = None

    def count(self, *routes: str) -> int:
        return sum(1 for r in self.requests if r.route in routes)

    @property
    def submits(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == "submit"]

    @property
    def uploads(self) -> int:
        return sum(1 for r in self.requests if r.route in UPLOAD_ROUTES)

    def saw(self, route: str, status: int | None) -> bool:
        return any(r.route == route and r.status == status for r in self.requests)

    @property
    def request_id(self) -> str | None:
        if self.outcome is not None:
            return self.outcome.request_id
        return next((s.request_id for s in reversed(self.statuses) if s.request_id), None)

    @property
    def resumed(self) -> str:
        """How the run got its job: the stored result, re-attached to it, or a new submit."""
        phases = {s.phase for s in self.statuses}
        if self.submits:
            return "stored result gone, new submit" if "cached" in phases else "new submit"
        if "cached" in phases:
            return "stored result"
        return "re-attached" if "reattached" in phases else "no submit"


def generate(
    emu: FalEmulator,
    *,
    on_phase: dict[str, Callable[[], object]] | None = None,
    cancel_at: str | None = None,
    resubmit: bool = False,
) -> Run:
    """Run :func:`request` through the pipeline and decode it, as the node does (``run_cancellable``).

    ``on_phase[p]`` runs once when the run first reports phase ``p``; ``cancel_at`` presses Cancel once the
    run reports that phase with a request id. A :class:`FalAvatarError` is kept in ``Run.error``.
    """
    run = Run()
    pending = dict(on_phase or {})

    def sink(status: RunStatus) -> None:
        run.statuses.append(status)
        action = pending.pop(status.phase, None)
        if action is not None:
            action()

    def should_cancel() -> bool:
        return any(s.phase == cancel_at and s.request_id for s in run.statuses)

    interrupt = UserInterrupt(should_cancel if cancel_at else None)
    before = len(emu.requests)
    try:
        run.outcome, run.outputs = asyncio.run(
            run_cancellable(
                run_request(request(resubmit=resubmit), progress=sink, interrupt=interrupt), interrupt
            )
        )
    except FalAvatarError as exc:
        run.error = exc
    run.requests = emu.requests[before:]
    return run


def journal_states() -> list[str]:
    """The journal's entries, oldest first: ``state`` (``state, no request id`` when none was learnt)."""
    return [e.state if e.request_id else f"{e.state}, no request id" for e in reversed(Journal().entries())]


# --- the `fal-avatar generate` command as a subprocess --------------------------------------------------


def cli_command(out: Path) -> list[str]:
    script = Path(sys.executable).with_name("fal-avatar")
    base = [str(script)] if script.is_file() else [sys.executable, "-c", _CLI_MAIN]
    return [
        *base,
        "generate",
        INFINITALK_IMAGE.endpoint_id,
        "--image",
        str(PORTRAIT),
        "--audio",
        str(SPEECH),
        "--num-frames",
        "41",
        "--resolution",
        "480p",
        "--out",
        str(out),
    ]


_CLI_MAIN = "import sys\nfrom comfyui_fal_avatar.nodes.cli import main\nsys.exit(main())"


@dataclass
class Cli:
    """A running or finished `fal-avatar generate` with its output in files (no pipe can fill up)."""

    process: subprocess.Popen
    stdout: Path
    stderr: Path

    @classmethod
    def start(cls, workdir: Path) -> Cli:
        workdir.mkdir(parents=True, exist_ok=True)
        stdout, stderr = workdir / "stdout.txt", workdir / "stderr.txt"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                cli_command(workdir / "out.mp4"), stdout=out, stderr=err, env=dict(os.environ), cwd=workdir
            )
        return cls(process, stdout, stderr)

    def wait_until(self, ready: Callable[[], object], what: str) -> object:
        """Poll ``ready()`` until it returns something truthy (the process must still be running)."""
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            value = ready()
            if value:
                return value
            if self.process.poll() is not None:
                raise AssertionError(
                    f"fal-avatar exited ({self.process.returncode}) before {what}:\n{self.err}"
                )
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"gave up waiting for {what}:\n{self.err}")
            time.sleep(0.02)

    def finish(self) -> int:
        try:
            return self.process.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"fal-avatar did not finish:\n{self.err}") from None

    @property
    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    @property
    def summary(self) -> dict:
        """The JSON summary (the last stdout line)."""
        return json.loads(self.stdout.read_text().strip().splitlines()[-1])


# --- the table ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: str
    outcome: str
    journal: str
    submits: str
    jobs: str
    uploads: str
    rerun: str

    @property
    def order(self) -> int:
        return PHASES.index(self.id.split(":", 1)[0])


TABLE: dict[str, Row] = {}
_HEADER = ("phase:fault", "outcome", "journal after", "submit requests", "jobs", "uploads", "re-run")


def describe(error: FalAvatarError | None) -> str:
    if error is None:
        return "ok (video read)"
    facts = [f"HTTP {error.status}" if error.status is not None else "", error.error_type or ""]
    facts = [f for f in facts if f]
    return type(error).__name__ + (f" ({', '.join(facts)})" if facts else "")


def record(row: Row) -> None:
    TABLE[row.id] = row


def markdown() -> str:
    rows = sorted(TABLE.values(), key=lambda r: r.order)  # stable: rows of a phase keep their test order
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(getattr(r, name) for name in Row.__dataclass_fields__) + " |" for r in rows]
    return "\n".join(lines)


class TablePrinter:
    """pytest plugin: prints the matrix as a Markdown table in the terminal summary."""

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if TABLE:
            terminalreporter.write_sep("-", "fault and crash matrix (pipeline, emulator)")
            terminalreporter.write_line(markdown())
