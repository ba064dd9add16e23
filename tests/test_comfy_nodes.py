"""The ComfyUI node layer through the comfy_api TEST DOUBLE (tests/comfy_double), against the emulator.

Checks what a ComfyUI user sees: one node per endpoint row (grouped by family) and their widgets, outputs
with the right types and shapes, validation before any request, live status lines, and Cancel reaching
fal's cancel route.
The same layer is checked against a real ComfyUI in tests/comfyui/ when COMFYUI_PATH is set.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from test_media_samples import scramble_frames

from comfyui_fal_avatar.nodes.avatar.endpoints import CHOOSE, GENERATION_ENDPOINTS
from comfyui_fal_avatar.nodes.errors import FalServerError, InputError
from comfyui_fal_avatar.nodes.media import probe_video
from comfyui_fal_avatar.nodes.store.claims import Claims
from comfyui_fal_avatar.nodes.store.journal import Journal

DOUBLE = Path(__file__).parent / "comfy_double"
DOUBLE_MODULES = ("comfy_api", "comfy", "comfy_execution", "server", "folder_paths", "execution")
GEN_NODES = tuple(spec.node_id for spec in GENERATION_ENDPOINTS)


def _purge() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in DOUBLE_MODULES or name.startswith("comfyui_fal_avatar.nodes.comfy"):
            del sys.modules[name]


@pytest.fixture
def comfy(monkeypatch, tmp_path):
    """The pack's ComfyUI layer loaded on top of the test double; yields (nodes by id, server, mm)."""
    _purge()
    monkeypatch.syspath_prepend(str(DOUBLE))
    monkeypatch.setenv("COMFY_DOUBLE_ROOT", str(tmp_path / "comfy"))
    server = importlib.import_module("server").PromptServer()
    extension = importlib.import_module("comfyui_fal_avatar.nodes.comfy.extension")
    mm = importlib.import_module("comfy.model_management")
    ext = asyncio.run(extension.comfy_entrypoint())
    asyncio.run(ext.on_load())
    nodes = {cls.define_schema().node_id: cls for cls in asyncio.run(ext.get_node_list())}
    yield nodes, server, mm
    mm.interrupt_current_processing(False)
    _purge()


def image(h=80, w=120) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([x, y, torch.full_like(x, 0.4)], dim=-1)[None]


def audio(seconds=1.7, rate=16000) -> dict:
    t = torch.arange(int(seconds * rate)) / rate
    wave = 0.3 * torch.sin(2 * torch.pi * 200 * t) * (0.6 + 0.4 * torch.sin(2 * torch.pi * 4 * t))
    return {"waveform": wave[None, None, :], "sample_rate": rate}


def prompt_linking_frames(node_id: str) -> dict:
    return {
        node_id: {"class_type": "X", "inputs": {}},
        "9": {"class_type": "PreviewImage", "inputs": {"images": [node_id, 1]}},
    }


def execute(node_cls, node_id="5", graph=None, **inputs):
    """Run a node as ComfyUI would; ``graph`` is the API-format prompt (who consumes which output)."""
    clone = node_cls.with_hidden(unique_id=node_id, prompt=graph if graph is not None else {})
    return asyncio.run(clone.execute(**inputs))


# Node ids of the first release: saved workflows reference them, so they never change.
FIRST_NODE_IDS = {
    "fal-ai/infinitalk": "FalInfiniTalkImageToVideo",
    "fal-ai/infinitalk/single-text": "FalInfiniTalkTextToVideo",
    "fal-ai/infinitalk/video-to-video": "FalInfiniTalkVideoToVideo",
    "fal-ai/stable-avatar": "FalStableAvatar",
}
CATEGORIES = {
    "portrait_audio": "fal avatar/portrait + audio",
    "portrait_text": "fal avatar/portrait + text",
    "two_people": "fal avatar/two people",
    "footage_lipsync": "fal avatar/lip-sync footage",
    "compatibility": "fal avatar/compatibility",
}
SOCKETS = {"image": "IMAGE", "frames": "IMAGE", "audio": "AUDIO", "video": "VIDEO", "mask": "MASK"}
OUTPUTS = ["video", "frames", "audio", "fps", "frame_count", "video_url", "request_id"]


