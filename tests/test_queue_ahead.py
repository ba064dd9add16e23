"""Queue-ahead through the comfy TEST DOUBLE (tests/comfy_double) against the emulator: which nodes of a
queued prompt start early, that the early job has the node's own request key (the node then re-attaches
with no new submit), cancel-on-delete, an interrupt of the running prompt leaving early jobs alone, and the
setting. The real ComfyUI case is tests/comfyui/test_queue_ahead.py."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from _waiting import wait_until
from PIL import Image
from test_comfy_nodes import DOUBLE, _purge, audio, execute

from comfyui_fal_avatar.nodes.cli.files import load_audio, load_image
from comfyui_fal_avatar.nodes.cli.jobs import list_jobs
from comfyui_fal_avatar.nodes.errors import ConfigError
from comfyui_fal_avatar.nodes.store.journal import QUEUE_AHEAD, Journal

AVATAR = "3"


@pytest.fixture
def qa(monkeypatch, tmp_path, fal_env, isolated_env):
    """The pack's ComfyUI layer on the double, plus a PromptQueue double and a loader stand-in reading the
    input folder with the CLI's loaders. Yields a namespace of the modules and helpers."""
    _purge()
    monkeypatch.syspath_prepend(str(DOUBLE))
    monkeypatch.setenv("COMFY_DOUBLE_ROOT", str(tmp_path / "comfy"))
    server = importlib.import_module("server").PromptServer()
    execution = importlib.import_module("execution")
    extension = importlib.import_module("comfyui_fal_avatar.nodes.comfy.extension")
    queue_ahead = importlib.import_module("comfyui_fal_avatar.nodes.comfy.queue_ahead")
    mm = importlib.import_module("comfy.model_management")
    ext = asyncio.run(extension.comfy_entrypoint())
    nodes = {cls.define_schema().node_id: cls for cls in asyncio.run(ext.get_node_list())}
    folder = tmp_path / "input"
    folder.mkdir()

    def run_loader(class_type: str, inputs: dict) -> tuple:
        if class_type == "LoadImage":
            return (torch.from_numpy(load_image(folder / inputs["image"])), None)
        if class_type == "LoadAudio":
            clip = load_audio(folder / inputs["audio"])
            return ({"waveform": torch.from_numpy(clip["waveform"]), "sample_rate": clip["sample_rate"]},)
        raise AssertionError(class_type)

    queue = execution.PromptQueue(server)
    watchers = []

    def watcher(limit: int = 4):
        w = queue_ahead.QueueAhead(queue, run_loader=run_loader, limit=lambda: limit)
        w.start()
        watchers.append(w)
        return w

    ns = types.SimpleNamespace(
        nodes=nodes,
        server=server,
        queue=queue,
        folder=folder,
        watcher=watcher,
        mm=mm,
        run_loader=run_loader,
        queue_ahead=queue_ahead,
        emulator=fal_env,
    )
    yield ns
    for w in watchers:
        w.stop()
    mm.interrupt_current_processing(False)
    _purge()


