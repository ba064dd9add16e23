"""A real ComfyUI runs one node of each family against the emulator (skipped without COMFYUI_PATH).

Each run is built from the node's endpoint row: core loaders with the bundled samples feed its media sockets
(a second speaker's audio too; a MASK from core's SolidMask where the row takes one), its widgets take their
defaults, a required choice without a default takes the cheapest option, and the fps and frame count go to
core's "Preview as Text". Checked: the prompt succeeds with one submit carrying only fal's fields of that row
(nothing beyond them on a strict row), the saved MP4 is the emulator's file, and the fps output is the one
read from that file (the model's own, never re-timed to 25).
"""

from __future__ import annotations

import pytest

from comfyui_fal_avatar.nodes.avatar.endpoints import BY_ENDPOINT_ID, CHOOSE
from comfyui_fal_avatar.nodes.media import probe_video

pytestmark = pytest.mark.comfyui

# One row per family (EndpointSpec.family).
FAMILY_ROWS = {
    "portrait_audio": "fal-ai/bytedance/omnihuman/v1.5",
    "portrait_text": "veed/fabric-1.0/text",
    "two_people": "fal-ai/ai-avatar/multi",
    "footage_lipsync": "fal-ai/sync-lipsync/v2",
    "compatibility": "fal-ai/stable-avatar",
}
LOADERS = {
    "image": ("LoadImage", {"image": "fal_avatar_sample_portrait.png"}),
    "audio": ("LoadAudio", {"audio": "fal_avatar_sample_speech.wav"}),
    "video": ("LoadVideo", {"file": "fal_avatar_sample_video.mp4"}),
    "mask": ("SolidMask", {"value": 1.0, "width": 512, "height": 512}),  # the sample portrait's size
}
NODE = "10"


def widget_values(spec) -> dict:
    values = {}
    for p in spec.params:
        if p.choice_required:
            values[p.name] = min(p.options, key=spec.price.rate)
        elif p.name == "num_frames":
            values[p.name] = 0  # auto: the audio's length
        else:
            values[p.name] = p.default
    return values


def family_prompt(spec) -> dict:
    graph, inputs = {}, widget_values(spec)
    for number, slot in enumerate(spec.media, start=1):
        if slot.kind == "frames":  # footage as frames instead of a VIDEO: the VIDEO is connected
            continue
        class_type, loader_inputs = LOADERS[slot.kind]
        graph[str(number)] = {"class_type": class_type, "inputs": dict(loader_inputs)}
        inputs[slot.name] = [str(number), 0]
    graph[NODE] = {"class_type": spec.node_id, "inputs": inputs}
    graph["20"] = {
        "class_type": "SaveVideo",
        "inputs": {
            "video": [NODE, 0],
            "filename_prefix": "fal-avatar/family",
            "format": "mp4",
            "codec": "h264",
        },
    }
    graph["21"] = {"class_type": "PreviewAny", "inputs": {"source": [NODE, 3]}}  # fps
    graph["22"] = {"class_type": "PreviewAny", "inputs": {"source": [NODE, 4]}}  # frame_count
    return graph


@pytest.mark.parametrize("family", sorted(FAMILY_ROWS))
def test_one_node_of_each_family_runs_in_comfyui(comfy_server, fal_env, tmp_path, family):
    spec = BY_ENDPOINT_ID[FAMILY_ROWS[family]]
    assert spec.family == family
    prompt = family_prompt(spec)
    assert CHOOSE not in prompt[NODE]["inputs"].values()
    entry = comfy_server.wait_for(comfy_server.post_prompt(prompt), timeout=240)
    assert entry["status"]["status_str"] == "success", entry["status"]

    (job,) = fal_env.jobs.values()
    assert fal_env.count("submit") == 1 and job.endpoint_id == spec.endpoint_id
    fal_fields = {p.field for p in spec.params if p.fal} | {s.fal_field for s in spec.media if s.fal_field}
    if spec.length_rule == "num_segments":
        fal_fields.add("num_segments")
    assert set(job.arguments) <= fal_fields, sorted(set(job.arguments) - fal_fields)

    saved = entry["outputs"]["20"]["images"][0]
    video = tmp_path / "saved.mp4"
    video.write_bytes(comfy_server.view(saved["filename"], saved.get("subfolder", ""), saved["type"]))
    info = probe_video(video)
    fps = float(entry["outputs"]["21"]["text"][0])
    frame_count = int(entry["outputs"]["22"]["text"][0])
    print(f"{spec.node_id}: {frame_count} frames at {fps:g} fps, {info.width}×{info.height}")
    assert fps == pytest.approx(info.fps, abs=0.01) and frame_count == info.frame_count
