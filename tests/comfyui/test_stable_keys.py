"""Request keys that survive ComfyUI's cache in a real ComfyUI (skipped without COMFYUI_PATH).

One dubbing graph queued A, B, A, B, A (two seeds): ComfyUI's default RAM-pressure cache drops every result
the current prompt does not use (its inactive threshold is all of the RAM), so when A comes back the
avatar node runs again. The pack's request keys, computed from the inputs as given, must find the stored
results: no upload and no submit after the first two prompts. Before the last prompt the source file is
saved again (same bytes, new modification time), so LoadVideo and everything after it run again too (the
frames are decoded anew). Once with LoadVideo → GetVideoComponents →
IMAGE frames (keyed by their values and rate), once with LoadVideo of a MOV file as the VIDEO (keyed by the
file; a MOV is re-encoded for upload, which must not change the key).
"""

from __future__ import annotations

import os

import pytest
from _sentences import speech
from comfy_media import upload_count, write_clip, write_wav

pytestmark = pytest.mark.comfyui

AVATAR = "3"
SECONDS = 12.0  # 300 frames: two segments of at most 241


def dubbing_graph(source: str, via_frames: bool, seed: int) -> dict:
    values = {
        "prompt": "A person talking.",
        "num_frames": 0,
        "resolution": "480p",
        "acceleration": "regular",
        "seed": seed,
        "fps": 25.0,
    }
    graph = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": source}},
        "2": {"class_type": "LoadAudio", "inputs": {"audio": "speech.wav"}},
        AVATAR: {"class_type": "FalInfiniTalkVideoToVideo", "inputs": {"audio": ["2", 0], **values}},
        "4": {
            "class_type": "SaveVideo",
            "inputs": {
                "video": [AVATAR, 0],
                "filename_prefix": "fal-avatar/dub",
                "format": "mp4",
                "codec": "h264",
            },
        },
    }
    if via_frames:
        graph["6"] = {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}}
        graph[AVATAR]["inputs"].update(frames=["6", 0], fps=["6", 2])
    else:
        graph[AVATAR]["inputs"]["video"] = ["1", 0]
    return graph


@pytest.mark.parametrize(
    ("source", "via_frames"), [("source.mp4", True), ("source.mov", False)], ids=["frames", "mov-video"]
)
def test_alternating_seeds_pay_only_for_the_first_two_prompts(comfy_server, fal_env, source, via_frames):
    inputs = comfy_server.base_dir / "input"
    write_clip(inputs, source, SECONDS, fps=30)
    said = speech(SECONDS)
    write_wav(inputs, "speech.wav", said.samples, said.rate)

    per_prompt = []
    for index, seed in enumerate((1, 2, 1, 2, 1)):
        if index == 4:  # LoadVideo's fingerprint is the file's modification time
            mtime = os.stat(inputs / source).st_mtime
            os.utime(inputs / source, (mtime + 10, mtime + 10))
        fal_env.clear_log()
        prompt_id = comfy_server.post_prompt(dubbing_graph(source, via_frames, seed))
        entry = comfy_server.wait_for(prompt_id, timeout=300)
        assert entry["status"]["status_str"] == "success", entry["status"]
        cached = [n for m in comfy_server.messages_of("execution_cached", prompt_id) for n in m.data["nodes"]]
        per_prompt.append((seed, fal_env.count("submit"), upload_count(fal_env), AVATAR in cached))
    print("(seed, submits, uploads, avatar node served by ComfyUI's cache):", per_prompt)
    assert not {"1", "6"} & set(cached)  # the last prompt loaded the video again (and decoded its frames)

    assert [p[1] for p in per_prompt] == [2, 2, 0, 0, 0]  # two segments per new seed, then nothing
    assert per_prompt[0][2] > 0 and [p[2] for p in per_prompt[2:]] == [0, 0, 0]
    assert [p[3] for p in per_prompt] == [False] * 5  # the node ran every time: the pack's keys did it