def test_one_node_per_row_grouped_by_family_with_the_seven_outputs(comfy):
    nodes, server, _ = comfy
    io = importlib.import_module("comfy_api.latest").io
    socket_types = {kind: getattr(io, kind.title()).Input for kind in set(SOCKETS.values())}
    assert sorted(nodes) == sorted([*GEN_NODES, "FalAvatarFetchResult"])
    assert {
        spec.endpoint_id: spec.node_id for spec in GENERATION_ENDPOINTS if spec.endpoint_id in FIRST_NODE_IDS
    } == FIRST_NODE_IDS
    for spec in GENERATION_ENDPOINTS:
        schema = nodes[spec.node_id].define_schema()
        assert schema.category == CATEGORIES[spec.family] and schema.is_output_node, spec.node_id
        assert schema.display_name.startswith("fal ") and schema.display_name == spec.display_name
        assert [o.id for o in schema.outputs] == OUTPUTS
        assert all(i.tooltip for i in schema.inputs), spec.node_id
        sockets = {i.id: type(i) for i in schema.inputs if not hasattr(i, "default")}
        assert sockets == {slot.name: socket_types[SOCKETS[slot.kind]] for slot in spec.media}, spec.node_id
        seeds = [i for i in schema.inputs if getattr(i, "control_after_generate", None)]
        if spec.seed_param is None:  # no seed widget where fal has none
            assert seeds == [] and not any(i.id == "seed" for i in schema.inputs), spec.node_id
        else:
            assert [(i.id, i.control_after_generate.value) for i in seeds] == [
                (spec.seed_param.name, "fixed")
            ]
        assert schema.is_deprecated == (spec.status == "delisted")
        if spec.status == "delisted":
            assert spec.status_note in schema.description
    assert nodes["FalAvatarFetchResult"].define_schema().category == "fal avatar"
    prompt = next(i for i in nodes["FalInfiniTalkImageToVideo"].define_schema().inputs if i.id == "prompt")
    assert prompt.multiline and prompt.default
    routes = {(m, p) for m, p, _ in server.routes}
    assert ("POST", "/fal_avatar/key") in routes and ("GET", "/fal_avatar/endpoints") in routes
    assert ("POST", "/fal_avatar/settings") in routes and ("GET", "/fal_avatar/media_length") in routes


def test_a_required_choice_without_a_default_is_refused_before_money(comfy, fal_env):
    """fal has no default for it (a missing one is a 422): the node shows a placeholder and refuses it."""
    nodes, _, _ = comfy
    choosing = [spec for spec in GENERATION_ENDPOINTS if any(p.choice_required for p in spec.params)]
    assert choosing, "no row has a required choice"
    for spec in choosing:
        param = next(p for p in spec.params if p.choice_required)
        combo = next(i for i in nodes[spec.node_id].define_schema().inputs if i.id == param.name)
        assert combo.options == [CHOOSE, *param.options] and combo.default == CHOOSE
        refused = nodes[spec.node_id].validate_inputs(**{param.name: CHOOSE})
        assert refused.startswith(f"{param.name}: choose ") and all(o in refused for o in param.options)
        assert nodes[spec.node_id].validate_inputs(**{param.name: param.options[0]}) is True
    fabric = next(spec for spec in choosing if {s.name for s in spec.media} == {"image", "audio"})
    with pytest.raises(InputError, match="resolution: choose one of"):  # a prompt that skipped validation
        execute(nodes[fabric.node_id], image=image(), audio=audio(), resolution=CHOOSE)
    assert fal_env.requests == []


FAMILY_ROWS = {  # one row per family, with every kind of media socket among them
    "portrait_audio": "fal-ai/bytedance/omnihuman/v1.5",
    "portrait_text": "veed/fabric-1.0/text",
    "two_people": "fal-ai/ai-avatar/multi",
    "footage_lipsync": "fal-ai/sync-lipsync/v2",
    "compatibility": "fal-ai/stable-avatar",
}


