"""Long runs read each row's own limits: jobs per resolution, unknown limits planned at the row's stated
planning length, LongCat's num_segments, two speakers cut where both are quiet, footage cut with its audio."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from _speech import speech, talk

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar.plan import make_plan
from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.longform.segmenting import plan_long_run
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest, plan_request

IMAGE = np.full((1, 64, 64, 3), 0.5, np.float32)


@functools.cache
def _voice(seconds: float, seed: int) -> tuple[np.ndarray, int]:
    """Synthetic speech, made once per length and seed (rows with the same limit share it); read-only, so no
    plan can change what the next one reads."""
    voice = talk(seconds, seed=seed)
    samples = voice.samples[None]
    samples.flags.writeable = False
    return samples, voice.rate


def _audio(seconds: float, seed: int = 0) -> dict:
    samples, rate = _voice(seconds, seed)
    return {"waveform": samples, "sample_rate": rate}


def _plan(endpoint_id: str, seconds: float, **values):
    spec = ep.endpoint(endpoint_id)
    request = GenerationRequest(spec, values, image=IMAGE, audio=_audio(seconds))
    return plan_long_run(request)


def _job_seconds(plan) -> list[float]:
    return [job.frames / 25 for job in plan.jobs]


def test_omnihuman_at_1080p_cuts_65_s_into_3_jobs_of_at_most_30_s():
    plan = _plan("fal-ai/bytedance/omnihuman/v1.5", 65.0, resolution="1080p")
    assert len(plan.jobs) == 3 and max(_job_seconds(plan)) <= 30.0
    for job in plan.jobs:  # every job is within fal's limit and sends fal's fields only
        one = plan_request(job.request)
        assert (
            one.arguments == {"turbo_mode": False, "resolution": "1080p"} and one.seed is None
        )  # no empty prompt
    assert len(_plan("fal-ai/bytedance/omnihuman/v1.5", 65.0, resolution="720p").jobs) == 2  # 60 s at 720p
    assert _plan("fal-ai/bytedance/omnihuman/v1.5", 55.0, resolution="720p").single


def test_kling_v2_standard_plans_its_unknown_limit_at_60_s_per_job():
    spec = ep.endpoint("fal-ai/kling-video/ai-avatar/v2/standard")
    assert spec.max_seconds_at(None) is None and spec.planning_max_s == 60.0
    plan = _plan(spec.endpoint_id, 130.0)
    assert len(plan.jobs) == 3 and max(_job_seconds(plan)) <= 60.0
    estimate = sum(plan_request(job.request).cost_usd for job in plan.jobs)
    assert estimate == pytest.approx(sum(_job_seconds(plan)) * 0.0562, rel=1e-3)


def test_longcat_runs_20_s_as_one_job_of_4_segments_and_longer_audio_as_several_jobs():
    plan = _plan("fal-ai/longcat-single-avatar/image-audio-to-video", 20.0)
    assert plan.single
    one = plan_request(plan.request)
    # the video stops with the (about 20 s of) audio: its seconds are billed, not the 20.8 s of 4 segments
    assert one.arguments["num_segments"] == 4 and one.seconds == pytest.approx(20.0, abs=0.25)
    assert one.cost_usd == pytest.approx(math.ceil(one.seconds) * 0.15)  # whole 16-frame seconds
    long = _plan("fal-ai/longcat-single-avatar/image-audio-to-video", 80.0)
    assert len(long.jobs) == 2 and max(_job_seconds(long)) <= 50.8
    assert [plan_request(job.request).arguments["num_segments"] for job in long.jobs] == [
        ep.endpoint(long.request.spec.endpoint_id).segments.segments_for(s) for s in _job_seconds(long)
    ]


def test_react_1_cuts_footage_and_audio_at_the_same_instants_within_15_s():
    spec = ep.endpoint("fal-ai/sync-lipsync/react-1")
    frames = np.zeros((40 * 25, 8, 8, 3), np.float32)  # 40 s of footage at 25 fps
    request = GenerationRequest(spec, {"emotion": "happy"}, audio=_audio(40.0), frames=frames)
    plan = plan_long_run(request)
    assert len(plan.jobs) >= 3 and max(_job_seconds(plan)) <= 15.0  # up to 2 more to join in pauses
    for job in plan.jobs:
        assert job.request.video_window == (job.start_frame, job.frames)  # the footage's own stretch
        assert job.request.audio["waveform"].shape[-1] == round(job.frames / 25 * 16000)  # and the audio's


def _place(track: np.ndarray, start_s: float, seconds: float, seed: int, rate: int = 16000) -> None:
    phrase = speech([seconds], seed=seed, noise_db=None).samples[0, : round(seconds * rate)]
    first = round(start_s * rate)
    track[first : first + len(phrase)] = phrase


def test_two_speakers_are_cut_where_both_are_quiet():
    """A speaks 0-5 s and 12.8-19 s, B 5.8-12 s and 19.8-26 s: a join inside one speaker's silence would cut
    the other's speech; only the shared silences (and the word gaps) are quiet in both."""
    rate, total = 16000, 26.0
    a, b = np.zeros(round(total * rate), np.float32), np.zeros(round(total * rate), np.float32)
    _place(a, 0.0, 5.0, 1)
    _place(b, 5.8, 6.2, 2)
    _place(a, 12.8, 6.2, 3)
    _place(b, 19.8, 6.2, 4)
    spec = ep.endpoint("fal-ai/ai-avatar/multi")
    request = GenerationRequest(
        spec, {}, image=IMAGE, audio={"waveform": a[None, None], "sample_rate": rate},
        audio2={"waveform": b[None, None], "sample_rate": rate},
    )  # fmt: skip
    plan = plan_long_run(request)
    assert len(plan.jobs) >= 3 and max(_job_seconds(plan)) <= 9.64
    loud = np.abs(a) + np.abs(b)
    for before, job in zip(plan.jobs, plan.jobs[1:], strict=False):
        overlap = slice(
            round(job.start_frame / 25 * rate), round((before.start_frame + before.frames) / 25 * rate)
        )
        assert float(loud[overlap].max()) == 0.0, (
            f"the join at {job.start_frame / 25:.2f} s cuts someone's speech"
        )
        assert job.request.audio2["waveform"].shape == job.request.audio["waveform"].shape


