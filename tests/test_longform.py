"""Talking videos of any length against the emulator (which keeps fal's per-job frame limits): segments
cut in pauses, generated side by side, stitched into one video with the original sound; re-runs, failures,
cancel, the spend guard and recovery by the segment list."""

from __future__ import annotations

import asyncio
import dataclasses
import errno

import av
import numpy as np
import pytest
from _sentences import frame_rms, speech

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar import plan as avatar_plan
from comfyui_fal_avatar.nodes.avatar.plan import check_params
from comfyui_fal_avatar.nodes.cli.generate import run_request
from comfyui_fal_avatar.nodes.errors import (
    FalAvatarError,
    JobCancelledError,
    LocalStorageError,
    SegmentsFailedError,
    SpendLimitError,
)
from comfyui_fal_avatar.nodes.longform import run as longform_run
from comfyui_fal_avatar.nodes.longform import segmenting
from comfyui_fal_avatar.nodes.longform.fetch import fetch_run
from comfyui_fal_avatar.nodes.longform.reference import parse_ref
from comfyui_fal_avatar.nodes.longform.segmenting import plan_long_run
from comfyui_fal_avatar.nodes.media.stitch import stitch
from comfyui_fal_avatar.nodes.media.video_decode import read_audio
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
from comfyui_fal_avatar.nodes.pipeline.interrupt import UserInterrupt, run_cancellable
from comfyui_fal_avatar.nodes.services import build_services
from comfyui_fal_avatar.nodes.store.journal import Journal

FPS = 25
# Audio lengths for InfiniTalk's image row: just enough input for the segments a test needs.
TWO_JOBS_S = 30.0  # over one job's 721 frames (28.8 s): two segments, one join
THREE_JOBS_S = 60.0  # over two jobs' 721 frames each: three segments, two joins


def portrait() -> np.ndarray:
    return np.full((1, 96, 96, 3), 0.5, np.float32)


def long_request(seconds: float, **values) -> GenerationRequest:
    return GenerationRequest(
        spec=ep.INFINITALK_IMAGE,
        values={"prompt": "talk", "num_frames": 0, **values},
        image=portrait(),
        audio=speech(seconds).audio(),
        want_frames=False,
    )


def run(request: GenerationRequest, statuses: list | None = None, **kw):
    return asyncio.run(
        run_request(
            request, want_audio=False, progress=statuses.append if statuses is not None else None, **kw
        )
    )


def mouth_openness(path) -> np.ndarray:
    """Dark (open-mouth) pixels per frame in the emulator's mouth region (nodes/emulator/render.py: centred
    at 58 % of the height, at most 0.09 x 0.06 of the short side wide/high) of a render of any size."""
    values = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            cy, cx, side = int(h * 0.58), w // 2, min(h, w)
            dy, dx = int(side * 0.07) + 2, int(side * 0.117) + 2
            roi = rgb[cy - dy : cy + dy, cx - dx : cx + dx].astype(np.int16)
            values.append(int(np.count_nonzero((roi[..., 0] < 70) & (roi[..., 1] < 40))))
    return np.array(values, np.float64)


def best_lag(a: np.ndarray, b: np.ndarray, centre: int, half: int = 40, lags: range = range(-4, 5)) -> int:
    """The shift of ``b`` against ``a`` that correlates best in the window around ``centre``."""

    def corr(lag: int) -> float:
        x = a[centre - half : centre + half]
        y = b[centre - half + lag : centre + half + lag]
        return float(np.corrcoef(x, y)[0, 1])

    return max(lags, key=corr)