@pytest.mark.parametrize("family", sorted(FAMILY_ROWS))
def test_one_node_of_each_family_runs_with_its_own_fields_and_fps(comfy, fal_env, family):
    """Each media socket reaches its own fal field (a MASK as a black-and-white PNG, the second speaker's
    audio as second_audio_url), nothing beyond the row's fields is sent, and the fps output is the file's."""
    nodes, _, _ = comfy
    spec = next(s for s in GENERATION_ENDPOINTS if s.endpoint_id == FAMILY_ROWS[family])
    clip = Path(__file__).resolve().parent.parent / "nodes" / "assets" / "sample_video.mp4"
    api = importlib.import_module("comfy_api.latest")
    mask = torch.zeros((1, 80, 120))
    mask[:, :, 60:] = 1.0  # the right half speaks
    given = {
        "image": image(),
        "audio": audio(2.0),
        "audio2": audio(1.5),
        "mask": mask,
        "video": api.InputImpl.VideoFromFile(str(clip)),
    }
    widgets = {p.name: (p.options[-1] if p.choice_required else p.default) for p in spec.params}
    widgets.update({"num_frames": 0} if spec.has_param("num_frames") else {})
    out = execute(
        nodes[spec.node_id],
        "7",
        prompt_linking_frames("7"),
        **{slot.name: given[slot.name] for slot in spec.media if slot.name in given},
        **widgets,
    )
    (job,) = fal_env.jobs.values()
    sent = {s.fal_field for s in spec.media if s.name in given} | {
        p.field.split(".")[0] for p in spec.params if p.fal
    }
    if spec.length_rule == "num_segments":
        sent.add("num_segments")
    assert set(job.arguments) <= sent and {s.fal_field for s in spec.media if s.name in given} <= set(
        job.arguments
    )
    frames, fps, count = out.args[1], out.args[3], out.args[4]
    info = probe_video(Path(out.args[0].get_stream_source()))
    assert (fps, count, tuple(frames.shape)) == (
        info.fps,
        info.frame_count,
        (info.frame_count, info.height, info.width, 3),
    )
    if spec.has_slot("mask"):
        png = fal_env.files[job.arguments["mask_url"][len(fal_env.base_url) :]].data
        with PILImage.open(io.BytesIO(png)) as picture:
            pixels = np.asarray(picture.convert("L"))
        assert pixels.shape == (80, 120) and pixels[:, :60].max() == 0 and pixels[:, 60:].min() == 255


def test_the_price_badge_follows_each_rows_formula(comfy):
    """ComfyUI's price badge (JSONata, evaluated by the frontend) from the row: the rate at the chosen
    resolution or model (the dearest while a required one is not chosen), per minute where fal states it so,
    and the whole job once num_frames is set; no badge where fal's price is unknown."""
    nodes, _, _ = comfy
    for spec in GENERATION_ENDPOINTS:
        badge = nodes[spec.node_id].define_schema().price_badge
        price = spec.price
        if price.per == "unknown" or not price.usd_per_second:
            assert badge is None, spec.node_id
            continue
        scale = 60 if price.per == "minute" else 1
        assert ('"/minute"' if scale == 60 else '"/second"') in badge.expr, spec.node_id
        widgets = [name for name in ("num_frames", price.by) if spec.has_param(name)]
        assert badge.depends_on.widgets == widgets, spec.node_id
        if spec.has_param(price.by):  # the resolution, or sync v2's model
            assert f"widgets.{price.by}); $exists($r) ? $r : {price.rate(None) * scale}" in badge.expr, (
                spec.node_id
            )
        if spec.has_param("num_frames"):
            assert f"widgets.num_frames / {spec.fps:g}" in badge.expr, spec.node_id


def test_a_loader_widget_file_is_found_only_inside_its_folder(comfy, tmp_path):
    api = importlib.import_module("comfyui_fal_avatar.nodes.comfy.api")
    root = tmp_path / "comfy"
    speech = root / "input" / "fal_avatar_sample_speech.wav"  # copied there by on_load
    (root / "output").mkdir()
    (root / "output" / "take.wav").write_bytes(speech.read_bytes())
    (root / "input" / "folder").mkdir()
    assert api.input_file("fal_avatar_sample_speech.wav") == speech.resolve()
    assert api.input_file("fal_avatar_sample_speech.wav [input]") == speech.resolve()
    assert api.input_file("take.wav [output]") == (root / "output" / "take.wav").resolve()
    for name in (
        "take.wav",
        "../output/take.wav",
        str(root / "output" / "take.wav"),
        "",
        "folder",
        "missing.wav",
    ):
        assert api.input_file(name) is None, name


def test_validate_inputs_refuses_bad_widgets_before_the_prompt_runs(comfy):
    nodes, _, _ = comfy
    node = nodes["FalInfiniTalkImageToVideo"]
    assert node.validate_inputs(num_frames=145, resolution="480p", image=None) is True
    assert "num_frames" in node.validate_inputs(num_frames=146)
    assert "resolution" in node.validate_inputs(resolution="4k")
    text_node = nodes["FalInfiniTalkTextToVideo"]
    assert "text_input" in text_node.validate_inputs(text_input="  ")
    long = "Say it again. " * 150  # 2100 characters: a long run (num_frames 0) splits it into segments
    assert text_node.validate_inputs(text_input=long, num_frames=0) is True
    assert "Set num_frames to 0 (auto)" in text_node.validate_inputs(text_input=long, num_frames=721)
    assert "request_id" in nodes["FalAvatarFetchResult"].validate_inputs(request_id=" ")


