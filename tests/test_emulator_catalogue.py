"""The emulator serves every talking-avatar row as fal does: fal's schema (compared with the vendored extracts
of fal's documents in tests/data/fal_schemas, so a drift shows), strict 422s, each row's length rule, fps,
size and output fields, fal's length limits, the OpenAPI document per row, the request history and fal's model
catalogue (GET /v1/models)."""

from __future__ import annotations

import base64
import io
import json
import math
import time
from fractions import Fraction
from pathlib import Path

import _http
import av
import httpx
import pytest

from comfyui_fal_avatar.nodes.emulator import FalEmulator
from comfyui_fal_avatar.nodes.emulator.fal_schemas import build_schemas
from comfyui_fal_avatar.nodes.emulator.inputs import SAMPLE_RATE
from comfyui_fal_avatar.nodes.emulator.models import BY_ID, MODELS
from comfyui_fal_avatar.nodes.emulator.openapi import schema_name
from comfyui_fal_avatar.nodes.emulator.samples import data_uri, sample_mp4, sample_png, sample_wav
from comfyui_fal_avatar.nodes.emulator.schemas import ValidationFailed
from comfyui_fal_avatar.nodes.emulator.speech import synthesize

KEY = "kid:ksecret"
AUTH = {"Authorization": f"Key {KEY}"}
DATA = Path(__file__).parent / "data" / "fal_schemas"
EXTRACTS = {
    json.loads(p.read_text())["endpoint_id"]: json.loads(p.read_text()) for p in sorted(DATA.glob("*.json"))
}
SCHEMAS = build_schemas()
KINDS = {
    "string": "str",
    "enum": "literal",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "json": "object",
}
IMAGE = data_uri(sample_png(640, 360), "image/png")  # landscape 16:9
SECOND = data_uri(sample_wav(1.0), "audio/wav")


# --- the schemas against fal's documents --------------------------------------------------------------------


def test_every_row_is_emulated_and_vendored():
    assert set(SCHEMAS) == set(BY_ID) == set(EXTRACTS)
    assert len(EXTRACTS) == 21


@pytest.mark.parametrize("endpoint", sorted(EXTRACTS))
def test_schema_matches_fals_document(endpoint):
    """Every field of the vendored extract: type, enum, bounds, default and required flag; strictness."""
    extract, schema = EXTRACTS[endpoint], SCHEMAS[endpoint]
    ours = {f.name: f for f in schema.fields}
    fal = {f["name"]: f for f in extract["input"]["fields"]}
    assert list(ours) == list(fal)
    assert [f.name for f in schema.fields if f.required] == extract["input"]["required"]
    assert schema.strict == (extract["input"]["additionalProperties"] is False)
    for name, field in fal.items():
        mine = ours[name]
        assert mine.kind == KINDS[field["type"]], name
        assert mine.choices == tuple(field["enum"] or ()), name
        assert (mine.ge, mine.le) == (field["min"], field["max"]), name
        if field["default"] is not None:
            assert mine.default == field["default"], name
        assert (mine.min_length, mine.max_length) == (field.get("minLength"), field.get("maxLength")), name


@pytest.mark.parametrize("endpoint", sorted(EXTRACTS))
def test_openapi_document_matches_fals_fields_and_outputs(endpoint):
    extract = EXTRACTS[endpoint]
    with FalEmulator(KEY) as emu:
        response = _http.get(
            f"{emu.base_url}/api/openapi/queue/openapi.json", params={"endpoint_id": endpoint}
        )
    assert response.status_code == 200
    document = response.json()
    name = schema_name(endpoint)
    components = document["components"]["schemas"]
    request, result = components[f"{name}Input"], components[f"{name}Output"]
    metadata = document["info"]["x-fal-metadata"]
    assert (metadata["endpointId"], metadata["category"]) == (endpoint, extract["category"])
    assert list(request["properties"]) == [f["name"] for f in extract["input"]["fields"]]
    assert request["required"] == extract["input"]["required"]
    assert (request.get("additionalProperties") is False) == (
        extract["input"]["additionalProperties"] is False
    )
    assert set(result["properties"]) == set(extract["output"]["properties"])
    assert set(result["required"]) == set(extract["output"]["required"])
    video_type = extract["output"]["types"]["video"]["type"]
    assert result["properties"]["video"]["allOf"] == [{"$ref": f"#/components/schemas/{video_type}"}]
    assert set(components[video_type]["properties"]) >= {"url", "content_type", "file_name", "file_size"}


