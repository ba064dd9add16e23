"""A list input in a real ComfyUI (skipped without COMFYUI_PATH): core's Create List feeds four seeds into one
generation node, and ComfyUI runs that async node once per list item, all four in one event loop.

The pack runs every one of them through its fan-out engine (the limit shared by the loop, cancel-all), so
the four fal jobs generate at once, and the user's Cancel cancels all four. "At once" is reached, not timed:
the emulator holds every job IN_PROGRESS until the test releases them, so items run one after another would
never have four jobs in progress together.
"""

from __future__ import annotations

import threading

import pytest
from _waiting import wait_until
from comfy_media import talking_node

from comfyui_fal_avatar.nodes.store.journal import Journal

pytestmark = pytest.mark.comfyui

GEN, SAVE, LIST = "10", "20", "5"
WAIT_S = 180  # a deadline against hangs, never a measurement


def workflow(seeds: tuple[int, ...]) -> dict:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "fal_avatar_sample_portrait.png"}},
        "2": {"class_type": "LoadAudio", "inputs": {"audio": "fal_avatar_sample_speech.wav"}},
        LIST: {"class_type": "CreateList", "inputs": {}},
        GEN: talking_node([LIST, 0]),
        SAVE: {
            "class_type": "SaveVideo",
            "inputs": {
                "video": [GEN, 0],
                "filename_prefix": "fal-avatar/list",
                "format": "mp4",
                "codec": "h264",
            },
        },
    }
    for index, seed in enumerate(seeds):
        graph[f"3{index}"] = {"class_type": "PrimitiveInt", "inputs": {"value": seed}}
        graph[LIST]["inputs"][f"inputs.input{index}"] = [f"3{index}", 0]
    return graph


def generating(emulator, seeds: tuple[int, ...]) -> dict | None:
    """The jobs by seed, once every seed's job is IN_PROGRESS."""
    jobs = {job.arguments["seed"]: job for job in emulator.jobs.values()}
    ready = set(seeds) <= set(jobs) and all(jobs[s].state == "IN_PROGRESS" for s in seeds)
    return {s: jobs[s] for s in seeds} if ready else None


def test_four_list_items_generate_at_once_and_cancel_cancels_all_four(comfy_server, fal_env):
    first, second = (1, 2, 3, 4), (5, 6, 7, 8)
    release = threading.Event()
    fal_env.inject_job("slow", times=4, release=release)
    prompt_id = comfy_server.post_prompt(workflow(first))
    jobs = wait_until("four list items generating at once", lambda: generating(fal_env, first))
    release.set()
    entry = comfy_server.wait_for(prompt_id, timeout=WAIT_S)

    assert entry["status"]["status_str"] == "success", entry["status"]
    assert (fal_env.count("submit"), fal_env.count("cancel")) == (4, 0)
    saved = entry["outputs"][SAVE]["images"]
    assert len(saved) == 4 and len({s["filename"] for s in saved}) == 4, saved
    for video in saved:
        data = comfy_server.view(video["filename"], video.get("subfolder", ""), video["type"])
        assert data[4:8] == b"ftyp" and len(data) > 10_000
    states = {e.request_id: e.state for e in Journal().entries()}
    assert sorted(states[job.request_id] for job in jobs.values()) == ["downloaded"] * 4

    fal_env.inject_job(
        "slow", times=4, release=threading.Event()
    )  # never released: generating until cancelled
    prompt_id = comfy_server.post_prompt(workflow(second))
    jobs = wait_until("four more list items generating at once", lambda: generating(fal_env, second))
    comfy_server.interrupt()
    entry = comfy_server.wait_for(prompt_id, timeout=WAIT_S)

    assert entry["status"]["status_str"] == "error", entry["status"]
    assert comfy_server.messages_of("execution_interrupted", prompt_id)
    assert (fal_env.count("submit"), fal_env.count("cancel")) == (8, 4)
    assert all(job.cancelled for job in jobs.values())
    states = {e.request_id: e.state for e in Journal().entries()}
    assert sorted(states[job.request_id] for job in jobs.values()) == ["cancelled"] * 4
