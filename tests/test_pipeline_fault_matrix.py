"""The pipeline's fault and crash matrix against the emulator: never pay twice, never lose a paid result.

Each row ("<phase>:<fault>") runs one generation (41 frames, 480p, bundled samples) the way the node does and
asserts that exactly one fal job exists per intended generation (emulator jobs, and every submit request but
the accepted one refused before a job existed) and then either

* the result, downloaded and read (faults the transport rides out),
* a typed error, after which the journal still holds the paid job and a re-run takes it without a new
  submit (fal answered badly, but the job is real and billed),
* a typed error for a job fal failed or the user cancelled (not billed): a re-run submits one new job,
* a typed error before any job existed: nothing journaled, a re-run submits once.

The `download:damaged` rows serve the result file damaged (a complete 200 whose bytes are not the video) and
the `rerun:stored_damaged` rows damage the stored copy: a damaged file is never taken as the result, and
getting a good one again costs nothing while fal keeps the file.

The `:sigkill` rows kill the `fal-avatar generate` process with SIGKILL at a point of the run and run the
same command again. ``FAL_AVATAR_PRINT_MATRIX=1`` prints the matrix as a Markdown table after the session.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest
from _matrix import (
    NO_JOB_STATUSES,
    Cli,
    Row,
    Run,
    TablePrinter,
    describe,
    generate,
    journal_states,
    record,
)

from comfyui_fal_avatar.nodes.emulator import FalEmulator
from comfyui_fal_avatar.nodes.errors import (
    AccountLockedError,
    DamagedDownloadError,
    DamagedResultGoneError,
    DownloadError,
    FalServerError,
    FalTimeoutError,
    JobCancelledError,
    SubmitOutcomeUnknownError,
    UnknownSubmitError,
)
from comfyui_fal_avatar.nodes.media import verify_video
from comfyui_fal_avatar.nodes.pipeline.follow import DOWNLOAD_TRIES
from comfyui_fal_avatar.nodes.pipeline.status import PHASE_LABELS
from comfyui_fal_avatar.nodes.store.journal import Journal
from comfyui_fal_avatar.nodes.store.media_store import MediaStore

QUEUE_DELAY_S = 0.5  # "queued" rows: the job waits this long in the emulator's queue
TRANSIENT = ("ingress_502", "ingress_503", "ingress_504", "rate_limit", "drop")
STATUS_OF = {"ingress_502": 502, "ingress_503": 503, "ingress_504": 504, "rate_limit": 429, "http_500": 500}
PARAMS = {"rate_limit": {"retry_after": 1}, "slow": {"bytes_per_s": 200_000}, "truncate": {"fraction": 0.5}}

MATRIX_KEY = "matrix-key-id:matrix-key-secret"  # (conftest modules are not importable by name)


@pytest.fixture(scope="module", autouse=True)
def matrix_table(request):
    if os.environ.get("FAL_AVATAR_PRINT_MATRIX") == "1":
        request.config.pluginmanager.register(TablePrinter(), "fal-avatar-fault-matrix")


@pytest.fixture
def start_emulator(monkeypatch, output_side, render_cache):
    """Start an emulator like the ``emulator`` fixture (plus an optional queue delay, which that one lacks)
    and point the key and the three base URLs at it, as ``fal_env`` does. Its output videos are as small as
    the ``emulator`` fixture's: no row depends on the video's size."""
    started: list[FalEmulator] = []

    def start(*, queue_delay: float = 0.0) -> FalEmulator:
        emu = FalEmulator(
            key=MATRIX_KEY,
            processing_time=0.1,
            queue_delay=queue_delay,
            max_output_side=output_side,
            render_cache=render_cache,
        )
        emu.start()
        started.append(emu)
        monkeypatch.setenv("FAL_KEY", MATRIX_KEY)
        for name in ("FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL", "FAL_API_URL"):
            monkeypatch.setenv(name, emu.base_url)
        return emu

    yield start
    for emu in started:
        emu.stop()


# --- the rows -------------------------------------------------------------------------------------------


def _nothing(emu: FalEmulator) -> None:
    return None


@dataclass(frozen=True)
class Case:
    """One row: ``before`` prepares the emulator; ``at = (phase, action)`` acts once the run reaches phase;
    ``hit = (route, status)`` is a request the fault must have produced (proof that it struck)."""

    phase: str
    fault: str
    before: Callable[[FalEmulator], None] = _nothing
    at: tuple[str, Callable[[FalEmulator], None]] | None = None
    hit: tuple[str, int | None] | None = None
    queue_delay: float = 0.0
    cancel_at: str | None = None

    @property
    def id(self) -> str:
        return f"{self.phase}:{self.fault}"

    def run(self, emu: FalEmulator) -> Run:
        on_phase = {self.at[0]: lambda: self.at[1](emu)} if self.at else None
        return generate(emu, on_phase=on_phase, cancel_at=self.cancel_at)


def inject(*routes: str, fault: str) -> Callable[[FalEmulator], None]:
    def act(emu: FalEmulator) -> None:
        for route in routes:
            emu.inject(route, fault, **PARAMS.get(fault, {}))

    return act


def on_route(phase: str, route: str, fault: str) -> Case:
    """A fault on the first request of ``route`` (upload: the first input; download: the result file)."""
    status = 206 if fault == "truncate" else 200 if fault == "slow" else STATUS_OF.get(fault)
    return Case(phase, fault, before=inject(route, fault=fault), hit=(route, status))


def while_queued(fault: str) -> Case:
    """The job waits in fal's queue; the status stream's first open and the first status poll both fail."""
    before = inject("status_stream", "status", fault=fault)
    return Case(
        "queued", fault, before=before, hit=("status", STATUS_OF.get(fault)), queue_delay=QUEUE_DELAY_S
    )


def _poll_a_slow_job(emu: FalEmulator) -> None:
    emu.inject_job("slow", processing_time=0.6)
    emu.inject("status_stream", "ingress_503")  # stream refused by fal's ingress: the run polls instead


def _lock(emu: FalEmulator) -> None:
    emu.locked = True


def while_generating(fault: str) -> Case:
    """The job runs (0.6 s); once the run has seen IN_PROGRESS, the next status poll fails."""
    if fault == "locked":  # the account is locked while the job runs: status, result and files still work
        return Case("generating", fault, before=_poll_a_slow_job, at=("generating", _lock))
    act = inject("status", fault=fault)
    return Case(
        "generating",
        fault,
        before=_poll_a_slow_job,
        at=("generating", act),
        hit=("status", STATUS_OF.get(fault)),
    )


RIDDEN_OUT = [
    *(on_route("upload", "cdn_upload", f) for f in (*TRANSIENT, "http_500")),
    *(on_route("submit", "submit", f) for f in TRANSIENT if f != "drop"),
    *(while_queued(f) for f in TRANSIENT),
    *(while_generating(f) for f in (*TRANSIENT, "locked")),
    *(on_route("result", "result", f) for f in TRANSIENT),
    *(on_route("download", "file_get", f) for f in (*TRANSIENT, "slow", "truncate")),
]


def _corrupt(emu: FalEmulator) -> None:
    emu.inject_job("corrupt_video")


# (case, error type, journal state after the failed run, how the re-run gets the result)
KEPT = [
    (while_queued("http_500"), FalServerError, "submitted", "re-attached"),
    (while_generating("http_500"), FalServerError, "submitted", "re-attached"),
    (on_route("result", "result", "http_500"), FalServerError, "submitted", "re-attached"),
    (on_route("download", "file_get", "http_500"), DownloadError, "completed", "stored result"),
    # fal's own output does not decode: every download is refused, the paid result stays on fal
    (Case("decode", "corrupt_video", before=_corrupt), DamagedDownloadError, "completed", "stored result"),
]


def _runner_error(emu: FalEmulator) -> None:
    emu.inject_job("runner_error", error_type="runner_disconnected", status=503)


def _stuck(emu: FalEmulator) -> None:
    emu.inject_job("stuck_queue")


def _very_slow(emu: FalEmulator) -> None:
    emu.inject_job("slow", processing_time=30)


# (case, error type, error_type, journal state, cancel requests): not billed, a re-run is a new generation
UNBILLED = [
    (Case("queued", "stuck_queue", before=_stuck), FalTimeoutError, "queue_wait_limit", "cancelled", 1),
    (Case("queued", "cancel", before=_stuck, cancel_at="queued"), JobCancelledError, None, "cancelled", 1),
    (
        Case("generating", "runner_error", before=_runner_error),
        FalServerError,
        "runner_disconnected",
        "failed",
        0,
    ),
    (
        Case("generating", "cancel", before=_very_slow, cancel_at="generating"),
        JobCancelledError,
        None,
        "cancelled",
        1,
    ),
]

# (case, error type): refused before any job existed
NOTHING_PAID = [
    (Case("upload", "locked", before=_lock), AccountLockedError),
    (on_route("submit", "submit", "locked"), AccountLockedError),
    (on_route("submit", "submit", "http_500"), FalServerError),
]


def rows(table: list[tuple]) -> list:
    """Parameters whose test id is the row id of their case (the first item)."""
    return [pytest.param(*values, id=values[0].id) for values in table]


# --- assertions and table rows ---------------------------------------------------------------------------


def assert_one_job(run: Run, emu: FalEmulator) -> None:
    """One job on the emulator, and every other submit request of the run was refused before creating one."""
    assert len(emu.jobs) == 1, [(j.endpoint_id, j.state) for j in emu.jobs.values()]
    refused = [r for r in run.submits if r.status in NO_JOB_STATUSES]
    assert len(run.submits) - len(refused) == 1, [r.status for r in run.submits]


def submits_text(run: Run) -> str:
    refused = [str(r.status) for r in run.submits if r.status in NO_JOB_STATUSES]
    return f"{len(run.submits)}" + (f" ({', '.join(refused)} refused)" if refused else "")


def rerun_text(rerun: Run) -> str:
    return f"{rerun.resumed}: {len(rerun.submits)} submit, {rerun.uploads} uploads, {describe(rerun.error)}"


def snapshot(case_id: str, run: Run, emu: FalEmulator, rerun: str = "") -> Row:
    """The table row of a run, taken right after it (the re-run column is filled in later)."""
    row = Row(
        id=case_id,
        outcome=describe(run.error),
        journal=", ".join(journal_states()) or "no entry",
        submits=submits_text(run),
        jobs=str(len(emu.jobs)),
        uploads=str(run.uploads),
        rerun=rerun,
    )
    record(row)
    return row


# --- the matrix -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", RIDDEN_OUT, ids=lambda c: c.id)
def test_transient_fault_is_ridden_out(case: Case, start_emulator):
    emu = start_emulator(queue_delay=case.queue_delay)
    case.before(emu)
    run = case.run(emu)
    assert run.error is None, repr(run.error)
    assert run.outputs.frame_count == 41 and run.outputs.audio is not None
    if case.hit is not None:
        assert run.saw(*case.hit), [(r.route, r.status) for r in run.requests]
    assert_one_job(run, emu)
    assert not run.outcome.reused
    assert Journal().get(run.outcome.request_id).state == "downloaded"
    snapshot(case.id, run, emu, "not needed")


@pytest.mark.parametrize("case,error,state,resumed", rows(KEPT))
def test_paid_job_survives_a_failed_run(case: Case, error, state, resumed, start_emulator):
    emu = start_emulator(queue_delay=case.queue_delay)
    case.before(emu)
    run = case.run(emu)
    assert isinstance(run.error, error), repr(run.error)
    request_id = run.request_id
    assert request_id and run.error.request_id == request_id and request_id in str(run.error)
    if case.hit is not None:
        assert run.saw(*case.hit)
    assert_one_job(run, emu)
    entry = Journal().get(request_id)
    assert entry.state == state and entry.request_id == request_id
    first = snapshot(case.id, run, emu)

    again = generate(emu)
    assert again.resumed == resumed and again.request_id == request_id
    assert again.submits == [] and again.uploads == 0 and len(emu.jobs) == 1
    if (
        error is DamagedDownloadError
    ):  # fal's file is unreadable: downloaded again (free), the same clear error
        assert isinstance(again.error, DamagedDownloadError) and again.error.request_id == request_id
        assert Journal().get(request_id).state == "completed"
    else:
        assert again.error is None, repr(again.error)
        assert again.outcome.reused and again.outputs.frame_count == 41
    record(replace(first, rerun=rerun_text(again)))


@pytest.mark.parametrize("case,error,error_type,state,cancels", rows(UNBILLED))
def test_unbilled_job_is_not_reused(
    case: Case, error, error_type, state, cancels, start_emulator, monkeypatch
):
    emu = start_emulator()
    if case.fault == "stuck_queue":
        monkeypatch.setenv("FAL_AVATAR_QUEUE_TIMEOUT_MIN", "0.02")  # 1.2 s
    case.before(emu)
    run = case.run(emu)
    assert isinstance(run.error, error), repr(run.error)
    assert run.error.error_type == error_type
    request_id = run.request_id
    assert_one_job(run, emu)
    assert run.count("cancel") == cancels
    assert emu.jobs[request_id].cancelled == bool(cancels)
    assert Journal().get(request_id).state == state
    monkeypatch.delenv("FAL_AVATAR_QUEUE_TIMEOUT_MIN", raising=False)
    first = snapshot(case.id, run, emu)

    again = generate(emu)
    assert again.error is None, repr(again.error)
    assert again.resumed == "new submit" and len(again.submits) == 1 and again.request_id != request_id
    assert again.uploads == 0  # the inputs are still on fal
    assert len(emu.jobs) == 2
    record(replace(first, jobs="1 (+1 by the re-run)", rerun=rerun_text(again)))


@pytest.mark.parametrize("case,error", rows(NOTHING_PAID))
def test_refused_before_any_job(case: Case, error, start_emulator):
    emu = start_emulator()
    case.before(emu)
    run = case.run(emu)
    assert isinstance(run.error, error), repr(run.error)
    assert emu.jobs == {}
    assert all(r.status in NO_JOB_STATUSES for r in run.submits)
    assert journal_states() == []  # nothing was, or could have been, billed
    first = snapshot(case.id, run, emu)

    emu.locked = False  # the user topped up
    again = generate(emu)
    assert again.error is None, repr(again.error)
    assert again.resumed == "new submit" and len(again.submits) == 1 and len(emu.jobs) == 1
    if run.submits:  # the inputs were uploaded before the refused submit: not uploaded again
        assert again.uploads == 0
    record(replace(first, rerun=rerun_text(again)))


@pytest.mark.parametrize(
    "fault,jobs", [("drop", 1), ("drop_before", 0)], ids=["submit:drop", "submit:drop_before"]
)
def test_submit_without_answer(fault: str, jobs: int, start_emulator):
    """No answer to the submit: a job may exist, but its id is unknown.

    The user sees SubmitOutcomeUnknownError (not sent again; check the request history at
    https://fal.ai/dashboard). The journal keeps a failed row (no request id, the exact arguments). The next
    run asks fal's request history: if fal has the job it re-attaches (no new submit); if not, it submits
    nothing without the user's say-so (UnknownSubmitError says how to recover or pay again), and with it
    (--resubmit) it submits one new job.
    """
    emu = start_emulator()
    emu.inject("submit", fault)
    run = generate(emu)
    assert isinstance(run.error, SubmitOutcomeUnknownError), repr(run.error)
    assert "NOT sent again" in str(run.error) and "fal.ai/dashboard" in str(run.error)
    assert len(run.submits) == 1 and run.submits[0].status is None
    assert len(emu.jobs) == jobs
    (entry,) = Journal().entries()
    assert entry.state == "failed" and entry.request_id is None and "may exist" in entry.error
    first = snapshot(f"submit:{fault}", run, emu)

    again = generate(emu)
    assert again.submits == [] and again.uploads == 0 and again.count("request_history") >= 1
    if jobs:  # found in fal's history: re-attached to the job the lost answer was about
        assert again.error is None and again.request_id == next(iter(emu.jobs)) and len(emu.jobs) == 1
        record(replace(first, rerun=f"found in fal's request history, re-attached: {rerun_text(again)}"))
        return
    assert isinstance(again.error, UnknownSubmitError) and len(emu.jobs) == 0
    paid = generate(emu, resubmit=True)
    assert paid.error is None and len(paid.submits) == 1 and len(emu.jobs) == 1
    record(
        replace(
            first,
            jobs="0 (+1 by the --resubmit run)",
            rerun=f"not in fal's history: {rerun_text(again)}; with --resubmit: {rerun_text(paid)}",
        )
    )


def test_identical_rerun_makes_no_request(start_emulator):
    emu = start_emulator()
    first = generate(emu)
    assert first.error is None and len(first.submits) == 1 and first.uploads == 2
    second = generate(emu)
    assert second.error is None and second.resumed == "stored result"
    assert second.outcome.reused and second.request_id == first.request_id
    assert second.requests == []  # no upload, no submit, not even a status call
    assert len(emu.jobs) == 1
    snapshot("rerun:identical", first, emu, rerun_text(second))


def test_expired_stored_result_is_generated_again(start_emulator):
    """The local copy was evicted and fal's CDN no longer has the file: the only way to a result is a new
    job, said as a warning (before the fix the re-run failed with the same DownloadError forever)."""
    emu = start_emulator()
    run = generate(emu)
    assert run.error is None, repr(run.error)
    first = snapshot("rerun:expired_result", run, emu)
    run.outcome.path.unlink()  # evicted from the media store
    del emu.files[run.outcome.video_urls[0][len(emu.base_url) :]]  # expired on fal's CDN
    again = generate(emu)
    assert again.error is None, repr(again.error)
    assert again.resumed == "stored result gone, new submit" and len(again.submits) == 1
    assert any("expired on fal's CDN" in w for w in again.outcome.warnings)
    assert again.request_id != run.request_id and len(emu.jobs) == 2
    record(replace(first, jobs="1 (+1 by the re-run)", rerun=rerun_text(again)))


# --- damaged result files ---------------------------------------------------------------------------------


def result_gets(run: Run) -> int:
    """GETs of files on fal's CDN during the run (the inputs are never read back): downloads of the result."""
    return sum(1 for r in run.requests if r.route == "file_get" and r.method == "GET")


def stored(name: str):
    return MediaStore().path_for(name)


def damage_stored_file(path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "cut" else b"<html><body>Bad Gateway</body></html>")


@pytest.mark.parametrize("body", ["half", "html"])
def test_damaged_download_is_downloaded_again(body: str, start_emulator):
    """fal's CDN serves the file damaged once, with a Content-Length that matches the damaged body: the
    download itself looks fine; the check refuses it and the next download is the real file."""
    emu = start_emulator()
    emu.inject("file_get", "damaged", body=body)
    run = generate(emu)
    assert run.error is None, repr(run.error)
    assert run.outputs.frame_count == 41 and len(run.submits) == 1 and result_gets(run) == 2
    assert_one_job(run, emu)
    assert Journal().get(run.request_id).state == "downloaded"
    assert verify_video(run.outcome.path).frame_count == 41
    assert not stored(f"{run.request_id}.damaged.mp4").exists()
    snapshot(f"download:damaged_{body}", run, emu, "not needed")


def test_result_served_damaged_every_time_fails_free_to_retry(start_emulator):
    """fal's CDN keeps serving a damaged file: nothing is stored as the result, the journal entry stays
    `completed`, and the error says the job is paid, how to download it again for free, and only then that
    a new seed would cost money. Once the CDN serves the real file, a re-run takes it without a submit."""
    emu = start_emulator()
    emu.inject("file_get", "damaged", times=50)
    run = generate(emu)
    assert isinstance(run.error, DamagedDownloadError), repr(run.error)
    request_id = run.request_id
    message = str(run.error)
    assert run.error.request_id == request_id and run.error.exit_code == 3
    assert f"fal-avatar fetch {request_id} --endpoint fal-ai/infinitalk" in message
    paid, free, seed = (message.index(w) for w in ("The job is paid", "at no charge", "new seed"))
    assert paid < free < seed
    assert result_gets(run) == DOWNLOAD_TRIES and len(run.submits) == 1
    assert_one_job(run, emu)
    assert Journal().get(request_id).state == "completed"
    assert not stored(f"{request_id}.mp4").exists()  # never stored as the result
    assert stored(f"{request_id}.damaged.mp4").is_file()  # the last damaged copy, for inspection
    first = snapshot("download:damaged_always", run, emu)

    emu.clear_faults()
    again = generate(emu)
    assert again.error is None, repr(again.error)
    assert again.resumed == "stored result" and again.request_id == request_id
    assert again.submits == [] and again.uploads == 0 and result_gets(again) == 1 and len(emu.jobs) == 1
    assert Journal().get(request_id).state == "downloaded"
    record(replace(first, rerun=rerun_text(again)))


@pytest.mark.parametrize("how", ["cut", "html"])
def test_damaged_stored_file_is_downloaded_again(how: str, start_emulator):
    """The stored copy no longer reads (damaged on disk, or stored damaged before downloads were checked):
    the re-run downloads it again from fal, for free, instead of failing on it or paying again."""
    emu = start_emulator()
    run = generate(emu)
    assert run.error is None, repr(run.error)
    first = snapshot(f"rerun:stored_damaged_{how}", run, emu)
    damage_stored_file(run.outcome.path, how)
    again = generate(emu)
    assert again.error is None, repr(again.error)
    assert again.resumed == "stored result" and again.request_id == run.request_id
    assert again.submits == [] and again.uploads == 0 and result_gets(again) == 1 and len(emu.jobs) == 1
    assert any("stored copy was damaged" in w for w in again.outcome.warnings)
    assert again.outputs.frame_count == 41 and verify_video(run.outcome.path).frame_count == 41
    record(replace(first, outcome=f"ok; then the stored file is damaged ({how})", rerun=rerun_text(again)))


def test_damaged_stored_file_that_fal_no_longer_has(start_emulator):
    """The stored copy is damaged and fal's file has expired: no free way is left. The run says so, and only
    then that a new seed (charged) is the way to a new video; it never pays again on its own."""
    emu = start_emulator()
    run = generate(emu)
    assert run.error is None, repr(run.error)
    first = snapshot("rerun:stored_damaged_expired", run, emu)
    damage_stored_file(run.outcome.path, "cut")
    del emu.files[run.outcome.video_urls[0][len(emu.base_url) :]]  # expired on fal's CDN
    again = generate(emu)
    assert isinstance(again.error, DamagedResultGoneError), repr(again.error)
    message = str(again.error)
    assert again.error.request_id == run.request_id and again.error.status == 404
    assert message.index("damaged") < message.index("no longer has") < message.index("change the seed")
    assert again.submits == [] and again.uploads == 0 and len(emu.jobs) == 1
    assert run.outcome.path.is_file()  # the damaged copy is kept, not deleted
    assert Journal().get(run.request_id).state == "downloaded"
    outcome = "ok; then the stored file is damaged (cut) and fal's file expires"
    record(replace(first, outcome=outcome, rerun=rerun_text(again)))


# --- SIGKILL ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    """Where the first `fal-avatar generate` is killed: ``ready(emu, journal)`` describes the moment (falsy
    until it comes); ``resumed`` is how the second run must get its job."""

    phase: str
    before: Callable[[FalEmulator], None]
    ready: Callable[[FalEmulator, Journal], str | None]
    resumed: str  # "new submit" | "re-attached" | "stored result"
    queue_delay: float = 0.0


# The status line the second run shows (stderr) when it takes the killed run's job.
RESUMED_LABEL = {"re-attached": PHASE_LABELS["reattached"], "stored result": PHASE_LABELS["cached"]}


def _submitted_job_in(state: str) -> Callable[[FalEmulator, Journal], str | None]:
    def ready(emu: FalEmulator, journal: Journal) -> str | None:
        entries = journal.entries()
        if entries and entries[0].state == "submitted" and emu.jobs[entries[0].request_id].state == state:
            return f"journal submitted, job {state}"
        return None

    return ready


def _uploading(emu: FalEmulator, journal: Journal) -> str | None:
    return "uploading (429, Retry-After 30)" if emu.count("cdn_upload") else None


def _downloading(emu: FalEmulator, journal: Journal) -> str | None:
    entries = journal.entries()
    if (
        entries
        and entries[0].state == "completed"
        and any(r.method == "GET" for r in emu.requests if r.route == "file_get")
    ):
        return "journal completed, download under way"
    return None


def _slow_job(emu: FalEmulator) -> None:
    emu.inject_job("slow", processing_time=2.5)


def _slow_download(emu: FalEmulator) -> None:
    emu.inject("file_get", "slow", bytes_per_s=4000)  # about 15 s for the 62 KB result


def _long_rate_limit(emu: FalEmulator) -> None:
    emu.inject("cdn_upload", "rate_limit", retry_after=30)


KILL_POINTS = [
    KillPoint("upload", _long_rate_limit, _uploading, "new submit"),
    KillPoint("queued", _nothing, _submitted_job_in("IN_QUEUE"), "re-attached", queue_delay=3.0),
    KillPoint("generating", _slow_job, _submitted_job_in("IN_PROGRESS"), "re-attached"),
    KillPoint("download", _slow_download, _downloading, "stored result"),
]


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS, ids=lambda p: f"{p.phase}:sigkill")
def test_sigkill_then_run_again(point: KillPoint, start_emulator, tmp_path):
    emu = start_emulator(queue_delay=point.queue_delay)
    point.before(emu)
    journal = Journal()
    first = Cli.start(tmp_path / "first")
    moment = first.wait_until(lambda: point.ready(emu, journal), f"the {point.phase} kill point")
    os.kill(first.process.pid, signal.SIGKILL)
    assert first.finish() == -signal.SIGKILL
    at_kill = journal.entries()
    journal_at_kill = ", ".join(journal_states()) or "no entry"

    second = Cli.start(tmp_path / "second")
    assert second.finish() == 0, second.err
    summary = second.summary
    assert emu.count("submit") == 1 and len(emu.jobs) == 1
    if point.resumed == "new submit":  # killed before submitting: the second run makes the one submit
        assert at_kill == [] and summary["reused"] is False
    else:
        assert summary["request_id"] == at_kill[0].request_id and summary["reused"] is True
        assert RESUMED_LABEL[point.resumed] in second.err
    assert summary["frames"] == 41 and (tmp_path / "second" / "out.mp4").stat().st_size > 0
    assert journal.get(summary["request_id"]).state == "downloaded"
    same_id = ", same request id" if at_kill else ""
    record(
        Row(
            id=f"{point.phase}:sigkill",
            outcome=f"SIGKILL: {moment}",
            journal=journal_at_kill,
            submits=str(emu.count("submit")),
            jobs=str(len(emu.jobs)),
            uploads=f"{emu.count('cdn_upload')} (both runs)",
            rerun=f"{point.resumed}{same_id}: exit 0",
        )
    )


@pytest.mark.slow
def test_sigkill_while_submitting_then_run_again(start_emulator, tmp_path):
    """The run is killed while its submit is on the wire (fal created the job; its answer is late). The
    re-run takes over the dead run's claim at once, finds the job in fal's request history and re-attaches
    to it (before the fix it waited 90 s, then paid a second job)."""
    emu = start_emulator()
    emu.inject("submit", "hang", seconds=60)
    journal = Journal()
    first = Cli.start(tmp_path / "first")

    def submitting(emu: FalEmulator, journal: Journal) -> str | None:
        entries = journal.entries()
        return (
            "journal submitting, job created"
            if entries and entries[0].state == "submitting" and emu.jobs
            else None
        )

    moment = first.wait_until(lambda: submitting(emu, journal), "the submit kill point")
    os.kill(first.process.pid, signal.SIGKILL)
    assert first.finish() == -signal.SIGKILL
    journal_at_kill = ", ".join(journal_states())

    second = Cli.start(tmp_path / "second")
    assert second.finish() == 0, second.err
    assert "Waiting for an identical run" not in second.err  # the dead run's claim was taken over at once
    assert "found in fal's request history" in second.err
    summary = second.summary
    assert summary["request_id"] == next(iter(emu.jobs)) and summary["reused"] is True
    assert emu.count("submit") == 1 and len(emu.jobs) == 1
    record(
        Row(
            id="submit:sigkill",
            outcome=f"SIGKILL: {moment}",
            journal=journal_at_kill,
            submits=str(emu.count("submit")),
            jobs=str(len(emu.jobs)),
            uploads=f"{emu.count('cdn_upload')} (both runs)",
            rerun="found in fal's request history at once (no wait), re-attached, same job: exit 0",
        )
    )


# --- the media-cache cap and the database under a long run --------------------------------------------------


def long_request(seconds: float = 30.0):
    """The matrix's request on the bundled speech repeated to ``seconds`` (30 s: over one job's 721 frames,
    two segments)."""
    from _matrix import request

    one = request()
    wave = one.audio["waveform"]
    repeats = int(seconds * one.audio["sample_rate"] / wave.shape[-1]) + 1
    audio = {
        **one.audio,
        "waveform": np.tile(wave, (1, 1, repeats))[..., : int(seconds * one.audio["sample_rate"])],
    }
    return replace(one, audio=audio, values={**one.values, "num_frames": 0})


def run_long(emu: FalEmulator, request, on_status=None) -> Run:
    import asyncio

    from comfyui_fal_avatar.nodes.cli.generate import run_request
    from comfyui_fal_avatar.nodes.errors import FalAvatarError

    result = Run()
    before = len(emu.requests)

    def sink(status) -> None:
        result.statuses.append(status)
        if on_status is not None:
            on_status(status)

    try:
        result.outcome, result.outputs = asyncio.run(run_request(request, progress=sink, want_audio=False))
    except FalAvatarError as exc:
        result.error = exc
    result.requests = emu.requests[before:]
    return result


def test_cache_cap_0_keeps_a_long_runs_segments_until_stitched(start_emulator, monkeypatch):
    """FAL_AVATAR_CACHE_GB=0: each stored segment used to evict the one before, so the stitch failed after
    every segment was paid. Files a run uses are pinned; the cap only takes what no run uses."""
    monkeypatch.setenv("FAL_AVATAR_CACHE_GB", "0")
    emu = start_emulator()
    first = run_long(emu, long_request())
    assert first.error is None, repr(first.error)
    segments = len(first.outcome.request_ids)
    assert segments >= 2 and len(first.submits) == segments == len(emu.jobs)
    again = run_long(emu, long_request())
    assert again.error is None and again.outcome.reused and again.submits == []
    record(
        Row(
            id="rerun:cache_cap_0",
            outcome=f"FAL_AVATAR_CACHE_GB=0, {segments} segments: {describe(first.error)}",
            journal=", ".join(journal_states()),
            submits=str(len(first.submits)),
            jobs=str(len(emu.jobs)),
            uploads=str(first.uploads),
            rerun=rerun_text(again),
        )
    )


def test_database_removed_while_segments_are_in_flight(start_emulator):
    """`fal-avatar.sqlite3*` deleted while 3 segment jobs run: the run used to exit 3 (`no such table:
    claims`) without naming its paid jobs, and the re-run paid all of them again. The run holds every handle:
    it recreates the database, journals its jobs again, delivers, and the re-run submits nothing."""
    from comfyui_fal_avatar.nodes.datadir import data_dir

    emu = start_emulator(queue_delay=1.0)
    request = long_request(60.0)  # 3 segments
    removed: list[str] = []

    def remove_database(status) -> None:
        if not removed and len(emu.jobs) >= 3 and len(Journal().entries()) >= 3:
            for path in data_dir().glob("fal-avatar.sqlite3*"):
                path.unlink()
                removed.append(path.name)

    first = run_long(emu, request, remove_database)
    assert removed, "the database was never removed"
    assert first.error is None, repr(first.error)
    segments = len(first.outcome.request_ids)
    assert len(first.submits) == segments == len(emu.jobs)
    assert {e.request_id for e in Journal().entries()} >= set(first.outcome.request_ids)
    again = run_long(emu, long_request(60.0))
    assert again.error is None and again.outcome.request_ids == first.outcome.request_ids
    assert again.submits == [] and len(emu.jobs) == segments
    record(
        Row(
            id="generating:db_removed",
            outcome=f"database files deleted with {segments} jobs in flight: {describe(first.error)}",
            journal=", ".join(journal_states()),
            submits=str(len(first.submits)),
            jobs=str(len(emu.jobs)),
            uploads=str(first.uploads),
            rerun=rerun_text(again),
        )
    )


# --- a suspended owner --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_suspended_owner_does_not_block_an_identical_run(start_emulator, tmp_path):
    """The first `fal-avatar generate` is stopped (SIGSTOP, as Ctrl-Z) while its job generates. An identical
    run used to wait for it without end; it now takes over the journaled request (free) and finishes."""
    emu = start_emulator()
    emu.inject_job("slow", processing_time=3.0)
    journal = Journal()
    first = Cli.start(tmp_path / "first")
    first.wait_until(lambda: _submitted_job_in("IN_PROGRESS")(emu, journal), "the job generating")
    os.kill(first.process.pid, signal.SIGSTOP)
    try:
        second = Cli.start(tmp_path / "second")
        try:
            code = second.process.wait(timeout=30)  # a bound against hanging, not a performance claim
        except subprocess.TimeoutExpired:
            second.process.kill()
            raise AssertionError(
                f"the identical run still waits for the suspended one:\n{second.err}"
            ) from None
        assert code == 0, second.err
        assert f"process {first.process.pid}" in second.err and "suspended" in second.err
        summary = second.summary
        assert summary["request_id"] == journal.entries()[0].request_id and summary["reused"] is True
        assert emu.count("submit") == 1 and len(emu.jobs) == 1
    finally:
        os.kill(first.process.pid, signal.SIGCONT)
    assert first.finish() == 0, first.err  # resumed, the owner finishes too: the same job, no new submit
    assert emu.count("submit") == 1
    record(
        Row(
            id="generating:sigstop",
            outcome="owner suspended (SIGSTOP) while its job generates",
            journal=", ".join(journal_states()),
            submits=str(emu.count("submit")),
            jobs=str(len(emu.jobs)),
            uploads=str(emu.count("cdn_upload")),
            rerun="identical run takes over the journaled request: exit 0; the owner, resumed, exit 0",
        )
    )


def test_a_suspended_owner_before_its_submit_is_named_with_how_to_go_on(
    start_emulator, tmp_path, monkeypatch
):
    """Stopped before its request reached fal: nothing to take, so the waiter says who and how, not waits."""
    from comfyui_fal_avatar.nodes.errors import IdenticalRunError
    from comfyui_fal_avatar.nodes.pipeline import claiming

    emu = start_emulator()
    emu.inject("cdn_upload", "rate_limit", retry_after=30)
    first = Cli.start(tmp_path / "first")
    first.wait_until(lambda: emu.count("cdn_upload"), "the upload")
    os.kill(first.process.pid, signal.SIGSTOP)
    try:
        monkeypatch.setattr(claiming, "SILENT_AFTER_S", 0.5)
        waiter = generate(emu)
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.finish()
    assert isinstance(waiter.error, IdenticalRunError), repr(waiter.error)
    text = str(waiter.error)
    assert (
        f"kill -CONT {first.process.pid}" in text and "suspended" in text and "Nothing was submitted" in text
    )
    assert emu.count("submit") == 0