def _errors(endpoint: str, body) -> list[dict]:
    with pytest.raises(ValidationFailed) as caught:
        SCHEMAS[endpoint].validate(body)
    return caught.value.items


@pytest.mark.parametrize("endpoint", ["veed/fabric-1.0", "veed/fabric-1.0/fast", "veed/fabric-1.0/text"])
def test_fabric_is_strict_and_its_resolution_has_no_default(endpoint):
    media = {"text": "Hello."} if endpoint.endswith("/text") else {"audio_url": "a"}
    items = _errors(endpoint, {"image_url": "i", **media, "seed": 7, "prompt": "smile"})
    assert items == [
        {
            "type": "missing",
            "loc": ["body", "resolution"],
            "msg": "Field required",
            "input": {"image_url": "i", **media, "seed": 7, "prompt": "smile"},
        },
        {
            "type": "extra_forbidden",
            "loc": ["body", "seed"],
            "msg": "Extra inputs are not permitted",
            "input": 7,
        },
        {
            "type": "extra_forbidden",
            "loc": ["body", "prompt"],
            "msg": "Extra inputs are not permitted",
            "input": "smile",
        },
    ]
    assert (
        SCHEMAS[endpoint].validate({"image_url": "i", **media, "resolution": "480p"})["resolution"] == "480p"
    )


def test_lax_rows_ignore_unknown_fields():
    args = SCHEMAS["fal-ai/kling-video/ai-avatar/v2/standard"].validate(
        {"image_url": "i", "audio_url": "a", "x": 1}
    )
    assert args == {"image_url": "i", "audio_url": "a", "prompt": "."}


def test_fabric_text_length_is_1_to_2000_characters():
    base = {"image_url": "i", "resolution": "720p"}
    (short,) = _errors("veed/fabric-1.0/text", {**base, "text": ""})
    (long,) = _errors("veed/fabric-1.0/text", {**base, "text": "a" * 2001})
    assert short == {
        "type": "string_too_short",
        "loc": ["body", "text"],
        "msg": "String should have at least 1 character",
        "input": "",
        "ctx": {"min_length": 1},
    }
    assert (long["type"], long["msg"], long["ctx"]) == (
        "string_too_long",
        "String should have at most 2000 characters",
        {"max_length": 2000},
    )


def test_booleans_enums_and_nested_options_are_checked_like_pydantic():
    omni = SCHEMAS["fal-ai/bytedance/omnihuman/v1.5"]
    assert omni.validate({"image_url": "i", "audio_url": "a", "turbo_mode": "yes"})["turbo_mode"] is True
    assert omni.validate({"image_url": "i", "audio_url": "a"})["resolution"] == "1080p"
    (item,) = _errors(
        "fal-ai/bytedance/omnihuman/v1.5", {"image_url": "i", "audio_url": "a", "turbo_mode": "fast"}
    )
    assert (item["type"], item["loc"]) == ("bool_parsing", ["body", "turbo_mode"])
    (react,) = _errors("fal-ai/sync-lipsync/react-1", {"video_url": "v", "audio_url": "a"})
    assert (react["type"], react["loc"]) == ("missing", ["body", "emotion"])
    (nested,) = _errors(
        "fal-ai/sync-lipsync/v3", {"video_url": "v", "audio_url": "a", "options": {"sync_mode": "stretch"}}
    )
    assert (nested["type"], nested["loc"]) == ("literal_error", ["body", "options", "sync_mode"])
    (options,) = _errors("fal-ai/sync-lipsync/v3", {"video_url": "v", "audio_url": "a", "options": "loop"})
    assert (options["type"], options["loc"]) == ("model_attributes_type", ["body", "options"])


