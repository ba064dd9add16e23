"""Spend figures are what this process submitted: summed over runs done at the same time they match the
submits fal saw, a run that reused everything reports nothing new, and a failed run's paid jobs still
count."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from _sentences import speech

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.errors import SegmentsFailedError
from comfyui_fal_avatar.nodes.longform.run import AvatarRunner, run_avatar
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
from comfyui_fal_avatar.nodes.services import Services

SAID = speech(30.0)  # over one job's 721 frames (28.8 s): two segments


def long_request(**values) -> GenerationRequest:
    return GenerationRequest(
        spec=ep.INFINITALK_IMAGE,
        values={"prompt": "talk", "num_frames": 0, **values},
        image=np.full((1, 96, 96, 3), 0.5, np.float32),
        audio=SAID.audio(),
        want_frames=False,
    )


def test_identical_concurrent_long_runs_report_the_submits_once_between_them(fal_env):
    fal_env.inject_job("slow", times=2, processing_time=2.0)  # both runs are in flight together

    async def go():
        services = Services()
        return await asyncio.gather(*(run_avatar(long_request(), services=services) for _ in range(3)))

    runs = asyncio.run(go())
    submits = fal_env.count("submit")
    assert submits == 2 == len(runs[0].request_ids)
    assert sum(r.spend.new_jobs for r in runs) == submits
    assert sum(r.spend.new_usd for r in runs) == pytest.approx(runs[0].estimate_usd)
    assert all(r.spend.new_jobs + r.spend.reused_jobs == 2 for r in runs)

    again = asyncio.run(run_avatar(long_request(), services=Services()))  # the stitched video is stored
    assert fal_env.count("submit") == submits
    assert (again.spend.new_jobs, again.spend.new_usd, again.paid_usd) == (0, 0.0, 0.0)
    assert (again.spend.reused_jobs, again.spend.reused_usd) == (2, pytest.approx(again.estimate_usd))


def test_a_failed_run_still_counts_the_jobs_it_paid_for(fal_env):
    fal_env.inject_job("runner_error", times=1, error_type="runner_disconnected", status=503)

    async def go():
        runner = AvatarRunner(long_request(seed=5), services=Services())
        estimate = await runner.prepare()
        with pytest.raises(SegmentsFailedError):
            await runner.run()
        return runner.spend, estimate

    spend, estimate = asyncio.run(go())
    assert fal_env.count("submit") == 2 == spend.new_jobs
    assert spend.new_usd == pytest.approx(estimate.estimate_usd)
