"""The pipeline end to end against the emulator: plan → upload → submit → wait → download, and the
money rules: identical runs reuse, uploads are de-duplicated, Cancel cancels, a re-run after Cancel
submits anew, validation happens before any request."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import threading
import time

import numpy as np
import pytest
from test_media_samples import scramble_frames

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.cli.generate import run_request
from comfyui_fal_avatar.nodes.errors import (
    DamagedDownloadError,
    FalServerError,
    InputError,
    JobCancelledError,
    MediaDecodeError,
    SubmitOutcomeUnknownError,
    UnknownSubmitError,
)
from comfyui_fal_avatar.nodes.media import check_header, verify_video
from comfyui_fal_avatar.nodes.media.payload import Payload
from comfyui_fal_avatar.nodes.pipeline import generate
from comfyui_fal_avatar.nodes.pipeline.follow import DOWNLOAD_TRIES
from comfyui_fal_avatar.nodes.pipeline.generate import Generation
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
from comfyui_fal_avatar.nodes.pipeline.interrupt import UserInterrupt, run_cancellable
from comfyui_fal_avatar.nodes.pipeline.outputs import materialize, materialize_outcome
from comfyui_fal_avatar.nodes.pipeline.recover import fetch_result
from comfyui_fal_avatar.nodes.services import Services
from comfyui_fal_avatar.nodes.store.claims import Claims
from comfyui_fal_avatar.nodes.store.journal import Journal
from comfyui_fal_avatar.nodes.store.media_store import MediaStore


def portrait(h: int = 96, w: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, np.full_like(x, 0.5)], axis=-1)
    return img[None]


def speech(seconds: float = 2.0, rate: int = 16000) -> dict:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    wave = 0.4 * envelope * np.sin(2 * np.pi * 220 * t)
    return {"waveform": wave[None, None, :].astype(np.float32), "sample_rate": rate}


def request(**values) -> GenerationRequest:
    return GenerationRequest(
        spec=ep.INFINITALK_IMAGE, values={"num_frames": 41, **values}, image=portrait(), audio=speech()
    )


def run(req: GenerationRequest, should_cancel=None, statuses=None):
    async def go():
        sink = statuses.append if statuses is not None else None
        interrupt = UserInterrupt(should_cancel)
        generation = Generation(req, services=Services(), sink=sink, interrupt=interrupt)
        return await run_cancellable(generation.run(), interrupt)

    return asyncio.run(go())


@pytest.mark.full_size_output  # asserts the model's real output size
def test_generation_end_to_end_then_identical_rerun_is_free(fal_env):
    statuses = []
    first = run(request(), statuses=statuses)
    assert first.path.is_file() and not first.reused
    assert fal_env.count("submit") == 1
    uploads = fal_env.count("cdn_upload")
    assert uploads == 2
    phases = [s.phase for s in statuses]
    for phase in ("validating", "uploading", "submitting", "downloading"):
        assert phase in phases
    assert statuses[-1].request_id == first.request_id
    assert statuses[-1].cost_usd == pytest.approx(41 / 25 * 0.20)

    entry = Journal().get(first.request_id)
    assert entry.state == "downloaded" and entry.result["video"]["url"] == first.video_url

    outputs = materialize(
        first.path, request_id=first.request_id, video_url=first.video_url, want_frames=True
    )
    assert tuple(outputs.frames.shape) == (41, 640, 640, 3)
    assert outputs.fps == 25.0 and outputs.audio is not None

    fal_env.clear_log()
    second = run(request())
    assert second.reused and second.request_id == first.request_id
    assert fal_env.routes() == []  # no upload, no submit, not even a status call


def test_new_seed_pays_again_but_reuses_uploads(fal_env):
    run(request(seed=1))
    fal_env.clear_log()
    other = run(request(seed=2))
    assert not other.reused
    assert fal_env.count("submit") == 1
    assert fal_env.count("cdn_upload") == 0  # both inputs were already on fal


def test_expired_upload_is_uploaded_again(fal_env):
    run(request(seed=1))
    for path in list(fal_env.files):
        del fal_env.files[path]  # fal's CDN forgot our inputs
    fal_env.clear_log()
    run(request(seed=3))
    assert fal_env.count("cdn_upload") == 2 and fal_env.count("submit") == 1


def test_validation_happens_before_any_request(fal_env):
    with pytest.raises(InputError, match="num_frames"):
        run(request(num_frames=42))
    with pytest.raises(InputError, match="audio"):
        run(GenerationRequest(spec=ep.INFINITALK_IMAGE, values={}, image=portrait(), audio=speech(0.2)))
    with pytest.raises(InputError, match="image"):
        run(GenerationRequest(spec=ep.INFINITALK_IMAGE, values={}, image=None, audio=speech()))
    assert fal_env.requests == []


def test_cancel_while_queued_cancels_remote_job_and_rerun_submits_anew(fal_env):
    fal_env.inject_job("stuck_queue")
    statuses = []

    def queued() -> bool:
        return any(s.phase == "queued" and s.request_id for s in statuses)

    with pytest.raises(JobCancelledError):
        run(request(), should_cancel=queued, statuses=statuses)
    assert fal_env.count("cancel") == 1
    request_id = next(s.request_id for s in statuses if s.request_id)
    assert Journal().get(request_id).state == "cancelled"
    assert fal_env.jobs[request_id].cancelled

    fal_env.clear_log()
    again = run(request())
    assert fal_env.count("submit") == 1 and again.request_id != request_id


def test_cancel_while_generating(fal_env):
    fal_env.inject_job("slow", processing_time=30)
    statuses = []
    with pytest.raises(JobCancelledError):
        run(
            request(), should_cancel=lambda: any(s.phase == "generating" for s in statuses), statuses=statuses
        )
    assert fal_env.count("cancel") == 1


def test_runner_error_is_a_typed_failure_and_journaled(fal_env):
    fal_env.inject_job("runner_error", error_type="runner_disconnected", status=503)
    with pytest.raises(FalServerError) as info:
        run(request())
    assert info.value.error_type == "runner_disconnected"
    assert Journal().get(info.value.request_id).state == "failed"
    fal_env.clear_log()
    run(request())  # a failed job is not reused: fal did not bill it, the user gets a fresh try
    assert fal_env.count("submit") == 1


def test_rerun_after_unanswered_submit_finds_the_job_in_fals_history(fal_env):
    fal_env.inject("submit", "drop")  # fal created the job, its answer was lost
    with pytest.raises(SubmitOutcomeUnknownError, match="will not submit it again on its own"):
        run(request())
    fal_env.clear_log()
    again = run(request())
    assert again.reused and again.request_id == next(iter(fal_env.jobs))
    assert fal_env.count("submit") == 0 and fal_env.count("cdn_upload") == 0 and len(fal_env.jobs) == 1
    assert Journal().get(again.request_id).state == "downloaded"


def test_rerun_after_unanswered_submit_never_pays_again_without_the_users_say_so(fal_env):
    fal_env.inject("submit", "drop_before")  # no job was created, but the run cannot know that
    with pytest.raises(SubmitOutcomeUnknownError):
        run(request())
    fal_env.clear_log()
    with pytest.raises(UnknownSubmitError, match="--resubmit") as info:
        run(request())
    message = str(info.value)
    assert "lists no request" in message and "fal-avatar fetch" in message and "change the seed" in message
    assert fal_env.count("submit") == 0 and fal_env.count("cdn_upload") == 0
    again = run(dataclasses.replace(request(), resubmit=True))
    assert any("both are billed" in w for w in again.warnings)
    assert len(fal_env.jobs) == 1  # the user chose to pay
    fal_env.clear_log()
    assert run(request()).reused and fal_env.count("submit") == 0


def test_unreadable_request_history_means_unknown_not_no_job(fal_env):
    fal_env.inject("submit", "drop")
    with pytest.raises(SubmitOutcomeUnknownError):
        run(request())
    fal_env.inject("request_history", "locked")
    with pytest.raises(UnknownSubmitError, match="could not be read"):
        run(request())
    assert fal_env.count("submit") == 1 and len(fal_env.jobs) == 1


def test_error_that_leaves_a_paid_job_says_how_to_get_it_for_free(fal_env):
    fal_env.inject("status_stream", "ingress_503", times=50)  # force polling
    fal_env.inject("status", "http_500")
    with pytest.raises(FalServerError, match="re-attach to it at no extra cost") as info:
        run(request())
    assert info.value.request_id in str(info.value)
    fal_env.clear_log()
    assert run(request()).reused and fal_env.count("submit") == 0


def result_gets(emu) -> int:
    return sum(1 for r in emu.requests if r.route == "file_get" and r.method == "GET")


def test_result_fal_made_unreadable_is_never_stored_and_retrying_is_free(fal_env):
    """fal's own output does not decode: every download is refused, the entry stays `completed` (a later
    run downloads it again) and the last damaged copy is kept for inspection."""
    fal_env.inject_job("corrupt_video")
    with pytest.raises(DamagedDownloadError, match="at no charge") as info:
        run(request())
    request_id = info.value.request_id
    assert result_gets(fal_env) == DOWNLOAD_TRIES and fal_env.count("submit") == 1
    assert Journal().get(request_id).state == "completed"
    media = MediaStore()
    assert not media.path_for(f"{request_id}.mp4").exists()
    served = fal_env.files[Journal().get(request_id).result["video"]["url"][len(fal_env.base_url) :]].data
    assert media.path_for(f"{request_id}.damaged.mp4").read_bytes() == served


@pytest.mark.full_size_output  # asserts the model's real output size
def test_stored_file_that_fails_to_decode_is_downloaded_again(fal_env):
    """A reused stored copy only gets the header check; if decoding its frames then fails because it is
    damaged, it is downloaded again (free) and decoded, instead of an error."""
    first = run(request())
    scramble_frames(first.path)
    assert check_header(first.path).frame_count == 41  # the cheap check on reuse cannot see this damage
    fal_env.clear_log()
    statuses = []

    async def go():
        outcome = await Generation(request(), services=Services(), sink=statuses.append).run()
        return outcome, await materialize_outcome(
            outcome, want_frames=True, services=Services(), sink=statuses.append
        )

    outcome, outputs = asyncio.run(go())
    assert outcome.reused and outcome.path == first.path
    assert tuple(outputs.frames.shape) == (41, 640, 640, 3)
    assert fal_env.count("submit") == 0 and result_gets(fal_env) == 1
    assert verify_video(first.path).frame_count == 41
    assert any("stored copy is damaged" in s.detail for s in statuses)


def test_decode_failure_of_a_whole_file_downloads_nothing(fal_env, monkeypatch):
    from comfyui_fal_avatar.nodes.media import video_decode, video_probe

    outcome = run(request())
    fal_env.clear_log()

    def fails(path, **kw):
        raise video_probe.decode_error(path, kw.get("request_id"), "not enough memory for the frames")

    monkeypatch.setattr(video_decode, "decode_frames", fails)
    with pytest.raises(MediaDecodeError, match="re-running reuses it at no charge") as info:
        asyncio.run(materialize_outcome(outcome, want_frames=True, services=Services()))
    assert "seed" not in str(info.value)
    assert fal_env.requests == []


@pytest.mark.parametrize("thorough", [False, True])
def test_run_request_thorough_checks_a_reused_file_in_full(fal_env, thorough):
    """`fal-avatar generate` copies the file out without decoding frames: with ``thorough`` a reused stored
    copy is decoded in full first, and downloaded again if damaged."""
    first = run(request())
    scramble_frames(first.path)
    fal_env.clear_log()
    req = request()
    req.want_frames = False
    outcome, _ = asyncio.run(run_request(req, want_audio=False, thorough=thorough))
    assert outcome.reused and fal_env.count("submit") == 0
    assert result_gets(fal_env) == (1 if thorough else 0)
    if thorough:
        assert verify_video(outcome.path).frame_count == 41


@pytest.mark.parametrize("thorough", [False, True])
def test_fetch_result_downloads_a_damaged_local_copy_again(fal_env, thorough):
    first = run(request())
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])  # header-level damage: both checks see it
    fal_env.clear_log()
    outcome = asyncio.run(
        fetch_result("fal-ai/infinitalk", first.request_id, services=Services(), thorough=thorough)
    )
    assert outcome.path == first.path and outcome.path.read_bytes() == data
    assert result_gets(fal_env) == 1 and fal_env.count("submit") == 0
    scramble_frames(first.path)  # decode-level damage: only the thorough check sees it
    fal_env.clear_log()
    asyncio.run(fetch_result("fal-ai/infinitalk", first.request_id, services=Services(), thorough=thorough))
    assert result_gets(fal_env) == (1 if thorough else 0)


@pytest.mark.full_size_output  # asserts the model's real output size
def test_frames_that_cannot_fit_in_ram_are_refused_before_decoding(fal_env, monkeypatch):
    from comfyui_fal_avatar.nodes.errors import InsufficientMemoryError
    from comfyui_fal_avatar.nodes.pipeline import outputs

    outcome = run(request())
    monkeypatch.setattr(outputs, "available_memory", lambda: 10_000_000)  # 10 MB free
    with pytest.raises(InsufficientMemoryError, match="Disconnect the 'frames' output"):
        materialize(
            outcome.path, request_id=outcome.request_id, video_url=outcome.video_url, want_frames=True
        )
    kept = materialize(
        outcome.path, request_id=outcome.request_id, video_url=outcome.video_url, want_frames=False
    )
    assert kept.frame_count == 41 and outputs.frames_bytes(kept.info) == 41 * 640 * 640 * 12
    assert outputs.available_memory() is None or outputs.available_memory() > 0


def test_unreadable_source_video_is_an_input_error_before_any_request(fal_env, tmp_path):
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"not a video at all")
    req = GenerationRequest(spec=ep.INFINITALK_VIDEO, values={}, video_path=bogus, audio=speech())
    with pytest.raises(InputError) as info:
        run(req)
    assert info.value.field == "video"
    assert fal_env.requests == []


def test_identical_runs_in_one_process_make_one_submit(fal_env):
    statuses: list = []

    async def both():
        services = Services()
        runs = [Generation(request(), services=services, sink=statuses.append).run() for _ in range(2)]
        return await asyncio.gather(*runs)

    first, second = asyncio.run(both())
    assert first.request_id == second.request_id
    assert fal_env.count("submit") == 1
    assert any(
        s.phase == "waiting" for s in statuses
    )  # one of them waited for the other, then took its result


def test_a_rerun_computes_its_key_without_encoding_anything(fal_env, monkeypatch):
    first = run(request())
    from comfyui_fal_avatar.nodes.pipeline import generate

    def no_encoding(*_args, **_kw):
        raise AssertionError("a re-run must not encode its inputs")

    monkeypatch.setattr(generate, "encode_media", no_encoding)
    fal_env.clear_log()
    again = run(request())
    assert again.reused and again.request_id == first.request_id and fal_env.routes() == []


def test_results_journaled_under_the_old_key_format_stay_free(fal_env):
    from comfyui_fal_avatar.nodes.pipeline.inputs import encode_media, plan_request
    from comfyui_fal_avatar.nodes.pipeline.keys import key_scope, legacy_key
    from comfyui_fal_avatar.nodes.store.db import Database

    first = run(request())
    req = request()
    plan = plan_request(req)
    old_key = legacy_key(
        key_scope(Services().client.endpoint_key(req.spec.endpoint_id), 0), plan, encode_media(req)
    )
    with Database().write() as conn:  # as a version before keys v2 wrote it
        conn.execute("UPDATE journal SET request_key = ?, arguments = NULL", (old_key,))
    fal_env.clear_log()
    again = run(request())
    assert again.reused and again.request_id == first.request_id
    assert fal_env.count("submit") == 0 and fal_env.count("cdn_upload") == 0


def test_the_encoded_inputs_are_not_held_while_the_job_runs(fal_env):
    """A batch waits for up to 64 jobs at once: each run lets its uploaded bytes go before it waits."""
    alive: list[int] = []

    def sink(status):
        if status.phase == "generating" and not alive:
            gc.collect()
            alive.append(sum(type(o) is Payload for o in gc.get_objects()))

    async def go():
        generation = Generation(request(), services=Services(), sink=sink)
        return await generation.run()

    asyncio.run(go())
    assert alive == [0]


def test_a_run_cancelled_twice_still_finishes_its_clean_up(fal_env, monkeypatch):
    """asyncio.run's shutdown (ComfyUI ends a prompt that way) cancels a run's task and also the task that
    awaits it, which cancels it once more while it cleans up. The run still gives its claim back before it
    ends; otherwise the next identical run in this process would wait for that claim forever."""
    encoding, proceed, released = threading.Event(), threading.Event(), []
    encode, release = generate.encode_media, Claims.release

    def slow_encode(*args):
        encoding.set()
        proceed.wait(10)
        return encode(*args)

    def slow_release(self, claim):
        time.sleep(0.2)
        release(self, claim)
        released.append(claim.request_key)

    monkeypatch.setattr(generate, "encode_media", slow_encode)
    monkeypatch.setattr(Claims, "release", slow_release)

    async def go():
        task = asyncio.ensure_future(Generation(request(seed=8), services=Services()).run())
        while not encoding.is_set():  # the run holds its claim and waits for its inputs' encoding
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0)  # the run starts cleaning up
        task.cancel()
        proceed.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return list(released)

    assert len(asyncio.run(go())) == 1
    assert fal_env.count("submit") == 0


def test_a_shutdown_during_submit_keeps_the_record_and_the_rerun_finds_the_job(fal_env):
    """ComfyUI stops a prompt when another node fails: asyncio.run's shutdown cancels every task, the
    submit's own included, while its request may be on the wire. The journal must keep the attempt (its
    outcome is unknown), so the next run asks fal's history and re-attaches instead of paying again."""
    fal_env.inject("submit", "hang", seconds=2)

    async def prompt():
        asyncio.ensure_future(Generation(request(), services=Services()).run())
        while not fal_env.jobs:
            await asyncio.sleep(0.01)
        raise RuntimeError("another node of the prompt failed")

    with pytest.raises(RuntimeError):
        asyncio.run(prompt())
    (entry,) = Journal().entries()
    assert entry.state == "failed" and entry.request_id is None and "unknown" in entry.error
    again = run(request())
    assert again.reused and fal_env.count("submit") == 1 and len(fal_env.jobs) == 1