def test_the_final_status_shows_the_output_fields_fal_returned(comfy, fal_env):
    """FlashTalk declares duration and timings: the node's last status names them (no new output socket)."""
    nodes, server, _ = comfy
    out = execute(nodes["FalFlashTalk"], image=image(), audio=audio(seconds=2.0), seed=3)
    (job,) = fal_env.jobs.values()
    duration = job.output["duration"]
    last = [e for name, e in server.events if name == "fal_avatar.status" and e["node"] == "5"][-1]
    assert last["phase"] == "done" and f"fal: duration {duration:g} s · inference " in last["detail"]
    assert len(out.args) == len(OUTPUTS)


@pytest.mark.full_size_output  # asserts the model's real output size
def test_image_audio_node_end_to_end_without_frames(comfy, fal_env):
    nodes, server, _ = comfy
    out = execute(
        nodes["FalInfiniTalkImageToVideo"],
        image=image(),
        audio=audio(),
        prompt="talk",
        num_frames=0,
        resolution="480p",
        acceleration="regular",
        seed=7,
    )
    video, frames, aud, fps, count, url, request_id = out.args
    assert fps == 25.0 and count == 45  # 1.7 s of audio → 43 frames → 4n+1 = 45
    assert tuple(frames.shape) == (0, 448, 896, 3)  # not linked: empty but valid, nothing decoded
    assert aud["waveform"].ndim == 3 and aud["sample_rate"] > 0 and aud["waveform"].shape[-1] > 0
    assert url.startswith(fal_env.base_url) and request_id
    assert Path(video.get_stream_source()).is_file()
    assert out.ui.as_dict()["animated"] == (True,)
    texts = [t for node, t in server.texts if node == "5"]
    assert any(t.startswith("Uploading") for t in texts)
    assert any("Done" in t and "frames not decoded" in t for t in texts)
    events = [e for name, e in server.events if name == "fal_avatar.status"]
    assert events[-1]["request_id"] == request_id and events[-1]["node"] == "5"


def test_a_long_audio_runs_in_segments_and_the_last_status_holds_the_segment_list(comfy, fal_env):
    nodes, server, _ = comfy
    out = execute(
        nodes["FalInfiniTalkImageToVideo"],
        image=image(),
        audio=audio(seconds=30.0),
        prompt="talk",
        num_frames=0,
        resolution="480p",
        acceleration="regular",
        seed=7,
    )
    count, request_id = out.args[4], out.args[6]
    assert count == 750 and request_id.count("@") == 2 and request_id.endswith(",frames=750")
    events = [e for name, e in server.events if name == "fal_avatar.status" and e["node"] == "5"]
    assert any(e["phase"] == "segments" and "segment 1/2" in e["text"] for e in events)
    assert any(e["phase"] == "stitching" for e in events)
    last = events[-1]
    assert (last["phase"], last["request_id"], last["frames"]) == ("done", request_id, 750)
    assert "2 segments" in last["detail"]


@pytest.mark.full_size_output  # asserts the model's real output size
def test_frames_decoded_when_linked_and_all_generation_nodes_work(comfy, fal_env, tmp_path):
    nodes, _, _ = comfy
    linked = prompt_linking_frames("7")
    common = {"prompt": "talk", "num_frames": 41, "resolution": "480p", "acceleration": "high", "seed": 1}

    out = execute(nodes["FalInfiniTalkImageToVideo"], "7", linked, image=image(), audio=audio(), **common)
    assert tuple(out.args[1].shape) == (41, 448, 896, 3) and out.args[1].dtype == torch.float32

    out = execute(
        nodes["FalInfiniTalkTextToVideo"],
        "7",
        linked,
        image=image(64, 64),
        text_input="Hi there!",
        voice="Aria",
        **common,
    )
    assert tuple(out.args[1].shape) == (41, 640, 640, 3) and out.args[2]["waveform"].shape[-1] > 0

    frames = image(64, 96).repeat(50, 1, 1, 1)
    out = execute(
        nodes["FalInfiniTalkVideoToVideo"], "7", linked, frames=frames, fps=25.0, audio=audio(), **common
    )
    assert out.args[4] == 41 and out.args[3] == 25.0

    out = execute(
        nodes["FalStableAvatar"],
        "7",
        linked,
        image=image(64, 64),
        audio=audio(2.0),
        prompt="talk",
        aspect_ratio="1:1",
        guidance_scale=5.0,
        audio_guidance_scale=4.0,
        num_inference_steps=30,
        perturbation=0.1,
        seed=-1,
    )
    assert tuple(out.args[1].shape)[1:] == (512, 512, 3) and out.args[3] == 25.0
    assert "seed" not in fal_env.jobs[out.args[6]].arguments


