"""A real ComfyUI runs the pack's node in a workflow against the emulator (skipped without COMFYUI_PATH).

LoadImage + LoadAudio → FalInfiniTalkImageToVideo → SaveVideo (+ frames → PreviewImage, audio →
PreviewAudio): the MP4 is saved by core, the real VIDEO/IMAGE/AUDIO types flow into core nodes, the
status lines reach the browser, an unchanged re-queue is cached by ComfyUI (no second submit), connecting
the frames output after a run without it decodes them (no second submit), a bad widget is refused before
anything is sent, and POST /interrupt cancels the remote fal job.
"""

from __future__ import annotations

import pytest
from comfy_harness import PromptRejected

pytestmark = pytest.mark.comfyui

AVATAR = "3"


def workflow(*, num_frames: int = 41, seed: int = 42, with_frames: bool = True) -> dict:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "fal_avatar_sample_portrait.png"}},
        "2": {"class_type": "LoadAudio", "inputs": {"audio": "fal_avatar_sample_speech.wav"}},
        AVATAR: {
            "class_type": "FalInfiniTalkImageToVideo",
            "inputs": {
                "image": ["1", 0],
                "audio": ["2", 0],
                "prompt": "A person talking to the camera.",
                "num_frames": num_frames,
                "resolution": "480p",
                "acceleration": "regular",
                "seed": seed,
            },
        },
        "4": {
            "class_type": "SaveVideo",
            "inputs": {
                "video": [AVATAR, 0],
                "filename_prefix": "fal-avatar/test",
                "format": "mp4",
                "codec": "h264",
            },
        },
        "5": {"class_type": "PreviewAudio", "inputs": {"audio": [AVATAR, 2]}},
    }
    if with_frames:
        graph["6"] = {"class_type": "PreviewImage", "inputs": {"images": [AVATAR, 1]}}
    return graph


def node_texts(server, node: str = AVATAR) -> list[str]:
    return [m.data["text"] for m in server.messages_of("progress_text") if m.data.get("node") == node]


# The node's own phases, upload to decode. With queue-ahead on, its watcher may submit first when ComfyUI
# takes the prompt late, and the node re-attaches (seen once: "Re-attached to running job");
# test_real_queue_ahead covers that path.
@pytest.mark.comfy_env(FAL_AVATAR_QUEUE_AHEAD="0")
def test_workflow_saves_the_video_and_requeue_is_cached(comfy_server, fal_env):
    prompt_id = comfy_server.post_prompt(workflow())
    entry = comfy_server.wait_for(prompt_id, timeout=180)
    assert entry["status"]["status_str"] == "success", entry["status"]
    saved = entry["outputs"]["4"]["images"][0]
    data = comfy_server.view(saved["filename"], saved.get("subfolder", ""), saved["type"])
    assert data[4:8] == b"ftyp" and len(data) > 10_000
    assert entry["outputs"][AVATAR]["animated"] == [True]  # the node's own video preview
    assert len(entry["outputs"]["6"]["images"]) == 41  # frames decoded: the output is linked
    assert fal_env.count("submit") == 1

    texts = node_texts(comfy_server)
    print("\n".join(["status lines of one run:", *texts]))
    for phase in ("Uploading", "Submitting", "Generating", "Downloading", "Decoding", "Done"):
        assert any(t.startswith(phase) for t in texts), (phase, texts)
    events = [m.data for m in comfy_server.messages_of("fal_avatar.status")]
    assert events and events[-1]["request_id"]

    again = comfy_server.post_prompt(workflow())
    assert comfy_server.wait_for(again)["status"]["status_str"] == "success"
    cached = [m.data for m in comfy_server.messages_of("execution_cached", again)]
    assert cached and AVATAR in cached[0]["nodes"]
    assert fal_env.count("submit") == 1


def test_connecting_the_frames_output_later_decodes_them_without_paying_again(comfy_server, fal_env):
    first = comfy_server.post_prompt(workflow(with_frames=False))
    assert comfy_server.wait_for(first)["status"]["status_str"] == "success"
    again = comfy_server.post_prompt(workflow(with_frames=True))
    entry = comfy_server.wait_for(again)
    assert entry["status"]["status_str"] == "success", entry["status"]["messages"][-1]
    assert len(entry["outputs"]["6"]["images"]) == 41
    cached = [n for m in comfy_server.messages_of("execution_cached", again) for n in m.data["nodes"]]
    assert (
        AVATAR not in cached and fal_env.count("submit") == 1
    )  # the node ran again; the pack reused the job


def test_bad_widget_is_refused_before_the_prompt_runs(comfy_server, fal_env):
    with pytest.raises(PromptRejected) as info:
        comfy_server.post_prompt(workflow(num_frames=42))
    assert "4n+1" in str(info.value.body)
    assert fal_env.requests == []


def test_interrupt_cancels_the_remote_job(comfy_server, fal_env):
    fal_env.inject_job("slow", processing_time=60)
    prompt_id = comfy_server.post_prompt(workflow(seed=7, with_frames=False))
    comfy_server.wait_for_message(
        lambda m: m.type == "progress_text" and m.data.get("text", "").startswith("Generating"), timeout=120
    )
    comfy_server.interrupt()
    comfy_server.wait_for_message(lambda m: m.type == "execution_interrupted", timeout=30)
    assert fal_env.count("cancel") == 1
    (job,) = fal_env.jobs.values()
    assert job.cancelled
    assert any(t.startswith("Cancelled") for t in node_texts(comfy_server)), node_texts(comfy_server)
    assert comfy_server.wait_for(prompt_id)["status"]["status_str"] == "error"
