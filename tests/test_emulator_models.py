"""The emulated models: fal's input schemas (pydantic-v2-shaped 422s), input fetching/decoding, output sizes
and lengths, a mouth that follows the audio, and the offline speech synthesizer."""

from __future__ import annotations

import io
import time

import _http
import av
import httpx
import numpy as np
import pytest

from comfyui_fal_avatar.nodes.emulator import FalEmulator, render
from comfyui_fal_avatar.nodes.emulator.fal_schemas import VOICES, build_schemas
from comfyui_fal_avatar.nodes.emulator.inputs import SAMPLE_RATE
from comfyui_fal_avatar.nodes.emulator.models import INFINITALK_BUCKETS
from comfyui_fal_avatar.nodes.emulator.samples import data_uri, sample_mp4, sample_png, sample_wav
from comfyui_fal_avatar.nodes.emulator.schemas import ValidationFailed
from comfyui_fal_avatar.nodes.emulator.speech import synthesize, voice_pitch

KEY = "kid:ksecret"
AUTH = {"Authorization": f"Key {KEY}"}
SCHEMAS = build_schemas()


def _errors(endpoint: str, body) -> dict[str, dict]:
    with pytest.raises(ValidationFailed) as caught:
        SCHEMAS[endpoint].validate(body)
    return {item["loc"][-1]: item for item in caught.value.items}


# --- schemas ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "required"),
    [
        ("fal-ai/infinitalk", {"image_url", "audio_url", "prompt"}),
        ("fal-ai/infinitalk/single-text", {"image_url", "text_input", "voice", "prompt"}),
        ("fal-ai/infinitalk/video-to-video", {"video_url", "audio_url", "prompt"}),
        ("fal-ai/stable-avatar", {"image_url", "audio_url", "prompt"}),
    ],
)
def test_missing_required_fields(endpoint, required):
    body = {"unrelated": 1}
    errors = _errors(endpoint, body)
    assert set(errors) == required
    for name, item in errors.items():
        assert item == {"type": "missing", "loc": ["body", name], "msg": "Field required", "input": body}


def test_infinitalk_defaults_and_lax_coercion():
    args = SCHEMAS["fal-ai/infinitalk"].validate(
        {"image_url": "i", "audio_url": "a", "prompt": "p", "extra": True}
    )
    assert args == {
        "image_url": "i",
        "audio_url": "a",
        "prompt": "p",
        "num_frames": 145,
        "resolution": "480p",
        "seed": 42,
        "acceleration": "regular",
    }
    coerced = SCHEMAS["fal-ai/infinitalk"].validate(
        {"image_url": "i", "audio_url": "a", "prompt": "p", "num_frames": "81", "seed": 7.0}
    )
    assert (coerced["num_frames"], coerced["seed"]) == (81, 7)
    randomized = SCHEMAS["fal-ai/infinitalk"].validate(
        {"image_url": "i", "audio_url": "a", "prompt": "p", "seed": None}
    )
    assert isinstance(randomized["seed"], int)


def test_wrong_types_use_pydantic_error_types():
    body = {
        "image_url": 5,
        "audio_url": "a",
        "prompt": "p",
        "num_frames": "many",
        "resolution": "1080p",
        "seed": 1.5,
        "acceleration": "max",
    }
    errors = _errors("fal-ai/infinitalk", body)
    assert errors["image_url"] == {
        "type": "string_type",
        "loc": ["body", "image_url"],
        "msg": "Input should be a valid string",
        "input": 5,
    }
    assert errors["num_frames"]["type"] == "int_parsing" and errors["num_frames"]["input"] == "many"
    assert errors["seed"]["type"] == "int_from_float"
    assert errors["resolution"] == {
        "type": "literal_error",
        "loc": ["body", "resolution"],
        "msg": "Input should be '480p' or '720p'",
        "input": "1080p",
        "ctx": {"expected": "'480p' or '720p'"},
    }
    assert errors["acceleration"]["ctx"] == {"expected": "'none', 'regular' or 'high'"}
    assert (
        _errors("fal-ai/infinitalk", {"image_url": "i", "audio_url": "a", "prompt": "p", "num_frames": None})[
            "num_frames"
        ]["type"]
        == "int_type"
    )


@pytest.mark.parametrize(
    ("frames", "error"), [(40, ("greater_than_equal", {"ge": 41})), (722, ("less_than_equal", {"le": 721}))]
)
def test_num_frames_bounds(frames, error):
    item = _errors(
        "fal-ai/infinitalk/single-text",
        {"image_url": "i", "text_input": "t", "voice": "Aria", "prompt": "p", "num_frames": frames},
    )["num_frames"]
    assert (item["type"], item["ctx"]) == error and item["input"] == frames
    assert item["msg"].startswith("Input should be ")