def test_the_cache_fingerprint_changes_when_the_frames_output_is_connected(comfy):
    """ComfyUI reuses a node's cached outputs while its inputs and fingerprint are unchanged. Frames are
    decoded only when the output is connected, so connecting it after a run must change the fingerprint;
    otherwise the next node gets the cached empty batch (PreviewImage fails: 'index 0 is out of bounds')."""
    nodes, _, _ = comfy
    progress = importlib.import_module("comfy_execution.progress")
    graph = importlib.import_module("comfy_execution.graph")
    for node_id in (*GEN_NODES, "FalAvatarFetchResult"):
        node = nodes[node_id].with_hidden(unique_id="7")
        assert node.fingerprint_inputs() is True  # no prompt running: a constant, as before
        progress.reset_progress_state("p1", graph.DynamicPrompt({"7": {"class_type": node_id, "inputs": {}}}))
        unlinked = node.fingerprint_inputs(prompt="talk")
        progress.reset_progress_state("p2", graph.DynamicPrompt(prompt_linking_frames("7")))
        assert (unlinked, node.fingerprint_inputs(prompt="talk")) == (False, True), node_id
        progress.reset_progress_state("", graph.DynamicPrompt({}))


def test_validation_error_reaches_no_server(comfy, fal_env):
    nodes, _, _ = comfy
    from comfyui_fal_avatar.nodes.errors import InputError

    with pytest.raises(InputError, match="audio"):
        execute(
            nodes["FalInfiniTalkImageToVideo"],
            image=image(),
            audio=audio(0.3),
            prompt="talk",
            num_frames=0,
            resolution="480p",
            acceleration="regular",
            seed=1,
        )
    with pytest.raises(InputError, match="image"):
        execute(
            nodes["FalInfiniTalkImageToVideo"],
            image=torch.zeros((1, 0, 0, 3)),
            audio=audio(),
            prompt="talk",
            num_frames=0,
            resolution="480p",
            acceleration="regular",
            seed=1,
        )
    assert fal_env.requests == []


def test_the_progress_bar_shows_each_phase_from_its_start(comfy):
    """ComfyUI sends only a bar's forward moves (and its final value). A phase that counts from 0 again
    (the stitch after the segments, the decode) gets a new bar; with one bar it would stay full."""
    from comfyui_fal_avatar.nodes.pipeline.status import RunStatus

    utils = importlib.import_module("comfy.utils")
    reporter = importlib.import_module("comfyui_fal_avatar.nodes.comfy.reporter").ComfyReporter("5")
    utils.UPDATES.clear()
    steps = [
        ("segments", 0.5),
        ("segments", 1.0),
        ("stitching", 0.1),
        ("stitching", 0.6),
        ("stitching", 1.0),
        ("decoding", 0.3),
    ]
    for phase, progress in steps:
        reporter(RunStatus(phase=phase, endpoint="fal-ai/infinitalk", progress=progress))
    assert [value for _, value, _ in utils.UPDATES] == [500, 1000, 100, 600, 1000, 300]


@pytest.mark.parametrize(("fault", "phase_text"), [("stuck_queue", "Queued"), ("slow", "Generating")])
def test_cancel_reaches_fal_cancel_route(comfy, fal_env, fault, phase_text):
    nodes, server, mm = comfy
    fal_env.inject_job(fault, processing_time=30)

    def press_cancel_when_phase_seen():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(t.startswith(phase_text) for _, t in server.texts):
                mm.interrupt_current_processing(True)
                return
            time.sleep(0.05)

    presser = threading.Thread(target=press_cancel_when_phase_seen)
    presser.start()
    started = time.monotonic()
    with pytest.raises(mm.InterruptProcessingException):
        execute(
            nodes["FalInfiniTalkImageToVideo"],
            image=image(),
            audio=audio(),
            prompt="talk",
            num_frames=41,
            resolution="480p",
            acceleration="regular",
            seed=3,
        )
    presser.join()
    assert time.monotonic() - started < 20
    assert fal_env.count("cancel") == 1
    assert any(t.startswith("Cancelled") for _, t in server.texts)
    (entry,) = Journal().entries()
    assert entry.state == "cancelled"