# --- the rendered rows --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu():
    with FalEmulator(KEY, processing_time=0.0) as emulator:
        yield emulator


def _run(emu, endpoint: str, arguments: dict) -> httpx.Response:
    with _http.client(base_url=emu.base_url, headers=AUTH, timeout=60) as http:
        submitted = http.post(f"/{endpoint}", json=arguments).json()
        for _ in range(3000):
            if http.get(submitted["status_url"]).json()["status"] == "COMPLETED":
                return http.get(submitted["response_url"])
            time.sleep(0.02)
    raise AssertionError("job did not complete")


def _probe(url: str) -> tuple[int, tuple[int, int], Fraction, float]:
    """Decoded frames, size, frame rate and audio seconds of an output video."""
    with av.open(io.BytesIO(_http.get(url).content)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        frames = sum(1 for _ in container.decode(video=0))
        return (
            frames,
            (video.width, video.height),
            Fraction(video.average_rate),
            float(audio.duration * audio.time_base),
        )


def _wav(seconds: float) -> str:
    return data_uri(sample_wav(seconds), "audio/wav")


def _footage(seconds: float, fps: int = 30) -> str:
    return data_uri(sample_mp4(320, 240, round(seconds * fps), fps), "video/mp4")


# endpoint -> (arguments, fps, (w, h), frames, output fields beside "video"); audio of 1 s unless said.
ROWS = {
    "fal-ai/infinitalk": (
        {"image_url": IMAGE, "audio_url": _wav(1), "prompt": "p", "num_frames": 41},
        25,
        (896, 448),
        41,
        {"seed"},
    ),
    "fal-ai/bytedance/omnihuman/v1.5": (
        {"image_url": IMAGE, "audio_url": _wav(1), "resolution": "720p"},
        24,
        (1280, 720),
        24,
        {"duration"},
    ),
    "fal-ai/kling-video/ai-avatar/v2/standard": (
        {"image_url": IMAGE, "audio_url": _wav(1)},
        30,
        (1280, 720),
        30,
        {"duration"},
    ),
    "fal-ai/kling-video/ai-avatar/v2/pro": (
        {"image_url": IMAGE, "audio_url": _wav(0.5)},
        48,
        (1920, 1080),
        24,
        {"duration"},
    ),
    "veed/fabric-1.0": (
        {"image_url": IMAGE, "audio_url": _wav(1), "resolution": "480p"},
        Fraction(30000, 1001),
        (864, 480),
        30,
        set(),
    ),
    "veed/fabric-1.0/fast": (
        {"image_url": IMAGE, "audio_url": _wav(1), "resolution": "720p"},
        Fraction(30000, 1001),
        (1312, 736),
        30,
        set(),
    ),
    "fal-ai/creatify/aurora": (
        {"image_url": IMAGE, "audio_url": _wav(1), "resolution": "480p"},
        Fraction(24000, 1001),
        (848, 480),
        24,
        set(),
    ),
    "fal-ai/sync-lipsync/v3/image-to-video": (
        {"image_url": IMAGE, "audio_url": _wav(1)},
        25,
        (640, 360),
        25,
        set(),
    ),
    "fal-ai/longcat-single-avatar/image-audio-to-video": (
        {"image_url": IMAGE, "audio_url": _wav(1), "seed": 9},
        16,
        (896, 448),
        16,
        {"seed"},
    ),
    "fal-ai/flashtalk": (
        {"image_url": IMAGE, "audio_url": _wav(1)},
        25,
        (512, 512),
        25,
        {"duration", "timings", "seed"},
    ),
    "fal-ai/infinitalk/single-text": (
        {"image_url": IMAGE, "text_input": "Hi.", "voice": "Bill", "prompt": "p", "num_frames": 41},
        25,
        (896, 448),
        41,
        {"seed"},
    ),
    "fal-ai/ai-avatar/single-text": (
        {"image_url": IMAGE, "text_input": "Hi.", "voice": "Lily", "prompt": "p", "num_frames": 45},
        25,
        (896, 448),
        45,
        {"seed"},
    ),
    "veed/fabric-1.0/text": (
        {"image_url": IMAGE, "text": "Hello there.", "resolution": "480p"},
        Fraction(30000, 1001),
        (864, 480),
        None,
        set(),
    ),
    "fal-ai/ai-avatar/multi": (
        {
            "image_url": IMAGE,
            "first_audio_url": _wav(1),
            "second_audio_url": SECOND,
            "prompt": "p",
            "num_frames": 41,
        },
        25,
        (896, 448),
        41,
        {"seed"},
    ),
    "fal-ai/ai-avatar/multi-text": (
        {
            "image_url": IMAGE,
            "first_text_input": "Hi.",
            "second_text_input": "Hello.",
            "prompt": "p",
            "num_frames": 41,
        },
        25,
        (896, 448),
        41,
        {"seed"},
    ),
    "fal-ai/infinitalk/video-to-video": (
        {"video_url": _footage(1), "audio_url": _wav(1), "prompt": "p", "num_frames": 41},
        25,
        (640, 640),
        41,
        {"seed"},
    ),
    "fal-ai/sync-lipsync/v2": ({"video_url": _footage(1), "audio_url": _wav(2)}, 30, (320, 240), 30, set()),
    "fal-ai/sync-lipsync/v3": ({"video_url": _footage(1), "audio_url": _wav(0.5)}, 30, (320, 240), 15, set()),
    "fal-ai/sync-lipsync/react-1": (
        {"video_url": _footage(1, 24), "audio_url": _wav(2), "emotion": "sad"},
        24,
        (320, 240),
        48,
        set(),
    ),
    "veed/lipsync/v2": ({"video_url": _footage(1), "audio_url": _wav(0.5)}, 30, (320, 240), 15, set()),
    "fal-ai/stable-avatar": (
        {"image_url": IMAGE, "audio_url": _wav(1), "prompt": "p"},
        25,
        (832, 480),
        41,
        set(),
    ),
}


def test_every_row_is_rendered_here():
    assert set(ROWS) == {model.endpoint_id for model in MODELS}


@pytest.mark.parametrize("endpoint", sorted(ROWS))
def test_row_renders_at_its_own_fps_size_and_length_with_its_output_fields(emu, endpoint):
    arguments, fps, size, frames, extras = ROWS[endpoint]
    response = _run(emu, endpoint, arguments)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"video", *extras}
    if frames is None:  # the spoken text sets the length
        frames = math.ceil(len(synthesize(arguments["text"], "Aria")) / SAMPLE_RATE * fps - 1e-6)
    got_frames, got_size, got_fps, audio_s = _probe(body["video"]["url"])
    assert (got_frames, got_size, got_fps) == (frames, size, Fraction(fps))
    assert abs(audio_s - frames / fps) < 0.1  # the sound track spans the video
    if "duration" in extras:
        assert body["duration"] == pytest.approx(frames / fps, abs=1e-3)
    if "seed" in extras:
        assert isinstance(body["seed"], int) and body["seed"] == arguments.get("seed", body["seed"])