def test_voice_enum_lists_all_twenty_voices():
    item = _errors(
        "fal-ai/infinitalk/single-text", {"image_url": "i", "text_input": "t", "voice": "Bob", "prompt": "p"}
    )["voice"]
    assert item["type"] == "literal_error" and len(VOICES) == 20
    assert item["ctx"]["expected"].startswith("'Aria', 'Roger'") and item["ctx"]["expected"].endswith(
        " or 'Bill'"
    )


def test_video_to_video_num_frames_is_41_to_241():
    """fal's InfinitalkVideoToVideoInput: min 41, max 241, default 145 (not the image endpoints' 721)."""
    body = {"video_url": "v", "audio_url": "a", "prompt": "p"}
    v2v = SCHEMAS["fal-ai/infinitalk/video-to-video"]
    assert v2v.validate(body)["num_frames"] == 145
    assert [v2v.validate({**body, "num_frames": n})["num_frames"] for n in (41, 241)] == [41, 241]
    assert _errors("fal-ai/infinitalk/video-to-video", {**body, "num_frames": 40})["num_frames"]["ctx"] == {
        "ge": 41
    }
    for frames in (242, 721):
        item = _errors("fal-ai/infinitalk/video-to-video", {**body, "num_frames": frames})["num_frames"]
        assert (item["type"], item["ctx"]) == ("less_than_equal", {"le": 241})


def test_stable_avatar_schema():
    args = SCHEMAS["fal-ai/stable-avatar"].validate({"image_url": "i", "audio_url": "a", "prompt": "p"})
    assert args == {
        "image_url": "i",
        "audio_url": "a",
        "prompt": "p",
        "aspect_ratio": "auto",
        "guidance_scale": 5.0,
        "audio_guidance_scale": 4.0,
        "num_inference_steps": 50,
        "seed": None,
        "perturbation": 0.1,
    }
    errors = _errors(
        "fal-ai/stable-avatar",
        {
            "image_url": "i",
            "audio_url": "a",
            "prompt": "p",
            "perturbation": 1.5,
            "guidance_scale": "high",
            "aspect_ratio": "4:3",
        },
    )
    assert errors["perturbation"]["type"] == "less_than_equal" and errors["perturbation"]["ctx"] == {"le": 1}
    assert errors["guidance_scale"]["type"] == "float_parsing"
    assert errors["aspect_ratio"]["ctx"] == {"expected": "'16:9', '1:1', '9:16' or 'auto'"}


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("guidance_scale", 1, 10),
        ("audio_guidance_scale", 0, 10),
        ("num_inference_steps", 10, 50),
        ("perturbation", 0, 1),
    ],
)
def test_stable_avatar_bounds(field, low, high):
    """fal's StableAvatarInput bounds (inclusive); outside them fal answers 422."""
    body = {"image_url": "i", "audio_url": "a", "prompt": "p"}
    schema = SCHEMAS["fal-ai/stable-avatar"]
    assert [schema.validate({**body, field: v})[field] for v in (low, high)] == [low, high]
    below = _errors("fal-ai/stable-avatar", {**body, field: low - 1})[field]
    above = _errors("fal-ai/stable-avatar", {**body, field: high + 1})[field]
    assert (below["type"], below["ctx"]) == ("greater_than_equal", {"ge": low})
    assert (above["type"], above["ctx"]) == ("less_than_equal", {"le": high})


def test_body_must_be_an_object():
    with pytest.raises(ValidationFailed) as caught:
        SCHEMAS["fal-ai/infinitalk"].validate([1, 2])
    assert caught.value.items[0]["type"] == "model_attributes_type" and caught.value.items[0]["loc"] == [
        "body"
    ]


# --- render helpers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "resolution", "bucket"),
    [
        ((500, 500), "480p", (640, 640)),
        ((1920, 1080), "480p", (896, 448)),
        ((1080, 1920), "480p", (448, 832)),
        ((1000, 900), "720p", (960, 960)),
        ((1920, 1080), "720p", (1280, 704)),
        ((720, 1280), "720p", (704, 1280)),
    ],
)
def test_infinitalk_buckets(size, resolution, bucket):
    assert render.nearest_bucket(*size, INFINITALK_BUCKETS[resolution]) == bucket


@pytest.mark.parametrize(
    ("seconds", "frames"), [(0.1, 41), (1.64, 41), (1.7, 45), (2.0, 53), (10.0, 253), (400, 7501)]
)
def test_stable_avatar_frames_follow_the_audio(seconds, frames):
    assert render.frames_for_audio(seconds) == frames and (frames - 1) % 4 == 0


