"""Queue-ahead in a real ComfyUI (skipped without COMFYUI_PATH): queued prompts start their fal jobs early.

ComfyUI runs one prompt at a time. With the setting on (the default, 4 prompts ahead), four queued
avatar prompts on different portraits have their four fal jobs in progress at once; each node re-attaches
to its job at no new cost. Overlap is asserted from the emulator's job intervals (never from a stopwatch);
the wall times are printed beside a single prompt's, and beside the same four with the setting at 0.
ComfyUI killed with early jobs in flight and started again: the same prompts re-attach, nothing new is paid.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from _waiting import wait_until
from comfy_harness import ComfyServer, child_environment
from comfy_media import talking_node
from PIL import Image

from comfyui_fal_avatar.nodes.store.journal import QUEUE_AHEAD, Journal

pytestmark = pytest.mark.comfyui

PROCESSING_S = 8.0
WAIT_S = 240  # deadlines against hangs, never measurements
AVATAR, SAVE = "3", "4"


def write_portraits(folder, count: int) -> list[str]:
    """``count`` different portraits (flat colours with a face-sized darker square)."""
    names = []
    for index in range(count):
        pixels = np.full((96, 80, 3), (40 + 30 * index, 120, 200 - 25 * index), np.uint8)
        pixels[30:60, 25:55] //= 2
        name = f"portrait_{index}.png"
        Image.fromarray(pixels).save(folder / name)
        names.append(name)
    return names


def avatar_prompt(portrait: str, seed: int, *, scaled: bool = False) -> dict:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": portrait}},
        "2": {"class_type": "LoadAudio", "inputs": {"audio": "fal_avatar_sample_speech.wav"}},
        AVATAR: talking_node(seed),
        SAVE: {
            "class_type": "SaveVideo",
            "inputs": {
                "video": [AVATAR, 0],
                "filename_prefix": f"fal-avatar/qa{seed}",
                "format": "mp4",
                "codec": "h264",
            },
        },
    }
    if scaled:
        graph["5"] = {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["1", 0],
                "upscale_method": "bilinear",
                "width": 64,
                "height": 80,
                "crop": "disabled",
            },
        }
        graph[AVATAR]["inputs"]["image"] = ["5", 0]
    return graph


def node_texts(server, prompt_id: str) -> list[str]:
    """The avatar node's status lines while this prompt ran (the node id is the same in every prompt)."""
    started = [
        i
        for i, m in enumerate(server.messages)
        if m.type == "execution_start" and m.data.get("prompt_id") == prompt_id
    ]
    out = []
    for message in server.messages[started[0] :]:
        if message.type == "execution_success" and message.data.get("prompt_id") == prompt_id:
            break
        if message.type == "progress_text" and message.data.get("node") == AVATAR:
            out.append(message.data["text"])
    return out


def run_four(server, emulator, portraits, during=None) -> tuple[float, list[str], dict]:
    """Queue four prompts at once, call ``during()``, wait for all; (wall seconds, their ids, their emulator
    jobs by seed)."""
    submits = emulator.count("submit")
    started = time.monotonic()
    ids = [server.post_prompt(avatar_prompt(p, seed)) for seed, p in enumerate(portraits, start=1)]
    if during is not None:
        during()
    entries = [server.wait_for(prompt_id, timeout=WAIT_S) for prompt_id in ids]
    wall = time.monotonic() - started
    for entry in entries:
        assert entry["status"]["status_str"] == "success", entry["status"]
        assert entry["outputs"][SAVE]["images"], entry["outputs"]
    assert emulator.count("submit") - submits == 4
    jobs = {
        job.arguments["seed"]: job for job in emulator.jobs.values() if job.arguments["seed"] in (1, 2, 3, 4)
    }
    return wall, ids, jobs


