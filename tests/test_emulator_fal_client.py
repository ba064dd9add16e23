"""The referee: fal's official Python client (fal-client 1.0.3, unmodified except its base-URL module
constants) against the emulator. If fal_client is happy, the emulator speaks fal's protocol as fal's own
client expects."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable

import _http
import av
import fal_client
import fal_client.client as fal_module
import pytest

from comfyui_fal_avatar.nodes.emulator import FalEmulator
from comfyui_fal_avatar.nodes.emulator.samples import data_uri, sample_mp4, sample_png, sample_wav

KEY = "referee-id:referee-secret"


@pytest.fixture
def emu(monkeypatch):
    with FalEmulator(KEY, processing_time=0.4, queue_delay=0.15) as emulator:
        base = emulator.base_url
        monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", base + "/")
        monkeypatch.setattr(fal_module, "RUN_URL_FORMAT", base + "/")
        monkeypatch.setattr(fal_module, "REST_URL", base)
        monkeypatch.setattr(fal_module, "CDN_URL", base)
        yield emulator


@pytest.fixture
def client(emu):
    return fal_client.SyncClient(key=KEY)


def _probe(url: str) -> dict:
    data = _http.get(url).content  # plain GET, no auth needed
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "frames": frames,
            "fps": video.average_rate,
            "size": (video.width, video.height),
            "audio": len(container.streams.audio) == 1,
            "codec": video.codec_context.name,
        }


def _watch(emu: FalEmulator) -> tuple[list, Callable[[object], None]]:
    """The next job's events as the client reports them, and the ``on_queue_update`` that collects them. The
    job waits in the queue until the client has seen it queued, and runs until it has seen it running: the
    client polls every 0.1 s, and under load its first poll can come after the queue delay, or a poll gap
    can outlast the job's run (then a state is never seen, though the emulator sent it)."""
    seen = {fal_client.Queued: threading.Event(), fal_client.InProgress: threading.Event()}
    emu.inject_job("slow", start=seen[fal_client.Queued], release=seen[fal_client.InProgress])
    events: list = []

    def on_queue_update(event: object) -> None:
        events.append(event)
        if type(event) in seen:
            seen[type(event)].set()

    return events, on_queue_update


def _subscribe(client, emu: FalEmulator, endpoint: str, arguments: dict) -> tuple[dict, list]:
    events, on_queue_update = _watch(emu)
    result = client.subscribe(endpoint, arguments, with_logs=True, on_queue_update=on_queue_update)
    return result, events


def _check_events(events: list) -> None:
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "Queued" and kinds[-1] == "Completed" and "InProgress" in kinds
    assert kinds.count("Completed") == 1
    logs = [e.logs for e in events if isinstance(e, fal_client.InProgress)] + [events[-1].logs]
    for earlier, later in zip(logs, logs[1:], strict=False):  # polling returns cumulative logs
        assert later[: len(earlier)] == earlier
    assert [entry["message"] for entry in events[-1].logs][-1].startswith("Generating frames ")
    assert events[-1].error is None and events[-1].metrics["inference_time"] > 0


def test_subscribe_infinitalk_with_uploaded_image(client, emu, tmp_path):
    image = tmp_path / "face.png"
    image.write_bytes(sample_png(800, 450))
    image_url = client.upload_file(image)
    assert image_url.startswith(emu.base_url + "/files/")
    result, events = _subscribe(
        client,
        emu,
        "fal-ai/infinitalk",
        {
            "image_url": image_url,
            "audio_url": data_uri(sample_wav(1.2), "audio/wav"),
            "prompt": "talking",
            "num_frames": 41,
        },
    )
    _check_events(events)
    assert result["seed"] == 42
    assert result["video"]["content_type"] == "video/mp4" and result["video"]["file_size"] > 0
    assert _probe(result["video"]["url"]) == {
        "frames": 41,
        "fps": 25,
        "size": (896, 448),
        "audio": True,
        "codec": "h264",
    }


def test_subscribe_single_text(client, emu):
    result, events = _subscribe(
        client,
        emu,
        "fal-ai/infinitalk/single-text",
        {
            "image_url": data_uri(sample_png(360, 640), "image/png"),
            "text_input": "Hello there, how are you?",
            "voice": "Sarah",
            "prompt": "a person talking",
            "num_frames": 45,
            "seed": 7,
        },
    )
    _check_events(events)
    assert result["seed"] == 7
    assert _probe(result["video"]["url"]) == {
        "frames": 45,
        "fps": 25,
        "size": (448, 832),
        "audio": True,
        "codec": "h264",
    }