def test_mouth_opens_with_the_audio():
    silent_then_loud = np.concatenate(
        [np.zeros(SAMPLE_RATE), 0.5 * np.sin(np.arange(SAMPLE_RATE) * 0.07)]
    ).astype(np.float32)
    background = np.full((256, 256, 3), 200, np.uint8)
    data = render.render_mp4([background], silent_then_loud, 41)
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 41
    mouth = (slice(150, 200), slice(100, 156))
    dark = [int((frame[mouth].mean(axis=2) < 80).sum()) for frame in frames]
    assert max(dark[:20]) < min(dark[30:])  # closed (a thin line) while silent, open while loud
    assert dark[35] > 5 * max(dark[:20], default=1)


# --- speech -------------------------------------------------------------------------------------------------


def test_speech_is_deterministic_speech_like_and_voice_dependent():
    text = "Hello there, this is a small test."
    sarah, roger = synthesize(text, "Sarah"), synthesize(text, "Roger")
    assert abs(len(sarah) / SAMPLE_RATE - len(text) / 14) < 0.1
    assert np.array_equal(sarah, synthesize(text, "Sarah"))
    envelope = np.sqrt(np.mean(sarah[: len(sarah) // 640 * 640].reshape(-1, 640) ** 2, axis=1))
    assert envelope.max() > 0.1 and (envelope < 0.01).sum() >= 3  # bursts with pauses between words
    assert voice_pitch("Sarah") > 1.5 * voice_pitch("Roger")

    def dominant(samples):
        spectrum = np.abs(np.fft.rfft(samples))
        return np.argmax(spectrum) * SAMPLE_RATE / len(samples)

    assert dominant(sarah) > dominant(roger)


# --- the apps over HTTP -------------------------------------------------------------------------------------


@pytest.fixture
def emu():
    with FalEmulator(KEY, processing_time=0.0) as emulator:
        yield emulator


def _run(emu, endpoint: str, arguments: dict) -> httpx.Response:
    with _http.client(base_url=emu.base_url, headers=AUTH, timeout=20) as http:
        submitted = http.post(f"/{endpoint}", json=arguments).json()
        for _ in range(600):
            if http.get(submitted["status_url"]).json()["status"] == "COMPLETED":
                return http.get(submitted["response_url"])
            time.sleep(0.02)
    raise AssertionError("job did not complete")


def _probe(url: str) -> tuple[int, tuple[int, int], float, float]:
    with av.open(io.BytesIO(_http.get(url).content)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        frames = sum(1 for _ in container.decode(video=0))
        return (
            frames,
            (video.width, video.height),
            float(video.average_rate),
            float(audio.duration * audio.time_base),
        )


def test_infinitalk_720p_portrait_with_audio_trimmed(emu):
    result = _run(
        emu,
        "fal-ai/infinitalk",
        {
            "image_url": data_uri(sample_png(720, 1280), "image/png"),
            "audio_url": data_uri(sample_wav(4.0), "audio/wav"),
            "prompt": "p",
            "num_frames": 49,
            "resolution": "720p",
            "seed": 3,
        },
    )
    body = result.json()
    assert result.status_code == 200 and body["seed"] == 3
    frames, size, fps, audio_s = _probe(body["video"]["url"])
    assert (frames, size, fps) == (49, (704, 1280), 25.0)
    assert abs(audio_s - 49 / 25) < 0.1
    assert body["video"]["file_name"] == body["video"]["url"].rsplit("/", 1)[1]


def test_a_shrunk_output_changes_only_the_pixel_size():
    """``max_output_side`` (the test fixtures' cheap renders) keeps the model's frames, fps and sound."""
    arguments = {
        "image_url": data_uri(sample_png(720, 1280), "image/png"),
        "audio_url": data_uri(sample_wav(4.0), "audio/wav"),
        "prompt": "p",
        "num_frames": 49,
        "resolution": "720p",
        "seed": 3,
    }
    with FalEmulator(KEY, processing_time=0.0, max_output_side=256) as small:
        body = _run(small, "fal-ai/infinitalk", arguments).json()
        frames, size, fps, audio_s = _probe(body["video"]["url"])
    assert (frames, size, fps) == (49, (140, 256), 25.0)  # 704x1280 scaled by 0.2, sides even
    assert abs(audio_s - 49 / 25) < 0.1 and body["seed"] == 3


def test_stable_avatar_aspect_ratio(emu):
    common = {"audio_url": data_uri(sample_wav(1.0), "audio/wav"), "prompt": "p"}
    landscape = data_uri(sample_png(640, 360), "image/png")
    auto = _run(emu, "fal-ai/stable-avatar", {**common, "image_url": landscape}).json()
    forced = _run(
        emu, "fal-ai/stable-avatar", {**common, "image_url": landscape, "aspect_ratio": "9:16", "seed": 5}
    ).json()
    assert _probe(auto["video"]["url"])[:2] == (41, (832, 480))
    assert _probe(forced["video"]["url"])[:2] == (41, (480, 832)) and "seed" not in forced


def test_single_text_audio_covers_the_video(emu):
    result = _run(
        emu,
        "fal-ai/infinitalk/single-text",
        {
            "image_url": data_uri(sample_png(100, 100), "image/png"),
            "text_input": "One two three four five six seven.",
            "voice": "Brian",
            "prompt": "p",
            "num_frames": 41,
        },
    ).json()
    frames, size, _, audio_s = _probe(result["video"]["url"])
    assert (frames, size) == (41, (640, 640)) and abs(audio_s - 41 / 25) < 0.1


def test_video_to_video_uses_the_source_aspect_and_frames(emu):
    result = _run(
        emu,
        "fal-ai/infinitalk/video-to-video",
        {
            "video_url": data_uri(sample_mp4(640, 360, 8), "video/mp4"),
            "audio_url": data_uri(sample_wav(1.0), "audio/wav"),
            "prompt": "p",
            "num_frames": 41,
        },
    ).json()
    assert _probe(result["video"]["url"])[:2] == (41, (896, 448))


def test_inputs_from_another_loopback_server(emu):
    with FalEmulator("other:key") as other, _http.client(base_url=other.base_url) as http:
        token = http.post("/storage/auth/token", headers={"Authorization": "Key other:key"}).json()["token"]
        image_url = http.post(
            "/files/upload",
            content=sample_png(64, 64),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
        ).json()["access_url"]
        result = _run(
            emu,
            "fal-ai/infinitalk",
            {
                "image_url": image_url,
                "audio_url": data_uri(sample_wav(1), "audio/wav"),
                "prompt": "p",
                "num_frames": 41,
            },
        )
        assert result.status_code == 200 and other.count("file_get") == 1


def test_unreachable_and_undecodable_inputs_are_422s_on_their_fields(emu):
    result = _run(
        emu,
        "fal-ai/infinitalk",
        {
            "image_url": "https://example.invalid/face.png",
            "audio_url": f"{emu.base_url}/files/nope/missing.wav",
            "prompt": "p",
        },
    )
    assert result.status_code == 422 and result.headers["x-fal-billable-units"] == "0"
    items = {item["loc"][1]: item for item in result.json()["detail"]}
    assert items["image_url"]["type"] == items["audio_url"]["type"] == "file_download_error"
    assert items["image_url"]["input"] == "https://example.invalid/face.png"

    garbage = data_uri(b"garbage bytes", "application/octet-stream")
    for endpoint, field, arguments in (
        (
            "fal-ai/infinitalk",
            "audio_url",
            {"image_url": data_uri(sample_png(32, 32), "image/png"), "audio_url": garbage},
        ),
        (
            "fal-ai/stable-avatar",
            "image_url",
            {"image_url": garbage, "audio_url": data_uri(sample_wav(1), "audio/wav")},
        ),
        (
            "fal-ai/infinitalk/video-to-video",
            "video_url",
            {"video_url": garbage, "audio_url": data_uri(sample_wav(1), "audio/wav")},
        ),
    ):
        response = _run(emu, endpoint, {**arguments, "prompt": "p"})
        assert response.status_code == 422
        assert [item["loc"] for item in response.json()["detail"]] == [["body", field]]
        assert response.json()["detail"][0]["type"].endswith("_load_error")


def test_validation_failure_is_a_plain_completed_status_and_a_422_result(emu):
    with _http.client(base_url=emu.base_url, headers=AUTH) as http:
        submitted = http.post("/fal-ai/infinitalk", json={"prompt": 1}).json()
        for _ in range(200):
            status = http.get(submitted["status_url"], params={"logs": 1}).json()
            if status["status"] == "COMPLETED":
                break
            time.sleep(0.02)
        assert "error" not in status and status["logs"] == []  # no "Generating frames" for a rejected request
        detail = http.get(submitted["response_url"]).json()["detail"]
        assert {item["loc"][1] for item in detail} == {"image_url", "audio_url", "prompt"}
    job = emu.jobs[submitted["request_id"]]
    assert job.state == "COMPLETED" and job.output is None and job.error_type is None