def test_a_60_second_audio_becomes_three_parallel_segments_stitched_with_the_original_sound(fal_env):
    said = speech(THREE_JOBS_S)
    fal_env.inject_job("gather", times=3, jobs=3)  # no job starts before all three were submitted
    statuses: list = []
    request = dataclasses.replace(long_request(THREE_JOBS_S), audio=said.audio())
    first, outputs = run(request, statuses)

    ref = parse_ref(first.request_id)
    assert len(ref.segments) == 3 and fal_env.count("submit") == len(ref.segments) == len(fal_env.jobs)
    assert fal_env.count("cdn_upload") == len(ref.segments) + 1  # every segment's audio, the portrait once
    assert outputs.frame_count == ref.total_frames == THREE_JOBS_S * FPS
    assert abs(outputs.info.duration_s - THREE_JOBS_S) <= 1 / FPS and outputs.info.has_audio
    # overlaps are billed too
    assert first.estimate_usd > THREE_JOBS_S * 0.20 and first.paid_usd == first.estimate_usd
    assert any(s.phase == "segments" and "segment" in s.detail for s in statuses)
    assert any(s.phase == "stitching" for s in statuses)

    # every join (its cross-faded overlap of at least 8 frames) lies in a pause of the speech: silence
    loudness = frame_rms(said.samples, said.rate, outputs.frame_count)
    speaking = np.percentile(loudness, 90)
    for after in ref.segments[1:]:
        overlap = loudness[after.start_frame : after.start_frame + 8]
        assert overlap.max() < speaking / 100, (after.start_frame, said.pauses)  # 40 dB below speech
        assert said.in_pause((after.start_frame + 4) / FPS, margin=0.1)

    # the sound is the original audio (encoded once): aligned at every join
    sound, rate = read_audio(first.path)
    original = said.samples
    got = sound[0, : len(original)] if rate == said.rate else None
    assert got is not None and len(got) >= len(original) - 2048
    n = min(len(got), len(original))
    assert np.corrcoef(got[:n], original[:n])[0, 1] > 0.95

    # lips follow the original audio with no lag at any join
    mouth = mouth_openness(first.path)
    for segment in ref.segments[1:]:
        assert best_lag(loudness, mouth, segment.start_frame) == 0

    # an identical re-run: nothing uploaded, nothing submitted
    fal_env.clear_log()
    again, _ = run(request)
    assert again.reused and again.request_id == first.request_id and fal_env.routes() == []


def test_a_failed_segment_keeps_the_others_and_a_rerun_pays_for_it_alone(fal_env):
    fal_env.inject_job("runner_error")  # the first submitted segment fails on fal
    with pytest.raises(SegmentsFailedError, match=r"Running again pays only for segment \d/2 \(est") as info:
        run(long_request(TWO_JOBS_S))
    assert "runner" in str(info.value).lower()
    states = sorted(e.state for e in Journal().entries())
    assert states == ["downloaded", "failed"]
    fal_env.clear_log()
    again, outputs = run(long_request(TWO_JOBS_S))
    assert fal_env.count("submit") == 1 and outputs.frame_count == TWO_JOBS_S * FPS
    assert len(parse_ref(again.request_id).segments) == 2


def test_cancel_cancels_every_in_flight_segment_job(fal_env):
    fal_env.inject_job("slow", times=2, processing_time=60)
    interrupt = UserInterrupt()
    statuses: list = []

    def sink(status):
        statuses.append(status)
        if status.phase == "segments" and sum(j.state == "IN_PROGRESS" for j in fal_env.jobs.values()) == 2:
            interrupt.set()

    async def go():
        return await run_cancellable(
            run_request(long_request(TWO_JOBS_S), progress=sink, interrupt=interrupt), interrupt
        )

    with pytest.raises(JobCancelledError) as caught:
        asyncio.run(go())
    assert fal_env.count("cancel") == 2
    assert sorted(e.state for e in Journal().entries()) == ["cancelled", "cancelled"]
    assert "2 running fal jobs cancelled too" in str(caught.value)


def test_cancel_while_stitching_says_no_fal_job_was_cancelled(fal_env):
    """Every segment was done and paid: the stop cancelled nothing on fal (it used to say 'the fal job (if
    any) was cancelled'), and running again stitches the stored segments at no charge."""
    interrupt = UserInterrupt()

    def sink(status):
        if status.phase == "stitching":
            interrupt.set()

    async def go():
        return await run_cancellable(
            run_request(long_request(TWO_JOBS_S), progress=sink, interrupt=interrupt), interrupt
        )

    with pytest.raises(JobCancelledError) as caught:
        asyncio.run(go())
    text = str(caught.value)
    assert "none was cancelled" in text and "at no charge" in text
    assert fal_env.count("cancel") == 0
    submits = fal_env.count("submit")
    again, _ = run(long_request(TWO_JOBS_S))
    assert again.reused and fal_env.count("submit") == submits


def test_the_spend_guard_refuses_before_any_upload(fal_env, monkeypatch):
    monkeypatch.setenv("FAL_AVATAR_MAX_USD_PER_RUN", "5")
    with pytest.raises(SpendLimitError) as info:
        run(long_request(TWO_JOBS_S))
    message = str(info.value)
    assert (
        "FAL_AVATAR_MAX_USD_PER_RUN" in message
        and "2 segments" in message
        and "Nothing was uploaded" in message
    )
    assert fal_env.requests == []
    ok, _ = run(long_request(TWO_JOBS_S), max_usd=20)  # the command line's --max-usd wins
    assert len(parse_ref(ok.request_id).segments) == 2