def test_subscribe_video_to_video_and_status_by_sub_path_id(client, emu):
    video_url = client.upload(sample_mp4(320, 320, 12), "video/mp4", file_name="source.mp4")
    audio_url = client.upload(sample_wav(1.0), "audio/wav")
    result, events = _subscribe(
        client,
        emu,
        "fal-ai/infinitalk/video-to-video",
        {
            "video_url": video_url,
            "audio_url": audio_url,
            "prompt": "dub",
            "num_frames": 41,
            "resolution": "720p",
        },
    )
    _check_events(events)
    assert _probe(result["video"]["url"]) == {
        "frames": 41,
        "fps": 25,
        "size": (960, 960),
        "audio": True,
        "codec": "h264",
    }

    handle = client.submit(
        "fal-ai/infinitalk/video-to-video",
        {"video_url": video_url, "audio_url": audio_url, "prompt": "again", "num_frames": 41},
    )
    assert "/video-to-video" not in handle.status_url
    status = client.status("fal-ai/infinitalk/video-to-video", handle.request_id, with_logs=True)
    assert isinstance(status, (fal_client.Queued, fal_client.InProgress))
    assert client.result("fal-ai/infinitalk/video-to-video", handle.request_id)["video"]["url"]
    done = client.status("fal-ai/infinitalk/video-to-video", handle.request_id)
    assert isinstance(done, fal_client.Completed) and done.logs is None


def test_subscribe_stable_avatar(client, emu):
    result, events = _subscribe(
        client,
        emu,
        "fal-ai/stable-avatar",
        {
            "image_url": data_uri(sample_png(300, 300), "image/png"),
            "audio_url": data_uri(sample_wav(2.0), "audio/wav"),
            "prompt": "a person talking",
        },
    )
    _check_events(events)
    assert set(result) == {"video"}  # StableAvatar's output has no seed
    # 2.0 s of audio → 50 frames → next 4n+1 = 53
    assert _probe(result["video"]["url"]) == {
        "frames": 53,
        "fps": 25,
        "size": (512, 512),
        "audio": True,
        "codec": "h264",
    }


def test_subscribe_omnihuman_at_its_own_fps_with_duration_and_no_seed(client, emu, tmp_path):
    """A catalogue row (issue 14): OmniHuman 1.5 at 720p, 24 fps (the emulator's choice; fal's is unstated),
    its length set by the audio and ``duration`` in the output instead of a seed."""
    image = tmp_path / "face.png"
    image.write_bytes(sample_png(720, 1280))
    result, events = _subscribe(
        client,
        emu,
        "fal-ai/bytedance/omnihuman/v1.5",
        {
            "image_url": client.upload_file(image),
            "audio_url": data_uri(sample_wav(1.5), "audio/wav"),
            "prompt": "talking",
            "resolution": "720p",
        },
    )
    _check_events(events)
    assert set(result) == {"video", "duration"} and result["duration"] == 1.5
    assert _probe(result["video"]["url"]) == {
        "frames": 36,
        "fps": 24,
        "size": (720, 1280),
        "audio": True,
        "codec": "h264",
    }


def test_strict_fabric_refuses_an_extra_field_with_a_422(client):
    arguments = {
        "image_url": data_uri(sample_png(64, 64), "image/png"),
        "audio_url": data_uri(sample_wav(1), "audio/wav"),
        "resolution": "480p",
        "seed": 42,
    }
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        client.subscribe("veed/fabric-1.0", arguments)
    assert caught.value.status_code == 422
    assert caught.value.message == [
        {
            "type": "extra_forbidden",
            "loc": ["body", "seed"],
            "msg": "Extra inputs are not permitted",
            "input": 42,
        }
    ]
    del arguments["seed"]
    assert set(client.subscribe("veed/fabric-1.0", arguments)) == {"video"}


def test_validation_error_surfaces_as_http_error_with_list_detail(client):
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        client.subscribe("fal-ai/infinitalk", {"image_url": "x", "audio_url": "y", "num_frames": 10})
    error = caught.value
    assert error.status_code == 422 and isinstance(error.message, list)
    by_field = {item["loc"][1]: item for item in error.message}
    assert by_field["prompt"]["type"] == "missing"
    assert by_field["num_frames"]["type"] == "greater_than_equal" and by_field["num_frames"]["ctx"] == {
        "ge": 41
    }


def test_undecodable_input_is_a_422_on_the_field(client):
    image_url = client.upload(b"not an image", "image/png", file_name="broken.png")
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        client.subscribe(
            "fal-ai/infinitalk",
            {
                "image_url": image_url,
                "audio_url": data_uri(sample_wav(1), "audio/wav"),
                "prompt": "p",
                "num_frames": 41,
            },
        )
    assert caught.value.status_code == 422
    assert [item["loc"] for item in caught.value.message] == [["body", "image_url"]]