def test_aurora_and_react_return_a_video_file_with_fps_and_size(emu):
    for endpoint in ("fal-ai/creatify/aurora", "fal-ai/sync-lipsync/react-1"):
        arguments, fps, (width, height), frames, _ = ROWS[endpoint]
        video = _run(emu, endpoint, arguments).json()["video"]
        assert (video["fps"], video["width"], video["height"], video["num_frames"]) == (
            float(fps),
            width,
            height,
            frames,
        )
        assert video["duration"] == pytest.approx(frames / fps, abs=1e-3)


def test_aurora_bills_whole_seconds(emu):
    response = _run(emu, "fal-ai/creatify/aurora", ROWS["fal-ai/creatify/aurora"][0])
    assert response.headers["x-fal-billable-units"] == "2"  # 24 frames at 23.976 fps = 1.001 s, rounded up


def test_longcat_segments_cap_the_output_at_the_shorter_of_audio_and_segments(emu):
    common = {"image_url": IMAGE, "audio_url": _wav(8)}
    one = _run(emu, "fal-ai/longcat-single-avatar/image-audio-to-video", common).json()
    two = _run(emu, "fal-ai/longcat-single-avatar/image-audio-to-video", {**common, "num_segments": 2}).json()
    assert _probe(one["video"]["url"])[0] == math.ceil(5.8 * 16)  # the first segment: ~5.8 s
    assert _probe(two["video"]["url"])[0] == 8 * 16  # 10.8 s of segments, 8 s of audio