def test_fetch_result_node_recovers_for_free(comfy, fal_env):
    nodes, _, _ = comfy
    out = execute(
        nodes["FalInfiniTalkImageToVideo"],
        image=image(),
        audio=audio(),
        prompt="talk",
        num_frames=41,
        resolution="480p",
        acceleration="regular",
        seed=5,
    )
    request_id = out.args[6]
    fal_env.clear_log()
    fetched = execute(
        nodes["FalAvatarFetchResult"],
        "8",
        prompt_linking_frames("8"),
        request_id=request_id,
        endpoint="fal-ai/infinitalk",
    )
    assert fetched.args[6] == request_id and tuple(fetched.args[1].shape)[0] == 41
    assert fal_env.count("submit") == 0


@pytest.mark.full_size_output  # asserts the model's real output size
@pytest.mark.parametrize("node", ["FalInfiniTalkImageToVideo", "FalAvatarFetchResult"])
def test_a_stored_result_that_no_longer_decodes_is_downloaded_again(comfy, fal_env, node):
    """The stored copy passes the cheap check on reuse but its frames do not decode: the node downloads it
    again from fal (free) and outputs the frames, instead of failing."""
    nodes, server, _ = comfy
    widgets = {"prompt": "talk", "num_frames": 41, "resolution": "480p", "acceleration": "regular", "seed": 4}
    first = execute(nodes["FalInfiniTalkImageToVideo"], image=image(), audio=audio(), **widgets)
    request_id = first.args[6]
    scramble_frames(Journal().get(request_id).local_path)
    fal_env.clear_log()
    if node == "FalAvatarFetchResult":
        out = execute(
            nodes[node], "8", prompt_linking_frames("8"), request_id=request_id, endpoint="fal-ai/infinitalk"
        )
    else:
        out = execute(nodes[node], "8", prompt_linking_frames("8"), image=image(), audio=audio(), **widgets)
    assert out.args[6] == request_id and tuple(out.args[1].shape) == (41, 448, 896, 3)
    assert fal_env.count("submit") == 0 and fal_env.count("file_get") == 1
    assert any("stored copy is damaged" in t for node_id, t in server.texts if node_id == "8")


def test_fetch_result_node_by_id_unknown_to_the_journal(comfy, fal_env, monkeypatch, tmp_path):
    nodes, _, _ = comfy
    out = execute(
        nodes["FalInfiniTalkImageToVideo"],
        image=image(),
        audio=audio(),
        prompt="talk",
        num_frames=41,
        resolution="480p",
        acceleration="regular",
        seed=6,
    )
    monkeypatch.setenv("FAL_AVATAR_HOME", str(tmp_path / "other-machine"))  # a journal that never saw it
    fal_env.clear_log()
    fetched = execute(
        nodes["FalAvatarFetchResult"], "8", request_id=out.args[6], endpoint="fal-ai/infinitalk"
    )
    assert fetched.args[4] == 41 and fal_env.count("submit") == 0 and fal_env.count("result") == 1
    assert np.isclose(fetched.args[3], 25.0)


def test_two_identical_nodes_are_two_generations_and_a_rerun_is_free(comfy, fal_env):
    nodes, _, _ = comfy
    node_inputs = {"image": ["1", 0], "audio": ["2", 0], "prompt": "talk", "num_frames": 41}
    graph = {
        "5": {"class_type": "FalInfiniTalkImageToVideo", "inputs": node_inputs},
        "6": {"class_type": "FalInfiniTalkImageToVideo", "inputs": dict(node_inputs)},
    }
    widgets = {"prompt": "talk", "num_frames": 41, "resolution": "480p", "acceleration": "regular", "seed": 9}
    first = {
        nid: execute(nodes["FalInfiniTalkImageToVideo"], nid, graph, image=image(), audio=audio(), **widgets)
        for nid in ("5", "6")
    }
    assert fal_env.count("submit") == 2
    assert first["5"].args[6] != first["6"].args[6]
    fal_env.clear_log()
    again = {
        nid: execute(nodes["FalInfiniTalkImageToVideo"], nid, graph, image=image(), audio=audio(), **widgets)
        for nid in ("5", "6")
    }
    assert fal_env.count("submit") == 0
    assert {n: o.args[6] for n, o in again.items()} == {n: o.args[6] for n, o in first.items()}


