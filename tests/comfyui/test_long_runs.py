"""Long videos in a real ComfyUI (skipped without COMFYUI_PATH): with num_frames 0 one node covers its whole
input; longer than one fal job, it runs segments side by side on the emulator and stitches them.

Image+audio (70 s), single-text (~2,500 characters) and dubbing (a 60 s LoadVideo source): the saved MP4
has every frame and its sound; the node showed the combined segment status with the estimate, and moved
its progress bar; a re-queue pays nothing (ComfyUI's cache, or the pack's store when an upstream node ran
again with the same values); Cancel cancels every segment job in flight.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from _sentences import SENTENCES, speech
from _waiting import wait_until
from comfy_media import PORTRAIT, saved_video, video_facts, write_clip, write_wav

from comfyui_fal_avatar.nodes.longform.reference import parse_ref

pytestmark = pytest.mark.comfyui

FPS = 25
AVATAR, SAVE, REF = "3", "4", "5"
LONG_TEXT = " ".join(f"Part {n}: {SENTENCES[n % len(SENTENCES)]}" for n in range(35))


def long_graph(node: str, media: dict, prefix: str = "fal-avatar/long", **values) -> dict:
    """``media`` (nodes "1", "2" and the avatar node's media inputs) → avatar node → SaveVideo, with the
    request_id shown by PreviewAny. The frames output is not connected (nothing decoded)."""
    inputs = {
        "prompt": "A person talking to the camera.",
        "num_frames": 0,
        "resolution": "480p",
        "acceleration": "regular",
        "seed": 42,
        **values,
    }
    graph = {key: value for key, value in media.items() if key != "inputs"}
    graph[AVATAR] = {"class_type": node, "inputs": {**media["inputs"], **inputs}}
    graph[SAVE] = {
        "class_type": "SaveVideo",
        "inputs": {"video": [AVATAR, 0], "filename_prefix": prefix, "format": "mp4", "codec": "h264"},
    }
    graph[REF] = {"class_type": "PreviewAny", "inputs": {"source": [AVATAR, 6]}}
    return graph


def image_audio(audio_name: str) -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": PORTRAIT}},
        "2": {"class_type": "LoadAudio", "inputs": {"audio": audio_name}},
        "inputs": {"image": ["1", 0], "audio": ["2", 0]},
    }


def run_ok(server, graph: dict) -> tuple[str, dict]:
    prompt_id = server.post_prompt(graph)
    entry = server.wait_for(prompt_id, timeout=600)
    assert entry["status"]["status_str"] == "success", entry["status"]
    return prompt_id, entry


def node_texts(server, prompt_id: str | None = None) -> list[str]:
    """The avatar node's status lines (progress_text frames carry no prompt id: ``prompt_id`` keeps the
    lines after that prompt's execution_start)."""
    lines, current = [], None
    for m in server.messages:
        if m.type == "execution_start":
            current = m.data.get("prompt_id")
        elif m.type == "progress_text" and m.data.get("node") == AVATAR and prompt_id in (None, current):
            lines.append(m.data["text"])
    return lines


def cached_nodes(server, prompt_id: str) -> list[str]:
    return [n for m in server.messages_of("execution_cached", prompt_id) for n in m.data["nodes"]]


def segments_of(entry: dict):
    return parse_ref(entry["outputs"][REF]["text"][0])


def test_a_70_second_image_audio_run_is_one_stitched_video_with_the_original_sound(comfy_server, fal_env):
    said = speech(70.0)
    inputs = comfy_server.base_dir / "input"
    write_wav(inputs, "speech-70s.wav", said.samples, said.rate)
    prompt_id, entry = run_ok(
        comfy_server, long_graph("FalInfiniTalkImageToVideo", image_audio("speech-70s.wav"))
    )

    ref = segments_of(entry)
    assert len(ref.segments) >= 3 and fal_env.count("submit") == len(ref.segments)
    assert ref.total_frames == 70 * FPS
    info, sound, rate = video_facts(saved_video(comfy_server, entry, SAVE))
    assert abs(info.frame_count - 70 * FPS) <= 1 and info.fps == FPS
    assert rate == said.rate and abs(len(sound) - len(said.samples)) <= rate // FPS
    n = min(len(sound), len(said.samples))
    assert np.corrcoef(sound[:n], said.samples[:n])[0, 1] > 0.95  # the user's audio, encoded once

    texts = node_texts(comfy_server, prompt_id)
    print("\n".join(["status lines of the 70 s run:", *texts]))
    segment_lines = [t for t in texts if t.startswith("Segments · segment ")]
    assert segment_lines and all("est. ~$" in t for t in segment_lines), texts
    assert any(t.startswith("Stitching") for t in texts) and texts[-1].startswith("Done"), texts
    assert f"{len(ref.segments)} segments" in texts[-1]
    bar = [
        m.data["value"] for m in comfy_server.messages_of("progress", prompt_id) if m.data["node"] == AVATAR
    ]
    print("progress bar values (0..1000):", bar)
    restart = next((i for i in range(1, len(bar)) if bar[i] < bar[i - 1]), len(bar))  # the stitch starts at 0
    assert len({v for v in bar[:restart] if 0 < v < 1000}) >= 2 and any(
        0 < v < 1000 for v in bar[restart:]
    ), bar

    # An identical re-queue, and one with a changed downstream widget (not part of the node's cache
    # signature: its inputs and those of its ancestors), are both served by ComfyUI's cache.
    again, _ = run_ok(comfy_server, long_graph("FalInfiniTalkImageToVideo", image_audio("speech-70s.wav")))
    downstream, _ = run_ok(
        comfy_server,
        long_graph("FalInfiniTalkImageToVideo", image_audio("speech-70s.wav"), prefix="fal-avatar/renamed"),
    )
    assert AVATAR in cached_nodes(comfy_server, again) and AVATAR in cached_nodes(comfy_server, downstream)
    assert fal_env.count("submit") == len(ref.segments)
    # The same audio under another name: LoadAudio runs again, so does the node; the pack's store serves it.
    shutil.copyfile(inputs / "speech-70s.wav", inputs / "speech-70s-copy.wav")
    fal_env.clear_log()
    upstream, entry = run_ok(
        comfy_server, long_graph("FalInfiniTalkImageToVideo", image_audio("speech-70s-copy.wav"))
    )
    assert AVATAR not in cached_nodes(comfy_server, upstream)
    assert (
        fal_env.routes() == [] and segments_of(entry) == ref
    )  # no upload, no submit, not even a status poll
    print(
        "\n".join(
            ["status lines of the re-run after LoadAudio ran again:", *node_texts(comfy_server, upstream)]
        )
    )
    assert any("no upload, no new charge" in t for t in node_texts(comfy_server, upstream))


@pytest.mark.comfy_env(FAL_AVATAR_MAX_USD_PER_RUN="100")  # about 3 minutes of speech: ~$45
def test_a_long_text_becomes_segments_with_their_own_speech(comfy_server, fal_env):
    assert len(LONG_TEXT) >= 2500
    media = {"1": {"class_type": "LoadImage", "inputs": {"image": PORTRAIT}}, "inputs": {"image": ["1", 0]}}
    _, entry = run_ok(
        comfy_server, long_graph("FalInfiniTalkTextToVideo", media, text_input=LONG_TEXT, voice="Sarah")
    )
    ref = segments_of(entry)
    print("last status line:", node_texts(comfy_server)[-1])
    assert len(ref.segments) >= 3 and fal_env.count("submit") == len(ref.segments)
    info, sound, rate = video_facts(saved_video(comfy_server, entry, SAVE))
    assert abs(info.frame_count - ref.total_frames) <= 1
    assert sound is not None and abs(len(sound) / rate - info.duration_s) < 0.1
    assert np.sqrt(np.mean(sound**2)) > 0.01  # speech, not silence


def test_a_60_second_dub_of_a_loaded_video(comfy_server, fal_env):
    said = speech(60.0)
    inputs = comfy_server.base_dir / "input"
    media = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": write_clip(inputs, "source-60s.mp4", 60.0)}},
        "2": {
            "class_type": "LoadAudio",
            "inputs": {"audio": write_wav(inputs, "speech-60s.wav", said.samples, said.rate)},
        },
        "inputs": {"video": ["1", 0], "audio": ["2", 0]},
    }
    _, entry = run_ok(comfy_server, long_graph("FalInfiniTalkVideoToVideo", media, fps=25.0))
    ref = segments_of(entry)
    print("last status line:", node_texts(comfy_server)[-1])
    assert len(ref.segments) >= 7 and fal_env.count("submit") == len(ref.segments)  # at most 241 frames a job
    assert all(job.arguments["num_frames"] <= 241 for job in fal_env.jobs.values())
    info, sound, rate = video_facts(saved_video(comfy_server, entry, SAVE))
    assert abs(info.frame_count - 60 * FPS) <= 1
    n = min(len(sound), len(said.samples))
    assert rate == said.rate and np.corrcoef(sound[:n], said.samples[:n])[0, 1] > 0.95


