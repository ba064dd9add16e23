"""`fal-avatar generate <endpoint>` for every row against the emulator: one submit, fal's fields only, the
model's own fps kept (never resampled to 25), and sound; bad input per row refused before any upload."""

from __future__ import annotations

import argparse
import asyncio
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.cli.generate import add_arguments, build_request, run_request, summary
from comfyui_fal_avatar.nodes.emulator.models import BY_ID
from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.longform.fetch import fetch_run
from comfyui_fal_avatar.nodes.media import probe_video
from comfyui_fal_avatar.nodes.services import build_services

ASSETS = Path(__file__).resolve().parent.parent / "nodes" / "assets"
IMAGE, SPEECH, VIDEO = (
    ASSETS / "sample_portrait.png",
    ASSETS / "sample_speech.wav",
    ASSETS / "sample_video.mp4",
)
ROWS = ep.GENERATION_ENDPOINTS  # StableAvatar too: delisted from the catalogue, still run


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def _mask(tmp_path: Path) -> Path:
    path = tmp_path / "mask.png"
    pixels = np.zeros((64, 64), np.uint8)
    pixels[:, :32] = 255  # the left person speaks
    Image.fromarray(pixels, "L").save(path)
    return path


def args_for(spec, tmp_path: Path) -> list:
    """The shortest command line that runs ``spec`` as one job."""
    argv: list = [spec.endpoint_id]
    for slot in spec.media:
        if slot.name == "image":
            argv += ["--image", IMAGE]
        elif slot.name in ("audio", "audio2"):
            argv += [f"--{slot.name}", SPEECH]
        elif slot.name == "video":
            argv += ["--video", VIDEO]
        elif slot.name == "mask":
            argv += ["--mask", _mask(tmp_path)]
    if spec.role_param("text") is not None:
        argv += ["--text", "Hello there, how are you today?"]
    if spec.role_param("text2") is not None:
        argv += ["--text2", "Fine, thanks."]
    for p in spec.params:
        if p.choice_required:  # a required choice: the CLI must name it
            option = "--resolution" if p.name == "resolution" else "--voice" if p.name == "voice" else None
            argv += [option, p.options[-1]] if option else ["--param", f"{p.name}={p.options[0]}"]
    return argv


def _fields(spec) -> set[str]:
    """Every top-level field the row may send to fal."""
    return (
        {p.field.split(".")[0] for p in spec.params if p.fal}
        | {s.fal_field for s in spec.media if s.fal_field}
        | ({"num_segments"} if spec.segments else set())
    )


def _submitted(emulator) -> list[dict]:
    return [json.loads(r.body) for r in emulator.requests if r.route == "submit"]


@pytest.mark.parametrize("spec", ROWS, ids=lambda s: s.endpoint_id)
def test_generate_runs_every_row_once_with_fal_fields_its_fps_and_sound(spec, fal_env, tmp_path):
    request = build_request(parse(*args_for(spec, tmp_path)))
    _, outputs = asyncio.run(run_request(request, want_audio=True))
    bodies = _submitted(fal_env)
    assert len(bodies) == 1, f"{spec.endpoint_id}: {len(bodies)} submits"
    sent = set(bodies[0])
    assert sent <= _fields(spec), f"{spec.endpoint_id} sent {sent - _fields(spec)}"
    if spec.seed_param is None:
        assert "seed" not in sent
    model = BY_ID[spec.endpoint_id]
    expected_fps = model.fps if model.fps is not None else Fraction(25)  # footage rows keep the sample's 25
    assert outputs.fps == pytest.approx(float(expected_fps), abs=0.01), "the model's own fps, never resampled"
    assert outputs.info.has_audio and outputs.audio is not None


@pytest.mark.parametrize("spec", [s for s in ROWS if s.output_extras], ids=lambda s: s.endpoint_id)
def test_the_summary_shows_the_output_fields_the_row_declares_as_fal_returned_them(spec, fal_env, tmp_path):
    request = build_request(parse(*args_for(spec, tmp_path)))
    run, outputs = asyncio.run(run_request(request, want_audio=False))
    (extras,) = summary(run, outputs, tmp_path / "out.mp4", 0.0)["output_extras"]
    assert set(extras) == set(spec.output_extras)
    info = outputs.info
    if "duration" in extras:
        assert extras["duration"] == pytest.approx(info.duration_s, abs=0.05)
    if "timings" in extras:
        assert set(extras["timings"]) == {"inference"} and extras["timings"]["inference"] >= 0
    if "video.fps" in extras:
        assert extras["video.fps"] == pytest.approx(info.fps, abs=0.001)
        assert (extras["video.width"], extras["video.height"]) == (info.width, info.height)
        assert extras["video.num_frames"] == info.frame_count
        assert extras["video.duration"] == pytest.approx(info.duration_s, abs=0.05)
    fetched = asyncio.run(fetch_run(spec.endpoint_id, run.request_id, services=build_services()))
    assert fetched.extras == run.extras  # read again from the journaled result, at no charge