def _dub(nodes, video, seed=1):
    return execute(
        nodes["FalInfiniTalkVideoToVideo"],
        audio=audio(2.0),
        video=video,
        prompt="talk",
        num_frames=0,
        resolution="480p",
        acceleration="regular",
        seed=seed,
    )


def test_a_video_made_of_tensors_and_a_trimmed_file_give_stable_keys(comfy, fal_env, tmp_path):
    """The same VIDEO queued again is free, whether it is tensors (VideoFromComponents: its frames and rate
    are the key, nothing is re-encoded to compute it) or a trimmed file (the file plus its trim window)."""
    from fractions import Fraction

    api = importlib.import_module("comfy_api.latest")
    nodes, _, _ = comfy
    frames = torch.rand(60, 64, 96, 3)
    made = api.InputImpl.VideoFromComponents(
        api.Types.VideoComponents(images=frames, frame_rate=Fraction(30))
    )
    first = _dub(nodes, made)
    again = _dub(
        nodes,
        api.InputImpl.VideoFromComponents(
            api.Types.VideoComponents(images=frames.clone(), frame_rate=Fraction(30))
        ),
    )
    assert again.args[6] == first.args[6] and fal_env.count("submit") == 1

    clip = Path(__file__).resolve().parent.parent / "nodes" / "assets" / "sample_video.mp4"
    trimmed = api.InputImpl.VideoFromFile(str(clip), start_time=0.4, duration=2.0)
    cut = _dub(nodes, trimmed)
    (job,) = [j for j in fal_env.jobs.values() if j.request_id == cut.args[6]]
    assert job.arguments["num_frames"] <= 49  # the 2.0 s trim window, not the whole clip
    assert (
        _dub(nodes, api.InputImpl.VideoFromFile(str(clip), start_time=0.4, duration=2.0)).args[6]
        == cut.args[6]
    )
    assert fal_env.count("submit") == 2