def test_every_row_driven_by_audio_splits_a_long_input_into_jobs_within_its_limit():
    for spec in ep.GENERATION_ENDPOINTS:
        if spec.length_from != "audio" or spec.has_slot("video") or spec.has_slot("audio2"):
            continue
        values = {p.name: p.options[0] for p in spec.params if p.choice_required}
        limit = spec.job_seconds(values.get("resolution", spec.default_resolution))
        request = GenerationRequest(spec, values, image=IMAGE, audio=_audio(limit * 2.2))
        plan = plan_long_run(request)
        assert 3 <= len(plan.jobs) <= 5, spec.endpoint_id  # the fewest, or up to 2 more to join in pauses
        assert max(_job_seconds(plan)) <= limit, spec.endpoint_id
        assert make_plan(spec, plan.jobs[0].request.values, audio_s=plan.jobs[0].frames / 25).warnings == ()


def test_a_text_row_without_num_frames_is_one_job_and_refuses_a_text_over_its_limit():
    spec = ep.endpoint("veed/fabric-1.0/text")
    request = GenerationRequest(spec, {"text": "Hello there. " * 100, "resolution": "480p"}, image=IMAGE)
    assert plan_long_run(request).single
    assert plan_request(request).arguments["text"].startswith("Hello there.")
    too_long = GenerationRequest(spec, {"text": "Hello there. " * 160, "resolution": "480p"}, image=IMAGE)
    with pytest.raises(InputError, match=r"text: is 2080 characters long; the limit is 2000\. Shorten it"):
        plan_long_run(too_long)


def test_lips_follow_the_sound_with_no_lag_at_the_join_at_the_models_own_fps(fal_env):
    """LongCat renders 16 fps: 55 s of speech runs as two jobs; at the join (placed on the absolute timeline,
    planning frame f → output frame f × 16 / 25) the mouth follows the original audio with no lag."""
    import asyncio

    from _sentences import frame_rms
    from _sentences import speech as sentences
    from test_longform import best_lag, mouth_openness

    from comfyui_fal_avatar.nodes.cli.generate import run_request
    from comfyui_fal_avatar.nodes.longform.reference import parse_ref

    said = sentences(55.0)
    spec = ep.endpoint("fal-ai/longcat-single-avatar/image-audio-to-video")
    request = GenerationRequest(spec, {}, image=np.full((1, 96, 96, 3), 0.5, np.float32), audio=said.audio(),
                                want_frames=False)  # fmt: skip
    run, outputs = asyncio.run(run_request(request, want_audio=False))
    ref = parse_ref(run.request_id)
    assert len(ref.segments) == 2 and outputs.fps == pytest.approx(16.0)
    loudness = frame_rms(said.samples, said.rate, outputs.frame_count, fps=16)
    mouth = mouth_openness(run.path)
    join = round(ref.segments[1].start_frame * 16 / 25)
    assert best_lag(loudness, mouth, join, half=24, lags=range(-3, 4)) == 0
    assert (
        best_lag(loudness, mouth, outputs.frame_count - 60, half=24, lags=range(-3, 4)) == 0
    )  # and at the end


def _footage(path, seconds: float, fps) -> None:
    """A small silent clip whose luma counts its frames."""
    import av

    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "10", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        for i in range(round(seconds * fps)):
            planes = np.full((96, 64), 128, np.uint8)
            planes[:64] = 30 + i % 200
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))


def test_lipsync_on_footage_keeps_the_footages_frame_rate_over_several_jobs(fal_env, tmp_path):
    """react-1 (15 s per job) on 40 s of 29.97 fps footage: jobs get excerpts at the footage's own rate, cut
    at the audio's instants, and the joined video stays at 29.97 fps for the whole length."""
    import asyncio
    from fractions import Fraction

    from comfyui_fal_avatar.nodes.cli.generate import run_request
    from comfyui_fal_avatar.nodes.media import probe_video

    fps = Fraction(30000, 1001)
    clip = tmp_path / "clip.mp4"
    _footage(clip, 40.0, fps)
    spec = ep.endpoint("fal-ai/sync-lipsync/react-1")
    request = GenerationRequest(
        spec, {"emotion": "happy"}, audio=_audio(40.0), video_path=clip, want_frames=False
    )
    run, outputs = asyncio.run(run_request(request, want_audio=False))
    assert len(run.request_ids) >= 3
    assert outputs.fps == pytest.approx(float(fps), abs=1e-3)
    info = probe_video(clip)
    assert outputs.frame_count == pytest.approx(info.frame_count, abs=2)
    assert outputs.info.duration_s == pytest.approx(info.duration_s, abs=0.1)