def test_four_queued_prompts_generate_at_once_and_a_deleted_one_is_cancelled(comfy_server, fal_env):
    fal_env.inject_job("slow", times=50, processing_time=PROCESSING_S)
    inputs = comfy_server.base_dir / "input"
    portraits = write_portraits(inputs, 6)

    started = time.monotonic()
    alone = comfy_server.post_prompt(avatar_prompt(portraits[5], 99))
    assert comfy_server.wait_for(alone, timeout=WAIT_S)["status"]["status_str"] == "success"
    one_job_s = time.monotonic() - started

    panel = []

    def the_panel_shows_the_early_jobs():
        panel.append(
            wait_until(
                "the early jobs in the settings panel's route",
                lambda: (
                    body
                    if (body := comfy_server.get_json("/fal_avatar/queue_ahead"))["early_usd"] >= 0.66
                    else None
                ),
            )
        )

    wall, ids, jobs = run_four(comfy_server, fal_env, portraits[:4], during=the_panel_shows_the_early_jobs)
    (body,) = panel
    assert {job["prompt_id"] for job in body["jobs"]} <= set(ids[1:]) and len(body["jobs"]) >= 2
    assert body["early_usd"] == pytest.approx(sum(job["estimate_usd"] for job in body["jobs"]))
    intervals = sorted((job.started_at, job.completed_at) for job in jobs.values())
    print(
        f"\nqueue-ahead on: 4 prompts in {wall:.1f} s; one prompt alone {one_job_s:.1f} s "
        f"(ratio {wall / one_job_s:.2f}); emulator job intervals (s from the first start): "
        f"{[(round(a - intervals[0][0], 1), round(b - intervals[0][0], 1)) for a, b in intervals]}"
    )
    assert len(jobs) == 4
    assert max(start for start, _ in intervals) < min(end for _, end in intervals)  # all four at once
    entries = {e.request_id: e for e in Journal().entries()}
    early = [
        entries[job.request_id] for job in jobs.values() if entries[job.request_id].origin == QUEUE_AHEAD
    ]
    # Prompts 2-4 were queued behind prompt 1; prompt 1 too when the watcher saw it before ComfyUI took it.
    assert set(ids[1:]) <= {e.prompt_id for e in early} <= set(ids) and len(early) == len(
        {e.prompt_id for e in early}
    )
    for prompt_id in ids[1:]:
        assert any("started early at" in t for t in node_texts(comfy_server, prompt_id)), prompt_id

    # A fifth prompt waits behind a slow one; its early job is cancelled when it is deleted from the queue.
    blocker = comfy_server.post_prompt(avatar_prompt(portraits[4], 50))
    fifth = comfy_server.post_prompt(avatar_prompt(portraits[5], 51))
    job = wait_until(
        "the fifth prompt's early job submitted",
        lambda: next((j for j in fal_env.jobs.values() if j.arguments["seed"] == 51), None),
    )
    status, _ = comfy_server.request("POST", "/queue", {"delete": [fifth]})
    assert status == 200
    wait_until("the fifth prompt's job cancelled", lambda: fal_env.jobs[job.request_id].cancelled)
    assert comfy_server.wait_for(blocker, timeout=WAIT_S)["status"]["status_str"] == "success"
    assert comfy_server.history(fifth) is None
    assert wait_until("journaled as cancelled", lambda: Journal().get(job.request_id).state == "cancelled")
    assert [j.arguments["seed"] for j in fal_env.jobs.values()].count(51) == 1  # nothing more for it
    assert f"prompt {fifth} left the queue: its early fal job {job.request_id}" in comfy_server.log_text()

    # A portrait that goes through ImageScale: not started early, and still generated.
    submits = fal_env.count("submit")
    scaled = comfy_server.post_prompt(avatar_prompt(portraits[0], 77, scaled=True))
    assert comfy_server.wait_for(scaled, timeout=WAIT_S)["status"]["status_str"] == "success"
    assert fal_env.count("submit") == submits + 1
    (entry,) = [e for e in Journal().entries() if e.summary.get("seed") == 77]
    assert entry.origin is None
    assert any(
        "not started early: image comes from ImageScale (node 5)" in t
        for t in node_texts(comfy_server, scaled)
    ), node_texts(comfy_server, scaled)


@pytest.mark.comfy_env(FAL_AVATAR_QUEUE_AHEAD="0")
def test_with_the_setting_at_zero_queued_prompts_run_one_after_another(comfy_server, fal_env):
    fal_env.inject_job("slow", times=50, processing_time=PROCESSING_S)
    portraits = write_portraits(comfy_server.base_dir / "input", 4)
    wall, _, jobs = run_four(comfy_server, fal_env, portraits)
    intervals = sorted((job.started_at, job.completed_at) for job in jobs.values())
    print(f"\nqueue-ahead off: 4 prompts in {wall:.1f} s (jobs of {PROCESSING_S:g} s each)")
    for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
        assert start >= end  # one after another
    assert all(e.origin is None for e in Journal().entries())


def test_comfyui_killed_with_early_jobs_in_flight_then_the_same_prompts_pay_nothing_new(
    comfyui_path, comfyui_python, fal_env, isolated_env, tmp_path
):
    fal_env.inject_job("slow", times=50, processing_time=PROCESSING_S)
    env = child_environment({"FAL_AVATAR_HOME": str(isolated_env)})
    graphs = None

    def start(name: str):
        server = ComfyServer(comfyui_path, comfyui_python, tmp_path / name, env)
        server.work_dir.mkdir()
        return server, server.start(timeout=WAIT_S)

    first, client = start("first")
    try:
        portraits = write_portraits(client.base_dir / "input", 4)
        graphs = [avatar_prompt(p, 60 + i) for i, p in enumerate(portraits)]
        for graph in graphs:
            client.post_prompt(graph)
        wait_until(
            "three early jobs journaled",
            lambda: (
                len([e for e in Journal().entries() if e.origin == QUEUE_AHEAD and e.state == "submitted"])
                == 3
            ),
        )
        wait_until("four jobs on fal", lambda: len(fal_env.jobs) == 4)
    finally:
        first.process.kill()  # no clean shutdown: the jobs are in flight
        first.process.wait(timeout=30)
        client.ws.close()
    assert all(job.state != "COMPLETED" for job in fal_env.jobs.values())  # still generating when killed

    second, client = start("second")
    try:
        write_portraits(client.base_dir / "input", 4)  # the same files in the new server's input folder
        submits = fal_env.count("submit")
        ids = [client.post_prompt(graph) for graph in graphs]
        for prompt_id in ids:
            assert client.wait_for(prompt_id, timeout=WAIT_S)["status"]["status_str"] == "success"
        assert fal_env.count("submit") == submits == 4  # every node re-attached to its job
    finally:
        client.ws.close()
        second.stop()