def test_a_tensor_videos_rate_times_its_upload_and_never_becomes_a_fal_field(comfy, fal_env):
    """A lip-sync row on footage has no 'fps' field: a VIDEO made of tensors at 24 fps is uploaded as a
    24 fps video, and fal's arguments hold the row's own fields only."""
    from fractions import Fraction

    api = importlib.import_module("comfy_api.latest")
    nodes, _, _ = comfy
    video = api.InputImpl.VideoFromComponents(
        api.Types.VideoComponents(images=torch.rand(48, 64, 96, 3), frame_rate=Fraction(24))
    )
    execute(nodes["FalSyncLipsyncV2"], video=video, audio=audio(2.0), model="lipsync-2", sync_mode="cut_off")

    (job,) = fal_env.jobs.values()
    assert set(job.arguments) == {"video_url", "audio_url", "model", "sync_mode"}, job.arguments
    path = job.arguments["video_url"][len(fal_env.base_url) :]
    with av.open(io.BytesIO(fal_env.files[path].data)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 24 and stream.frames == 48


# -- several generation nodes of one prompt (ComfyUI runs them concurrently; see comfy_double/execution.py) --

SEEDS = (1, 2, 3, 4)


def four_nodes(nodes) -> dict:
    """Node id -> coroutine factory: one image+audio generation per seed, as ComfyUI would call them."""
    cls, img, aud = nodes["FalInfiniTalkImageToVideo"], image(), audio()
    widgets = {"prompt": "talk", "num_frames": 41, "resolution": "480p", "acceleration": "regular"}

    def node(seed):
        return lambda: cls.with_hidden(unique_id=str(10 + seed), prompt={}).execute(
            image=img, audio=aud, seed=seed, **widgets
        )

    return {str(10 + seed): node(seed) for seed in SEEDS}


def when(condition, action) -> threading.Thread:
    """Call ``action`` (once) as soon as ``condition()`` holds; gives up after 60 s (the test then fails)."""

    def watch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if condition():
                action()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def shows(server, node_id: str, prefix: str) -> bool:
    return any(n == node_id and t.startswith(prefix) for n, t in list(server.texts))


def generating(fal_env, server, seeds=SEEDS) -> bool:
    jobs = {job.arguments["seed"]: job for job in fal_env.jobs.values()}
    return set(seeds) <= set(jobs) and all(
        jobs[s].state == "IN_PROGRESS" and shows(server, str(10 + s), "Generating") for s in seeds
    )


def no_claim_held() -> bool:
    claims = Claims()
    return all(claims.holder(entry.request_key) is None for entry in Journal().entries())


def test_a_failed_node_leaves_its_siblings_jobs_running_and_the_rerun_pays_once(comfy, fal_env):
    """One node's fal job fails while three others generate: the executor stops and cancels the three
    node tasks (not the user's Cancel). Their fal jobs run on, stay journaled, and the next run takes them."""
    nodes, server, _ = comfy
    execution = importlib.import_module("execution")
    fail_now, hold = threading.Event(), threading.Event()
    fal_env.inject_job("runner_error", match={"seed": 2}, release=fail_now)
    fal_env.inject_job("slow", times=3, release=hold)
    trigger = when(lambda: generating(fal_env, server), fail_now.set)
    outcome = execution.run_prompt(four_nodes(nodes))
    trigger.join()

    assert isinstance(outcome["12"], FalServerError) and "Runner disconnected" in str(outcome["12"])
    assert [outcome[n] for n in ("11", "13", "14")] == [execution.CANCELLED] * 3
    assert fal_env.count("cancel") == 0
    assert not any(job.cancelled for job in fal_env.jobs.values())
    assert sorted(e.state for e in Journal().entries()) == ["failed"] + ["submitted"] * 3
    assert no_claim_held()  # else the next identical run in this process would wait for it forever
    assert all(shows(server, n, "Stopped") for n in ("11", "13", "14"))

    hold.set()
    again = execution.run_prompt(four_nodes(nodes))
    assert all(out.args[6] for out in again.values())
    assert fal_env.count("submit") == 5  # only the failed one was submitted again
    assert sorted(e.state for e in Journal().entries()) == ["downloaded"] * 4 + ["failed"]


def test_cancel_cancels_every_job_of_the_prompt(comfy, fal_env):
    """Cancel while four nodes generate: all four fal jobs are cancelled and journaled so. fal answers three
    of the cancels late, so the first node to stop would let the executor shut the prompt down while the
    three others are still cancelling."""
    nodes, server, mm = comfy
    execution = importlib.import_module("execution")
    fal_env.inject_job("slow", times=4, release=threading.Event())  # generating until cancelled
    fal_env.inject("cancel", "hang", times=3, seconds=1.0)  # each takes effect at once, answered 1 s later
    trigger = when(lambda: generating(fal_env, server), mm.interrupt_current_processing)
    outcome = execution.run_prompt(four_nodes(nodes))
    trigger.join()

    assert any(isinstance(out, mm.InterruptProcessingException) for out in outcome.values())
    assert fal_env.count("cancel") == 4 and all(job.cancelled for job in fal_env.jobs.values())
    assert sorted(e.state for e in Journal().entries()) == ["cancelled"] * 4
    assert no_claim_held()
    assert all(shows(server, str(10 + s), "Cancelled") for s in SEEDS)


def test_cancel_reaches_every_job_while_another_node_reports_progress(comfy, fal_env):
    """Cancel while one node downloads (its progress bar is where ComfyUI raises, and clears, the interrupt
    flag) and three generate: the three fal jobs are cancelled too."""
    nodes, server, mm = comfy
    execution = importlib.import_module("execution")
    fal_env.inject_job("slow", match={"seed": 1}, release=threading.Event())
    fal_env.inject_job("slow", match={"seed": 2}, release=threading.Event())
    fal_env.inject_job("slow", match={"seed": 3}, release=threading.Event())
    fal_env.inject("file_get", "slow", times=20, bytes_per_s=20_000)  # seed 4 downloads its result slowly

    def downloading() -> bool:
        return generating(fal_env, server, (1, 2, 3)) and any(
            n == "14" and t.startswith("Downloading") and "KB" in t for n, t in list(server.texts)
        )

    trigger = when(downloading, mm.interrupt_current_processing)
    outcome = execution.run_prompt(four_nodes(nodes))
    trigger.join()

    assert any(isinstance(out, mm.InterruptProcessingException) for out in outcome.values())
    held = [job for job in fal_env.jobs.values() if job.arguments["seed"] != 4]
    assert fal_env.count("cancel") == 3 and all(job.cancelled for job in held)
    assert sorted(e.state for e in Journal().entries()) == ["cancelled"] * 3 + ["completed"]
    assert no_claim_held()
