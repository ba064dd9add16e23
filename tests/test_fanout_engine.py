"""The fan-out engine (`nodes/fanout/`) on its own, against the emulator: the prepare gate, identical-key
dedup, the concurrency limit, failure isolation, and cancel-all on the user's interrupt only.

Behaviour is read where fal would see it (the emulator's requests and jobs) and in each item's result."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.fanout.engine import FanOut
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
from comfyui_fal_avatar.nodes.pipeline.interrupt import UserInterrupt
from comfyui_fal_avatar.nodes.services import build_services
from comfyui_fal_avatar.nodes.store.journal import Journal

PAID_ROUTES = ("cdn_upload", "multipart_part", "signed_put", "submit")
HANG_GUARD_S = 120.0  # only to fail instead of hanging; never asserted as a duration


def item(seed: int, **values) -> GenerationRequest:
    """A small single-job request (a flat grey portrait, 1 s of tone, 41 frames)."""
    t = np.arange(16000, dtype=np.float32) / 16000
    waveform = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None, None, :]
    return GenerationRequest(
        spec=ep.INFINITALK_IMAGE,
        values={"prompt": "talk", "num_frames": 41, "resolution": "480p", "seed": seed, **values},
        image=np.full((1, 96, 96, 3), 0.5, np.float32),
        audio={"waveform": waveform, "sample_rate": 16000},
        want_frames=False,
    )


def fan_out(
    requests: list[GenerationRequest], *, limit: int = 4, interrupt: UserInterrupt | None = None
) -> FanOut:
    fan = FanOut(limit=limit, interrupt=interrupt, services=build_services(), noun="item")
    for index, request in enumerate(requests):
        fan.add(f"item {index + 1}", request)
    return fan


async def prepare_and_run(fan: FanOut):
    prepared = await fan.prepare()
    assert not [p for p in prepared if isinstance(p, InputError)], prepared
    return await asyncio.wait_for(fan.run(), HANG_GUARD_S)


def peak_overlap(emulator) -> int:
    """The most jobs the emulator held unfinished at one moment (from their submit and completion times)."""
    events = []
    for job in emulator.jobs.values():
        assert job.completed_at is not None, job
        events += [(job.submitted_at, 1), (job.completed_at, -1)]
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


def test_one_invalid_item_stops_everything_before_any_upload_or_submit(fal_env):
    fan = fan_out([item(1), item(2, num_frames=42), item(3)])  # InfiniTalk takes 41..721 frames in steps of 4
    prepared = asyncio.run(fan.prepare())

    assert [isinstance(p, InputError) for p in prepared] == [False, True, False]
    assert str(prepared[1]).startswith("item 2: ")
    with pytest.raises(RuntimeError, match="prepare"):
        asyncio.run(fan.run())
    assert [r.route for r in fal_env.requests if r.route in PAID_ROUTES] == []
    assert fal_env.jobs == {} and Journal().entries() == []


def test_identical_items_are_submitted_once_and_share_the_result(fal_env):
    fan = fan_out([item(5), item(6), item(5)])
    results = asyncio.run(prepare_and_run(fan))

    assert [r.ok for r in results] == [True, True, True]
    assert fal_env.count("submit") == 2 and len(fal_env.jobs) == 2
    assert results[2].outcome.request_id == results[0].outcome.request_id != results[1].outcome.request_id
    assert results[2].outcome.path == results[0].outcome.path and results[0].outcome.path.is_file()
    assert fan.items[2].shared_with == 0 and fan.items[2].stage == "done"
    assert fan.snapshot().cost_usd == pytest.approx(2 * fan.snapshot().items[0].cost_usd)


@pytest.mark.parametrize("limit", [1, 2])
def test_no_more_than_limit_jobs_run_at_once(fal_env, limit):
    # the first ``limit`` jobs start only once that many exist: proof the engine does run them side by side
    fal_env.inject_job("gather", times=limit, jobs=limit)
    fan = fan_out([item(seed) for seed in range(10, 15)], limit=limit)
    results = asyncio.run(prepare_and_run(fan))

    assert all(r.ok for r in results) and len(fal_env.jobs) == 5
    assert peak_overlap(fal_env) == limit


def test_a_failed_item_does_not_stop_the_others(fal_env):
    fal_env.inject_job("runner_error", match={"seed": 22}, error_type="runner_disconnected", status=503)
    fan = fan_out([item(21), item(22), item(23)], limit=3)
    results = asyncio.run(prepare_and_run(fan))

    assert [r.ok for r in results] == [True, False, True]
    assert "runner_disconnected" in str(results[1].error) and results[1].outcome is None
    assert [i.stage for i in fan.items] == ["done", "failed", "done"]
    assert fal_env.count("submit") == 3 and fal_env.count("cancel") == 0
    assert fan.snapshot().finished


def held_jobs(emulator, count: int) -> threading.Event:
    """Hold the next ``count`` jobs IN_PROGRESS until the returned event is set."""
    release = threading.Event()
    emulator.inject_job("slow", times=count, release=release)
    return release


async def until_in_progress(emulator, count: int) -> None:
    while sum(1 for job in emulator.jobs.values() if job.state == "IN_PROGRESS") < count:
        await asyncio.sleep(0.02)


def test_the_users_interrupt_cancels_every_running_job(fal_env):
    release = held_jobs(fal_env, 2)
    interrupt = UserInterrupt()
    fan = fan_out([item(31), item(32)], interrupt=interrupt)

    async def scenario():
        await fan.prepare()
        running = asyncio.ensure_future(fan.run())
        await asyncio.wait_for(until_in_progress(fal_env, 2), HANG_GUARD_S)
        interrupt.set()
        running.cancel()  # what run_cancellable does once it sees the interrupt
        with pytest.raises(asyncio.CancelledError):
            await running

    try:
        asyncio.run(scenario())
    finally:
        release.set()
    assert fal_env.count("cancel") == 2
    assert all(job.cancelled for job in fal_env.jobs.values())
    assert sorted(e.state for e in Journal().entries()) == ["cancelled", "cancelled"]


def test_cancelling_for_another_reason_leaves_the_jobs_running_for_the_next_run(fal_env):
    release = held_jobs(fal_env, 2)
    fan = fan_out([item(41), item(42)])

    async def scenario():
        await fan.prepare()
        running = asyncio.ensure_future(fan.run())
        await asyncio.wait_for(until_in_progress(fal_env, 2), HANG_GUARD_S)
        running.cancel()  # e.g. another node of the prompt failed: not the user's choice
        with pytest.raises(asyncio.CancelledError):
            await running

    try:
        asyncio.run(scenario())
        assert fal_env.count("cancel") == 0
        assert not any(job.cancelled for job in fal_env.jobs.values())
        assert sorted(e.state for e in Journal().entries()) == ["submitted", "submitted"]
    finally:
        release.set()
    # the next run re-attaches to both jobs: nothing is paid twice
    again = fan_out([item(41), item(42)])
    results = asyncio.run(prepare_and_run(again))
    assert all(r.ok for r in results)
    assert fal_env.count("submit") == 2 and len(fal_env.jobs) == 2