def _wait_for(handle, kind, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = handle.status(with_logs=True)
        if isinstance(status, kind):
            return status
        time.sleep(0.05)
    raise AssertionError(f"request never reached {kind.__name__}")


def test_cancel_while_queued(client, emu):
    emu.inject_job("stuck_queue")
    handle = client.submit("fal-ai/infinitalk", {"image_url": "x", "audio_url": "y", "prompt": "p"})
    assert isinstance(handle.status(), fal_client.Queued)
    client.cancel("fal-ai/infinitalk", handle.request_id)
    status = handle.status(with_logs=True)
    assert isinstance(status, fal_client.Completed)
    assert (status.error, status.error_type) == ("Request cancelled by the client.", "client_cancelled")
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        handle.get()
    assert caught.value.status_code == 499 and caught.value.error_type == "client_cancelled"


def test_cancel_while_running_then_already_completed(client, emu):
    emu.inject_job("slow", processing_time=30)
    handle = client.submit(
        "fal-ai/infinitalk",
        {
            "image_url": data_uri(sample_png(64, 64), "image/png"),
            "audio_url": data_uri(sample_wav(1), "audio/wav"),
            "prompt": "p",
            "num_frames": 41,
        },
    )
    _wait_for(handle, fal_client.InProgress)
    handle.cancel()
    status = _wait_for(handle, fal_client.Completed)
    assert status.error_type == "client_cancelled"
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        handle.cancel()
    assert caught.value.status_code == 400 and "ALREADY_COMPLETED" in caught.value.message


def test_runner_error_sets_completed_error_and_result_status(client, emu):
    emu.inject_job("runner_error")
    handle = client.submit(
        "fal-ai/infinitalk",
        {
            "image_url": data_uri(sample_png(64, 64), "image/png"),
            "audio_url": data_uri(sample_wav(1), "audio/wav"),
            "prompt": "p",
            "num_frames": 41,
        },
    )
    status = _wait_for(handle, fal_client.Completed)
    assert (status.error, status.error_type) == ("Runner disconnected", "runner_disconnected")
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        handle.get()
    assert caught.value.status_code == 503 and caught.value.error_type == "runner_disconnected"


def test_client_retries_ingress_errors_but_not_app_500(client, emu):
    emu.inject("submit", "ingress_503", times=2)
    handle = client.submit("fal-ai/infinitalk", {"image_url": "x", "audio_url": "y", "prompt": "p"})
    assert emu.routes()[:3] == ["submit", "submit", "submit"] and handle.request_id in emu.jobs
    emu.inject("status", "http_500")
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        handle.status()
    assert caught.value.status_code == 500


def test_multipart_upload_file_over_100_mib(client, emu, tmp_path):
    path = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for index in range(101):
            chunk = block[index:] + block[:index]  # every MiB differs, so misordered parts change the hash
            handle.write(chunk)
            digest.update(chunk)
        handle.write(b"tail")
        digest.update(b"tail")
    url = client.upload_file(path)
    assert emu.count("multipart_create") == 1 and emu.count("multipart_complete") == 1
    assert emu.count("multipart_part") == 11
    data = _http.get(url, timeout=60).content
    assert len(data) == path.stat().st_size and hashlib.sha256(data).hexdigest() == digest.hexdigest()


def test_upload_fallback_to_storage_initiate(client, emu):
    emu.inject("cdn_upload", "http_500")
    url = client.upload(b"hello fallback", "text/plain", file_name="hello.txt")
    assert emu.routes()[-3:] == ["cdn_upload", "storage_initiate", "signed_put"]
    put = emu.requests[-1]
    assert put.headers["authorization"] == f"Key {KEY}"  # fal-client sends the key to the signed URL; ignored
    response = _http.get(url)
    assert response.content == b"hello fallback" and response.headers["content-type"] == "text/plain"


def test_async_client_subscribe_upload_and_cancel(emu):
    async def scenario() -> None:
        client = fal_client.AsyncClient(key=KEY)
        image_url = await client.upload(sample_png(640, 640), "image/png", "face.png")
        events, on_queue_update = _watch(emu)
        result = await client.subscribe(
            "fal-ai/infinitalk",
            {
                "image_url": image_url,
                "audio_url": data_uri(sample_wav(1), "audio/wav"),
                "prompt": "p",
                "num_frames": 41,
            },
            with_logs=True,
            on_queue_update=on_queue_update,
        )
        _check_events(events)
        assert _probe(result["video"]["url"])["size"] == (640, 640)
        emu.inject_job("stuck_queue")
        handle = await client.submit(
            "fal-ai/stable-avatar", {"image_url": image_url, "audio_url": "a", "prompt": "p"}
        )
        await client.cancel("fal-ai/stable-avatar", handle.request_id)
        status = await handle.status()
        assert isinstance(status, fal_client.Completed) and status.error_type == "client_cancelled"

    asyncio.run(scenario())