def test_rows_without_output_fields_show_none(fal_env, tmp_path):
    spec = ep.endpoint("veed/fabric-1.0")
    run, outputs = asyncio.run(run_request(build_request(parse(*args_for(spec, tmp_path)))))
    assert summary(run, outputs, tmp_path / "out.mp4", 0.0)["output_extras"] == [{}]


def test_the_mask_is_uploaded_as_omnihumans_mask_url(fal_env, tmp_path):
    request = build_request(parse(*args_for(ep.endpoint("fal-ai/bytedance/omnihuman/v1.5"), tmp_path)))
    assert (
        request.mask.shape == (1, 64, 64) and request.mask[0, 0, 0] == 1.0 and request.mask[0, 0, 63] == 0.0
    )
    asyncio.run(run_request(request))
    body = _submitted(fal_env)[0]
    assert body["mask_url"] and body["mask_url"] != body["image_url"]
    assert "seed" not in body and body["resolution"] == "1080p"


def _tone(path: Path, seconds: float, rate: int = 16000) -> Path:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.sin(np.arange(round(seconds * rate)) / 8) * 8000).astype("<i2").tobytes())
    return path


def test_two_speakers_audio_and_voices_reach_their_fal_fields(fal_env, tmp_path):
    second = _tone(tmp_path / "second.wav", 3.0)
    asyncio.run(run_request(build_request(parse(
        "fal-ai/ai-avatar/multi", "--image", IMAGE, "--audio", SPEECH, "--audio2", second))))  # fmt: skip
    asyncio.run(run_request(build_request(parse(
        "fal-ai/ai-avatar/multi-text", "--image", IMAGE, "--text", "Hi.", "--text2", "Hello.",
        "--voice", "Aria", "--voice2", "Bill"))))  # fmt: skip
    audio, text = _submitted(fal_env)
    assert (
        audio["first_audio_url"]
        and audio["second_audio_url"]
        and audio["first_audio_url"] != audio["second_audio_url"]
    )
    assert (text["first_text_input"], text["second_text_input"], text["voice1"], text["voice2"]) == (
        "Hi.", "Hello.", "Aria", "Bill")  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "field", "fragment"),
    [
        (
            ["veed/fabric-1.0", "--image", IMAGE, "--audio", SPEECH],
            "resolution",
            "veed/fabric-1.0 needs --resolution (one of 720p, 480p): fal has no default",
        ),
        (
            ["fal-ai/sync-lipsync/react-1", "--video", VIDEO, "--audio", SPEECH],
            "emotion",
            "needs --param emotion=… (one of happy, sad",
        ),
        (
            ["fal-ai/ai-avatar/single-text", "--image", IMAGE, "--text", "Hi."],
            "voice",
            "needs --voice (one of Aria",
        ),
        (
            ["veed/fabric-1.0", "--image", IMAGE, "--audio", SPEECH, "--resolution", "480p", "--seed", "3"],
            "--seed",
            "veed/fabric-1.0 takes no --seed",
        ),
        (
            [
                "veed/fabric-1.0",
                "--image",
                IMAGE,
                "--audio",
                SPEECH,
                "--resolution",
                "480p",
                "--param",
                "prompt=x",
            ],
            "prompt",
            "unknown field 'prompt'",
        ),
        (
            ["fal-ai/bytedance/omnihuman/v1.5", "--image", IMAGE, "--audio", SPEECH, "--resolution", "4k"],
            "resolution",
            "'4k' is not one of 720p, 1080p",
        ),
        (
            ["fal-ai/flashtalk", "--image", IMAGE, "--audio", SPEECH, "--text", "Hi."],
            "--text",
            "takes no --text",
        ),
        (
            ["fal-ai/ai-avatar/multi-text", "--image", IMAGE, "--text", "a" * 100, "--text2", "b" * 100],
            "text2",
            "one fal-ai/ai-avatar/multi-text job speaks at most 135",
        ),
        (
            ["veed/fabric-1.0/text", "--image", IMAGE, "--resolution", "480p", "--text", " "],
            "text",
            "is empty",
        ),
    ],  # fmt: skip
)
def test_bad_input_per_row_is_refused_before_any_upload(argv, field, fragment, fal_env):
    with pytest.raises(InputError) as info:
        request = build_request(parse(*argv))
        asyncio.run(run_request(request))
    assert info.value.field == field and fragment in str(info.value)
    assert fal_env.requests == [], "nothing uploaded or submitted"