@pytest.mark.parametrize(
    ("mode", "frames"), [("cut_off", 30), ("loop", 60), ("bounce", 60), ("silence", 30), ("remap", 60)]
)
def test_footage_length_follows_the_sync_mode(emu, mode, frames):
    """1 s of 30 fps footage against 2 s of audio; ``options.sync_mode`` overrides the top-level field."""
    arguments = {
        "video_url": _footage(1),
        "audio_url": _wav(2),
        "sync_mode": "cut_off",
        "options": {"sync_mode": mode},
    }
    body = _run(emu, "fal-ai/sync-lipsync/v3", arguments).json()
    assert _probe(body["video"]["url"])[:3] == (frames, (320, 240), Fraction(30))


def test_two_speakers_or_only_the_first(emu):
    quiet = data_uri(sample_wav(3.0), "audio/wav")
    both = _run(
        emu,
        "fal-ai/ai-avatar/multi",
        {
            "image_url": IMAGE,
            "first_audio_url": _wav(1),
            "second_audio_url": quiet,
            "prompt": "p",
            "num_frames": 41,
        },
    )
    first = _run(
        emu,
        "fal-ai/ai-avatar/multi",
        {
            "image_url": IMAGE,
            "first_audio_url": _wav(1),
            "second_audio_url": "https://example.invalid/never-fetched.wav",
            "use_only_first_audio": True,
            "prompt": "p",
            "num_frames": 41,
        },
    )
    assert both.status_code == first.status_code == 200


def test_omnihuman_refuses_audio_over_its_limit_at_1080p(emu):
    response = _run(emu, "fal-ai/bytedance/omnihuman/v1.5", {"image_url": IMAGE, "audio_url": _wav(30.5)})
    assert response.status_code == 422 and response.headers["x-fal-billable-units"] == "0"
    (item,) = response.json()["detail"]
    assert (item["type"], item["loc"]) == ("audio_duration_too_long", ["body", "audio_url"])
    assert "under 30s long for 1080p" in item["msg"]
    (limit,) = BY_ID["fal-ai/bytedance/omnihuman/v1.5"].limits
    assert (limit.seconds_for("1080p"), limit.seconds_for("720p")) == (30.0, 60.0)


def test_react_refuses_video_or_audio_over_15_seconds(emu):
    response = _run(
        emu,
        "fal-ai/sync-lipsync/react-1",
        {"video_url": _footage(16, 10), "audio_url": _wav(16), "emotion": "happy"},
    )
    assert response.status_code == 422
    assert [(i["type"], i["loc"]) for i in response.json()["detail"]] == [
        ("video_duration_too_long", ["body", "video_url"]),
        ("audio_duration_too_long", ["body", "audio_url"]),
    ]


def test_new_rows_are_in_the_request_history(emu):
    arguments = ROWS["veed/fabric-1.0"][0]
    response = _run(emu, "veed/fabric-1.0", arguments)
    with _http.client(base_url=emu.base_url, headers=AUTH) as http:
        page = http.get(
            "/v1/models/requests/by-endpoint", params={"endpoint_id": "veed/fabric-1.0", "expand": "payloads"}
        ).json()
    item = next(i for i in page["items"] if i["json_output"] == response.json())
    assert item["json_input"] == arguments and item["status_code"] == 200


# --- fal's model catalogue (Platform API GET /v1/models) ----------------------------------------------------