def test_interrupt_cancels_every_segment_job_in_flight(comfy_server, fal_env):
    said = speech(40.0)
    write_wav(comfy_server.base_dir / "input", "speech-40s.wav", said.samples, said.rate)
    fal_env.inject_job("slow", times=2, processing_time=60)
    prompt_id = comfy_server.post_prompt(
        long_graph("FalInfiniTalkImageToVideo", image_audio("speech-40s.wav"))
    )
    deadline = time.monotonic() + 120
    while sum(job.state == "IN_PROGRESS" for job in fal_env.jobs.values()) < 2:
        assert time.monotonic() < deadline, [job.state for job in fal_env.jobs.values()]
        time.sleep(0.1)
    comfy_server.interrupt()
    comfy_server.wait_for_message(lambda m: m.type == "execution_interrupted", timeout=60)
    # The node cancels the jobs it follows; jobs queue-ahead started before the node re-attached to them
    # (the prompt was queued for a moment) are cancelled by its watcher once the prompt ends.
    wait_until("both jobs cancelled", lambda: fal_env.count("cancel") >= 2, timeout=60)
    assert fal_env.count("submit") == 2 and fal_env.count("cancel") == 2
    assert all(job.cancelled for job in fal_env.jobs.values())
    assert any(t.startswith("Cancelled") for t in node_texts(comfy_server)), node_texts(comfy_server)
    assert comfy_server.wait_for(prompt_id)["status"]["status_str"] == "error"