def write_inputs(folder: Path, count: int) -> list[str]:
    names = []
    for index in range(count):
        pixels = np.full((64, 48, 3), (30 * index, 100, 200), np.uint8)
        Image.fromarray(pixels).save(folder / f"p{index}.png")
        names.append(f"p{index}.png")
    clip = audio(1.7)
    pcm = (clip["waveform"][0, 0].numpy() * 32767).astype("<i2")
    import wave

    with wave.open(str(folder / "a.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(clip["sample_rate"])
        out.writeframes(pcm.tobytes())
    return names


def prompt(portrait: str, seed: int = 1, *, image_from: dict | None = None) -> dict:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": portrait}},
        "2": {"class_type": "LoadAudio", "inputs": {"audio": "a.wav"}},
        AVATAR: {
            "class_type": "FalInfiniTalkImageToVideo",
            "inputs": {
                "image": ["1", 0],
                "audio": ["2", 0],
                "prompt": "A person talking.",
                "num_frames": 41,
                "resolution": "480p",
                "acceleration": "regular",
                "seed": seed,
            },
        },
        "4": {"class_type": "SaveVideo", "inputs": {"video": [AVATAR, 0], "filename_prefix": "x"}},
    }
    if image_from is not None:
        graph["5"] = image_from
        graph[AVATAR]["inputs"]["image"] = ["5", 0]
    return graph


def queue_item(number: int, prompt_id: str, graph: dict) -> tuple:
    return (number, prompt_id, graph, {"client_id": "c"}, [AVATAR], {})


def early_entries(prompt_id: str):
    return [e for e in Journal().of_prompt(prompt_id) if e.request_id is not None]


# -- which nodes qualify ---------------------------------------------------------------------------------
def test_nodes_fed_by_loaders_and_widgets_qualify_others_say_why():
    from comfyui_fal_avatar.nodes.comfy.early_rules import sort_nodes

    direct = prompt("p.png")
    early, late = sort_nodes(direct)
    assert [(n.node_id, n.spec.node_id) for n in early] == [
        (AVATAR, "FalInfiniTalkImageToVideo")
    ] and late == []

    scaled = prompt(
        "p.png", image_from={"class_type": "ImageScale", "inputs": {"image": ["1", 0], "width": 64}}
    )
    early, late = sort_nodes(scaled)
    assert early == [] and [(n.node_id, n.reason) for n in late] == [
        (AVATAR, "image comes from ImageScale (node 5)")
    ]

    chosen = prompt("p.png")
    chosen["1"]["inputs"]["image"] = ["7", 0]  # the loader's file comes from another node
    chosen["7"] = {"class_type": "PrimitiveString", "inputs": {"value": "p.png"}}
    (late,) = sort_nodes(chosen)[1]
    assert late.reason == "image comes from LoadImage (node 1), whose file is chosen by another node"

    text_only = {
        "9": {
            "class_type": "FalInfiniTalkTextToVideo",
            "inputs": {"image": ["1", 0], "text_input": "Hi", "voice": "Aria", "seed": 3},
        },
        "1": {"class_type": "LoadImage", "inputs": {"image": "p.png"}},
        "8": {"class_type": "KSampler", "inputs": {"model": ["6", 0]}},
    }
    early, late = sort_nodes(text_only)
    assert [n.node_id for n in early] == ["9"] and late == []  # other classes are not the pack's business

    two = prompt("p.png")
    two["8"] = {**two[AVATAR], "inputs": {**two[AVATAR]["inputs"], "seed": 9}}
    assert [n.node_id for n in sort_nodes(two, outputs=["4"])[0]] == [AVATAR]  # a partial run: "8" is not run
    assert [n.node_id for n in sort_nodes(two, outputs=["4", "8"])[0]] == [AVATAR, "8"]

    video = {
        "4": {"class_type": "FalInfiniTalkVideoToVideo", "inputs": {"video": ["2", 0], "audio": ["3", 0]}},
        "2": {"class_type": "LoadVideo", "inputs": {"file": "v.mp4"}},
        "3": {"class_type": "GetVideoComponents", "inputs": {"video": ["2", 0]}},
    }
    assert [n.reason for n in sort_nodes(video)[1]] == ["audio comes from GetVideoComponents (node 3)"]


# -- the early job is the node's job ------------------------------------------------------------------------
def test_the_early_job_has_the_nodes_key_and_the_node_reattaches_without_a_new_submit(qa, capsys):
    (portrait,) = write_inputs(qa.folder, 1)
    graph = prompt(portrait, seed=5)
    qa.queue.put(queue_item(1, "prompt-a", graph))
    qa.watcher()
    (entry,) = wait_until("the early job journaled", lambda: early_entries("prompt-a"))
    assert entry.origin == QUEUE_AHEAD and entry.prompt_id == "prompt-a"
    assert qa.emulator.count("submit") == 1
    list_jobs(argparse.Namespace(limit=None, json=False))  # `fal-avatar jobs`
    (line,) = [row for row in capsys.readouterr().out.splitlines() if entry.request_id in row]
    assert "submitted" in line and "prompt prompt-a" in line

    # ComfyUI reaches the prompt: the node gets the loaders' outputs and computes its key itself.
    qa.queue.get()
    image = qa.run_loader("LoadImage", {"image": portrait})[0]
    (sound,) = qa.run_loader("LoadAudio", {"audio": "a.wav"})
    values = {k: v for k, v in graph[AVATAR]["inputs"].items() if not isinstance(v, list)}
    execute(qa.nodes["FalInfiniTalkImageToVideo"], AVATAR, graph, image=image, audio=sound, **values)
    assert qa.emulator.count("submit") == 1  # re-attached: same request key, no second job
    texts = [t for node, t in qa.server.texts if node == AVATAR]
    assert any("started early at" in t for t in texts), texts
    assert Journal().get(entry.request_id).state == "downloaded"


def test_a_node_fed_by_another_node_is_not_started_and_its_status_says_why(qa):
    (portrait,) = write_inputs(qa.folder, 1)
    graph = prompt(portrait, image_from={"class_type": "ImageScale", "inputs": {"image": ["1", 0]}})
    qa.queue.put(queue_item(1, "prompt-b", graph))
    w = qa.watcher()
    wait_until("examined", lambda: w.call(lambda: "prompt-b" in w._jobs))
    assert w.note_for("prompt-b", AVATAR) == "not started early: image comes from ImageScale (node 5)"
    assert qa.emulator.count("submit") == 0


# -- leaving the queue, interrupts ---------------------------------------------------------------------------
def test_a_prompt_deleted_from_the_queue_gets_its_early_job_cancelled(qa):
    portraits = write_inputs(qa.folder, 2)
    qa.emulator.inject_job("slow", times=5, processing_time=30.0)
    qa.queue.put(queue_item(1, "keep", prompt(portraits[0], 1)))
    qa.queue.put(queue_item(2, "drop", prompt(portraits[1], 2)))
    w = qa.watcher()
    wait_until("two early jobs", lambda: len(early_entries("keep")) == 1 and len(early_entries("drop")) == 1)
    (dropped,) = early_entries("drop")
    assert qa.queue.delete_queue_item(lambda item: item[1] == "drop")
    wait_until("cancelled", lambda: Journal().get(dropped.request_id).state == "cancelled")
    assert qa.emulator.jobs[dropped.request_id].cancelled
    (kept,) = early_entries("keep")
    assert kept.state == "submitted" and not qa.emulator.jobs[kept.request_id].cancelled
    wait_until("said so", lambda: w.messages)
    assert "fal may bill it" in w.messages[-1] or "not billed" in w.messages[-1], list(w.messages)
    submits = qa.emulator.count("submit")

    qa.queue.wipe_queue()  # clearing the queue cancels the other one too; nothing is submitted again
    wait_until("cancelled too", lambda: Journal().get(kept.request_id).state == "cancelled")
    time.sleep(0.3)
    assert qa.emulator.count("submit") == submits


def test_an_interrupt_of_the_running_prompt_leaves_early_jobs_of_queued_prompts_alone(qa):
    portraits = write_inputs(qa.folder, 2)
    qa.emulator.inject_job("slow", times=5, processing_time=30.0)
    qa.queue.put(queue_item(1, "running", prompt(portraits[0], 1)))
    qa.queue.put(queue_item(2, "queued", prompt(portraits[1], 2)))
    w = qa.watcher()
    wait_until("two early jobs", lambda: early_entries("running") and early_entries("queued"))
    qa.queue.get()  # "running" starts; the user then presses Cancel
    qa.mm.interrupt_current_processing(True)
    w.poke()
    w.call(lambda: None)  # the watcher has looked at the queue since
    time.sleep(0.5)
    (queued,) = early_entries("queued")
    assert queued.state == "submitted" and not qa.emulator.jobs[queued.request_id].cancelled
    assert qa.emulator.count("cancel") == 0
    assert w.call(lambda: [job.prompt_id for job in w.jobs()]) == ["queued"]


def test_a_prompt_interrupted_before_its_node_took_its_early_job_over_gets_it_cancelled(qa):
    """Cancel pressed as the prompt starts: the node stops before it re-attaches, so the watcher cancels the
    early job once ComfyUI records the prompt as interrupted. A prompt that failed otherwise keeps its job
    (the next run takes it at no new cost), and so do prompts still queued."""
    portraits = write_inputs(qa.folder, 3)
    qa.emulator.inject_job("slow", times=5, processing_time=30.0)
    for number, name in enumerate(("interrupted", "failed", "queued")):
        qa.queue.put(queue_item(number, name, prompt(portraits[number], number)))
    w = qa.watcher()
    wait_until("three early jobs", lambda: all(early_entries(p) for p in ("interrupted", "failed", "queued")))
    started = [qa.queue.get() for _ in range(2)]  # both start; neither node re-attaches
    w.call(lambda: None)  # the watcher has seen them running
    for (item, item_id), last in zip(started, ("execution_interrupted", "execution_error"), strict=True):
        messages = [["execution_start", {"prompt_id": item[1]}], [last, {"prompt_id": item[1]}]]
        qa.queue.task_done(item_id, {}, {"status_str": "error", "completed": False, "messages": messages})
    (interrupted,) = early_entries("interrupted")
    wait_until("cancelled", lambda: Journal().get(interrupted.request_id).state == "cancelled")
    assert qa.emulator.jobs[interrupted.request_id].cancelled
    wait_until("said so", lambda: w.messages)
    said = list(w.messages)
    assert said[-1].startswith("prompt interrupted was interrupted: its early fal job"), said
    w.call(lambda: None)
    time.sleep(0.3)
    for name in ("failed", "queued"):
        (entry,) = early_entries(name)
        assert entry.state == "submitted" and not qa.emulator.jobs[entry.request_id].cancelled
    assert qa.emulator.count("cancel") == 1


# -- the setting ---------------------------------------------------------------------------------------------
def test_at_most_the_setting_of_prompts_start_early_and_zero_is_off(qa):
    portraits = write_inputs(qa.folder, 3)
    for number, portrait in enumerate(portraits, start=1):
        qa.queue.put(queue_item(number, f"p{number}", prompt(portrait, number)))
    w = qa.watcher(limit=2)
    wait_until("two early jobs", lambda: early_entries("p1") and early_entries("p2"))
    time.sleep(0.3)
    assert early_entries("p3") == [] and qa.emulator.count("submit") == 2
    w.stop()

    off = qa.watcher(limit=0)
    off.poke()
    off.call(lambda: None)
    assert qa.emulator.count("submit") == 2


def test_the_setting_is_saved_overridden_by_the_environment_and_checked(isolated_env, monkeypatch):
    from comfyui_fal_avatar.nodes.comfy import queue_ahead_settings as qs

    assert qs.prompts_ahead() == (4, "default")
    assert qs.save_from_request({"queue_ahead_prompts": 0})[0] == 200
    assert qs.prompts_ahead() == (0, "saved")
    assert qs.save_from_request({"queue_ahead_prompts": 17})[0] == 400
    assert qs.save_from_request({"queue_ahead_prompts": 2.5})[0] == 400
    assert qs.save_from_request({"queue_ahead_prompts": True})[0] == 400
    monkeypatch.setenv(qs.ENV, "16")
    assert qs.queue_ahead_status()["queue_ahead_prompts"] == 16 and qs.queue_ahead_status()["source"] == "env"
    monkeypatch.setenv(qs.ENV, "many")
    with pytest.raises(ConfigError, match="FAL_AVATAR_QUEUE_AHEAD must be a whole number"):
        qs.prompts_ahead()
    monkeypatch.delenv(qs.ENV)
    assert qs.save_from_request({"queue_ahead_prompts": None}) == (200, qs.queue_ahead_status())
    assert qs.prompts_ahead() == (4, "default")