def _models(emu, params, headers=None) -> httpx.Response:
    return _http.get(f"{emu.base_url}/v1/models", params=params, headers=headers)


def test_find_mode_lists_live_rows_active_and_leaves_stable_avatar_out(emu):
    ids = ["fal-ai/bytedance/omnihuman/v1.5", "veed/fabric-1.0", "fal-ai/stable-avatar"]
    body = _models(emu, [("endpoint_id", i) for i in ids]).json()
    assert [m["endpoint_id"] for m in body["models"]] == [
        "fal-ai/bytedance/omnihuman/v1.5",
        "veed/fabric-1.0",
    ]
    assert (body["next_cursor"], body["has_more"]) == (None, False)
    metadata = body["models"][1]["metadata"]
    assert set(metadata) == {
        "display_name",
        "category",
        "description",
        "status",
        "tags",
        "updated_at",
        "is_favorited",
        "thumbnail_url",
        "model_url",
        "date",
        "highlighted",
        "pinned",
    }
    assert (metadata["status"], metadata["category"]) == ("active", "image-to-video")
    assert _models(emu, {"endpoint_id": "fal-ai/stable-avatar"}).json()["models"] == []


def test_list_mode_pages_through_every_live_row(emu):
    seen, cursor = [], None
    for _ in range(10):
        body = _models(emu, {"limit": 6, **({"cursor": cursor} if cursor else {})}).json()
        seen += [m["endpoint_id"] for m in body["models"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert base64.b64decode(_models(emu, {"limit": 6}).json()["next_cursor"]) == b"2"
    assert seen == sorted(m.endpoint_id for m in MODELS if m.endpoint_id != "fal-ai/stable-avatar")


def test_catalogue_status_can_be_set_for_tests():
    with FalEmulator(KEY) as emu:
        emu.set_catalogue_status("fal-ai/flashtalk", "deprecated")
        emu.set_catalogue_status("fal-ai/stable-avatar", "active")
        emu.set_catalogue_status("veed/lipsync/v2", "absent")
        found = {
            m["endpoint_id"]: m["metadata"]["status"]
            for m in _models(
                emu,
                [
                    ("endpoint_id", "fal-ai/flashtalk"),
                    ("endpoint_id", "fal-ai/stable-avatar"),
                    ("endpoint_id", "veed/lipsync/v2"),
                ],
            ).json()["models"]
        }
        assert found == {"fal-ai/flashtalk": "deprecated", "fal-ai/stable-avatar": "active"}
        active = [m["endpoint_id"] for m in _models(emu, {"status": "active", "limit": 100}).json()["models"]]
        assert "fal-ai/flashtalk" not in active and "fal-ai/stable-avatar" in active
        with pytest.raises(ValueError, match="status must be one of"):
            emu.set_catalogue_status("fal-ai/flashtalk", "gone")


def test_search_filters_expansion_auth_and_bad_queries(emu):
    lipsync = _models(emu, {"category": "video-to-video", "q": "sync"}).json()["models"]
    assert {m["endpoint_id"] for m in lipsync} == {
        "fal-ai/sync-lipsync/v2",
        "fal-ai/sync-lipsync/v3",
        "fal-ai/sync-lipsync/react-1",
        "veed/lipsync/v2",
    }
    expanded = _models(emu, {"endpoint_id": "veed/fabric-1.0", "expand": "openapi-3.0"}).json()["models"][0]
    assert expanded["openapi"] == emu.openapi_document("veed/fabric-1.0")
    assert _models(emu, {"endpoint_id": "veed/fabric-1.0"}, AUTH).status_code == 200
    assert _models(emu, {"endpoint_id": "veed/fabric-1.0"}, {"Authorization": "Key no:pe"}).status_code == 401
    too_many = _models(emu, [("endpoint_id", f"x/{n}") for n in range(51)])
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["query", "endpoint_id"]
    bad = _models(emu, {"status": "retired"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "status"]
    assert emu.routes()[-1] == "models"