def test_a_full_disk_while_stitching_keeps_the_segments_and_the_rerun_is_free(fal_env, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(longform_run, "stitch", full_disk)
    with pytest.raises(LocalStorageError, match="Stitching the segments failed: no space left") as caught:
        run(long_request(TWO_JOBS_S))
    assert caught.value.exit_code == 3 and "it costs nothing" in str(caught.value)
    submits = fal_env.count("submit")
    monkeypatch.setattr(longform_run, "stitch", stitch)
    again, _ = run(long_request(TWO_JOBS_S))
    assert fal_env.count("submit") == submits and len(again.request_ids) == submits

    ids = parse_ref(again.request_id).request_ids
    impossible = f"{ids[0]}@0,{ids[1]}@5,frames=100000"  # well-formed, but no such timeline
    with pytest.raises(FalAvatarError, match="does not fit the segments it names") as caught:
        asyncio.run(fetch_run(ep.INFINITALK_IMAGE.endpoint_id, impossible, services=build_services()))
    assert caught.value.exit_code == 3 and fal_env.count("submit") == submits


def test_fetch_rebuilds_a_long_video_from_its_segment_list_for_free(fal_env, monkeypatch, tmp_path):
    first, outputs = run(long_request(TWO_JOBS_S))
    monkeypatch.setenv("FAL_AVATAR_HOME", str(tmp_path / "another-machine"))
    fal_env.clear_log()
    rebuilt = asyncio.run(
        fetch_run(ep.INFINITALK_IMAGE.endpoint_id, first.request_id, services=build_services())
    )
    assert fal_env.count("submit") == 0 and fal_env.count("file_get") == 2
    with av.open(str(rebuilt.path)) as container:
        assert container.streams.video[0].frames == outputs.frame_count
        assert container.streams.audio


def lesson(sentences: int) -> str:
    """A lesson text of ``sentences`` sentences (every third with a clause), about 77 characters each."""
    return " ".join(
        f"This is sentence number {n} of a long lesson, read aloud by the built-in voice."
        if n % 3
        else f"Here comes part {n}; it has a clause, and then another one, before it ends."
        for n in range(1, sentences + 1)
    )


def test_a_long_text_is_split_at_sentence_ends_and_joined_in_the_pauses(fal_env, monkeypatch):
    text = lesson(9)  # about a minute of speech: three pieces, each within one job's 721 frames
    request = GenerationRequest(
        spec=ep.INFINITALK_TEXT,
        values={"text_input": text, "voice": "Sarah", "prompt": "talk", "num_frames": 0},
        image=portrait(),
        want_frames=False,
    )
    monkeypatch.setenv("FAL_AVATAR_MAX_USD_PER_RUN", "5")  # below this run's estimate
    first, outputs = run(request, max_usd=100)  # the command line's --max-usd wins
    ref = parse_ref(first.request_id)
    pieces = [job.arguments["text_input"] for job in fal_env.jobs.values()]
    assert first.estimate_usd > 5
    assert len(ref.segments) == len(pieces) >= 3
    assert all(p.rstrip().endswith((".", ";", ",")) for p in pieces[:-1])  # cut at sentence (or clause) ends
    assert " ".join(sorted(pieces, key=text.index)) == text
    assert outputs.frame_count == ref.total_frames and outputs.info.has_audio
    fal_env.clear_log()
    again, _ = run(request)  # nothing left to pay: the $5 guard lets it through
    assert again.reused and fal_env.routes() == []


def test_a_text_as_long_as_the_widget_takes_gives_pieces_that_one_job_each_accepts():
    text = " ".join([lesson(35)] * 8)[: ep.LONG_TEXT_CHARS].rsplit(" ", 1)[0]
    assert ep.LONG_TEXT_CHARS - 100 < len(text) <= ep.LONG_TEXT_CHARS
    values = {"text_input": text, "voice": "Sarah", "prompt": "talk", "num_frames": 0}
    plan = plan_long_run(GenerationRequest(spec=ep.INFINITALK_TEXT, values=values, image=portrait()))
    pieces = [job.request.values["text_input"] for job in plan.jobs]
    assert len(pieces) > 20 and max(map(len, pieces)) <= ep.INFINITALK_TEXT.max_text_chars
    for job in plan.jobs:  # every segment is one job with an explicit num_frames: the per-job check passes
        check_params(ep.INFINITALK_TEXT, job.request.values)


def source_clip(path, seconds: float, fps: int = 30, size=(160, 120)):
    """A clip whose every frame is a flat grey that encodes its own index (40 + 8 × (index % 24))."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "10", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(round(seconds * fps)):
            grey = np.full((size[1], size[0], 3), 40 + 8 * (index % 24), np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")))
        out.mux(stream.encode(None))
    return path


# Over one video-to-video job's 241 frames (9.6 s): three segments (two joins), as every join is in a pause.
DUB_S = 16.0


def test_a_dub_of_three_segments_cuts_the_source_and_the_audio_at_the_same_instants(fal_env, tmp_path):
    clip = source_clip(tmp_path / "source.mp4", DUB_S)
    said = speech(DUB_S)
    request = GenerationRequest(
        spec=ep.INFINITALK_VIDEO,
        values={"prompt": "talk", "num_frames": 0},
        video_path=clip,
        audio=said.audio(),
        want_frames=False,
    )
    first, outputs = run(request, max_usd=100)
    ref = parse_ref(first.request_id)
    assert len(ref.segments) == 3 and all(j.arguments["num_frames"] <= 241 for j in fal_env.jobs.values())
    assert outputs.frame_count == DUB_S * FPS
    greys = []
    with av.open(str(first.path)) as container:
        for frame in container.decode(video=0):
            corner = frame.to_ndarray(format="rgb24")[8:40, 8:40]
            greys.append(float(corner.mean()))
    # four encodes deep (source, excerpt, the emulator's render, the stitch) a grey is within 4 levels
    expected = [40 + 8 * (int(t * 30 / FPS + 1e-9) % 24) for t in range(len(greys))]
    wrong = [t for t, (g, e) in enumerate(zip(greys, expected, strict=True)) if abs(g - e) >= 4]
    assert wrong == [], wrong[:20]  # every output frame shows the source frame of its own instant
    mouth = mouth_openness(first.path)
    loudness = frame_rms(said.samples, said.rate, len(mouth))
    for segment in ref.segments[1:]:
        assert best_lag(loudness, mouth, segment.start_frame) == 0


def test_a_cache_cap_of_0_never_fails_a_paid_long_run_and_the_rerun_is_free(fal_env, monkeypatch):
    """FAL_AVATAR_CACHE_GB=0 used to evict each segment as the next one was stored, so the stitch failed after
    every segment was paid (and said to generate it again); the re-run failed the same way."""
    monkeypatch.setenv("FAL_AVATAR_CACHE_GB", "0")
    first, outputs = run(long_request(TWO_JOBS_S))
    segments = parse_ref(first.request_id).segments
    assert len(segments) >= 2 and fal_env.count("submit") == len(segments)
    assert outputs.info.frame_count == parse_ref(first.request_id).total_frames
    again, _ = run(long_request(TWO_JOBS_S))
    assert again.request_id == first.request_id and again.reused
    assert fal_env.count("submit") == len(segments)  # the re-run submitted nothing


def test_the_spend_guard_tells_identical_pieces_of_the_run_from_results_paid_earlier(fal_env):
    """In a fresh data directory nothing is 'already paid for': the money not paid again is identical pieces
    of this very run, generated once (the message used to say 'already paid for and reused')."""
    request = GenerationRequest(
        spec=ep.INFINITALK_TEXT,
        values={
            "text_input": "This sentence is said again and again to fill the time. " * 60,
            "voice": "Sarah",
            "prompt": "talk",
            "num_frames": 0,
        },
        image=portrait(),
        want_frames=False,
    )
    with pytest.raises(SpendLimitError) as caught:
        run(request, max_usd=1)
    text = str(caught.value)
    assert "already paid" not in text and "identical pieces of this run, each generated once" in text
    assert fal_env.requests == []


def test_a_segment_whose_submit_got_no_answer_is_not_said_to_be_paid_again(fal_env):
    """The error used to say both 'running again pays only for the failed segment' and 'will not submit it
    again on its own'; the re-run does the latter (it asks fal's request history), and now the error says
    so."""
    fal_env.inject("submit", "drop")  # fal creates the job, its answer is lost
    with pytest.raises(SegmentsFailedError) as info:
        run(long_request(TWO_JOBS_S))
    text = str(info.value)
    assert "pays only" not in text and "again on its own" in text and "request history" in text
    submits = fal_env.count("submit")
    again, _ = run(
        long_request(TWO_JOBS_S)
    )  # found in fal's request history: re-attached, nothing paid again
    assert fal_env.count("submit") == submits and len(fal_env.jobs) == 2


def test_a_run_checks_its_widget_values_once_per_job(fal_env, monkeypatch):
    """Planning checks the values; the generation takes them as checked. A long run's segments (values of
    their own) are checked once each."""
    checked = []
    real = avatar_plan.check_params

    def counting(spec, values):
        checked.append(spec.endpoint_id)
        return real(spec, values)

    monkeypatch.setattr(avatar_plan, "check_params", counting)  # make_plan, plan_request look it up here
    monkeypatch.setattr(segmenting, "check_params", counting)
    run(long_request(4.0))
    assert checked == [ep.INFINITALK_IMAGE.endpoint_id] and fal_env.count("submit") == 1
    checked.clear()
    long, _ = run(long_request(TWO_JOBS_S))
    assert len(checked) == 1 + len(parse_ref(long.request_id).segments) == 1 + fal_env.count("submit") - 1