def test_audio_too_short_for_kling_is_refused_before_any_upload(fal_env, tmp_path):
    short = _tone(tmp_path / "short.wav", 1.5)
    with pytest.raises(
        InputError, match=r"audio: is 1.50 s long; .*Kling Avatar v2 Standard.* needs at least 2 s"
    ):
        asyncio.run(run_request(build_request(parse(
            "fal-ai/kling-video/ai-avatar/v2/standard", "--image", IMAGE, "--audio", short))))  # fmt: skip
    assert fal_env.requests == []


def _speech_file(path: Path, seconds: float) -> tuple[Path, float]:
    import wave

    from _speech import talk

    voice = talk(seconds, seed=5)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(voice.rate)
        out.writeframes((np.clip(voice.samples[0], -1, 1) * 32767).astype("<i2").tobytes())
    return path, voice.duration_s


def test_a_long_run_keeps_the_models_fps_and_the_whole_sound(fal_env, tmp_path):
    """LongCat renders 16 fps: 55 s of speech is two jobs (about 51 s each at most), stitched at 16 fps."""
    wav, seconds = _speech_file(tmp_path / "long.wav", 55.0)
    spec_id = "fal-ai/longcat-single-avatar/image-audio-to-video"
    request = build_request(parse(spec_id, "--image", IMAGE, "--audio", wav))
    run, outputs = asyncio.run(run_request(request))
    bodies = _submitted(fal_env)
    assert len(bodies) == 2 and all(1 <= b["num_segments"] <= 10 for b in bodies)
    assert outputs.fps == pytest.approx(16.0) and outputs.info.has_audio
    assert outputs.info.duration_s == pytest.approx(seconds, abs=0.1)  # the whole sound, at the model's rate
    assert outputs.frame_count == pytest.approx(seconds * 16, abs=2)
    assert len(run.request_ids) == 2  # both segments named
    fetched = asyncio.run(fetch_run(spec_id, run.request_id, services=build_services()))
    again = probe_video(fetched.path)  # rebuilt from the two results at no charge, at the model's rate
    assert again.fps == pytest.approx(16.0) and again.frame_count == pytest.approx(seconds * 16, abs=2)
    assert len(_submitted(fal_env)) == 2


def test_batch_columns_for_the_second_speaker_and_the_mask(tmp_path):
    from comfyui_fal_avatar.nodes.cli.manifest import MediaLoader, read_manifest

    for name in ("face.png", "a.wav", "b.wav"):
        (tmp_path / name).write_bytes((IMAGE if name.endswith(".png") else SPEECH).read_bytes())
    _mask(tmp_path)
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "endpoint,image,audio,audio2,mask,text,text2,voice,voice2,resolution,out\n"
        "fal-ai/ai-avatar/multi,face.png,a.wav,b.wav,,,,,,,multi.mp4\n"
        "fal-ai/ai-avatar/multi-text,face.png,,,,Hi.,Hello.,Aria,Bill,,multi-text.mp4\n"
        "fal-ai/bytedance/omnihuman/v1.5,face.png,a.wav,,mask.png,,,,,720p,omni.mp4\n"
        "veed/fabric-1.0/text,face.png,,,,Hello.,,,,480p,fabric.mp4\n"
        "fal-ai/flashtalk,face.png,a.wav,,,,Hi.,,,,bad.mp4\n",
        encoding="utf-8",
    )
    rows, problems = read_manifest(manifest)
    assert [str(p) for p in problems] == [
        "line 6: text2: fal-ai/flashtalk does not take this (it takes image, audio, seed)"
    ]
    multi, text, omni, fabric = rows
    assert multi.audio2 == tmp_path / "b.wav" and omni.mask == tmp_path / "mask.png"
    assert text.values == {"text": "Hi.", "text2": "Hello.", "voice": "Aria", "voice2": "Bill"}
    assert fabric.values == {"text": "Hello.", "resolution": "480p"}
    loaded = omni.request(MediaLoader())
    assert loaded.mask.shape == (1, 64, 64) and loaded.values == {"resolution": "720p"}
    assert multi.request(MediaLoader()).audio2 is not None
