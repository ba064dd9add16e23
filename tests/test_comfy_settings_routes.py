"""The spend-limit and media-length routes in aiohttp (ComfyUI's web framework): the limit is read and
saved through the settings panel, the environment variable wins, only the page's own origin may change it;
a loader's file length is read from its headers, and only inside the folder it is given."""

from __future__ import annotations

import asyncio
import json
import stat
import wave
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from comfyui_fal_avatar.nodes.comfy import routes
from comfyui_fal_avatar.nodes.errors import SpendLimitError
from comfyui_fal_avatar.nodes.spend_guard import ENV, SETTINGS_FILE_NAME, check_spend, spend_limit


def call(steps, input_file=None):
    """Run ``steps(client)`` against an app with the pack's routes; returns its result."""

    async def go():
        table = web.RouteTableDef()
        routes.register(table, input_file=input_file)
        app = web.Application()
        app.add_routes(table)
        async with TestClient(TestServer(app)) as client:
            return await steps(client)

    return asyncio.run(go())


def same_origin(client) -> dict:
    return {"Origin": f"http://{client.host}:{client.port}"}


def post_limit(value, headers=None):
    async def steps(client):
        resp = await client.post(
            "/fal_avatar/settings", json={"max_usd_per_run": value}, headers=headers or same_origin(client)
        )
        return resp.status, await resp.json()

    return call(steps)


def get_settings() -> dict:
    async def steps(client):
        resp = await client.get("/fal_avatar/settings")
        assert resp.status == 200
        return await resp.json()

    return call(steps)


def test_the_limit_is_read_saved_and_used_by_the_spend_guard(isolated_env):
    base = {"env": ENV, "default_usd": 25.0}
    assert get_settings() == {"max_usd_per_run": 25.0, "source": "default", **base}
    assert post_limit(40) == (200, {"max_usd_per_run": 40.0, "source": "saved", **base})
    assert get_settings()["max_usd_per_run"] == 40.0
    settings_file = isolated_env / SETTINGS_FILE_NAME
    assert json.loads(settings_file.read_text()) == {"max_usd_per_run": 40.0}
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    # the runs see it without a restart
    assert spend_limit() == (40.0, "Settings → fal avatar")
    check_spend(39.99, what="3 segments")
    with pytest.raises(SpendLimitError, match=r"above the spend limit of ~\$40\.00"):
        check_spend(40.5, what="3 segments")
    # null: back to the default
    assert post_limit(None) == (200, {"max_usd_per_run": 25.0, "source": "default", **base})
    assert json.loads(settings_file.read_text()) == {}


def test_the_environment_variable_wins_and_the_answer_says_so(monkeypatch):
    monkeypatch.setenv(ENV, "10")
    assert get_settings()["max_usd_per_run"] == 10.0 and get_settings()["source"] == "env"
    status, body = post_limit(50)  # saved, but not in use while the variable is set
    assert status == 200 and (body["max_usd_per_run"], body["source"]) == (10.0, "env")
    monkeypatch.delenv(ENV)
    assert (get_settings()["max_usd_per_run"], get_settings()["source"]) == (50.0, "saved")
    monkeypatch.setenv(ENV, "lots")
    broken = get_settings()
    assert broken["max_usd_per_run"] is None and ENV in broken["error"] and "'lots'" in broken["error"]


def test_bad_values_and_foreign_origins_change_nothing(isolated_env):
    for value in (-1, "12", True, float("inf"), [5]):
        status, body = post_limit(value)
        assert status == 400 and "US dollars" in body["error"], (value, body)
        assert body["max_usd_per_run"] == 25.0

    async def steps(client):
        evil = await client.post(
            "/fal_avatar/settings", json={"max_usd_per_run": 999}, headers={"Origin": "http://evil.example"}
        )
        bare = await client.post("/fal_avatar/settings", json={"max_usd_per_run": 999})
        empty = await client.post("/fal_avatar/settings", data=b"not json", headers=same_origin(client))
        return evil.status, (await evil.json())["error"], bare.status, empty.status

    evil, message, bare, empty = call(steps)
    assert (evil, bare, empty) == (403, 403, 400) and "spend limit" in message
    assert get_settings()["source"] == "default" and not (isolated_env / SETTINGS_FILE_NAME).exists()


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * round(seconds * rate))
    return path


def test_media_length_reads_the_headers_of_a_file_in_the_input_folder(tmp_path):
    folder = tmp_path / "input"
    write_wav(folder / "speech_75s.wav", 75.0)
    write_wav(folder / "sub" / "short.wav", 2.5)
    (folder / "notes.txt").write_text("not media")
    (tmp_path / "secret.wav").write_bytes((folder / "sub" / "short.wav").read_bytes())
    sample_video = Path(routes.__file__).parents[1] / "assets" / "sample_video.mp4"
    (folder / "clip.mp4").write_bytes(sample_video.read_bytes())

    def input_file(name: str) -> Path | None:
        path = (folder / name).resolve()
        return path if path.is_relative_to(folder.resolve()) and path.is_file() else None

    async def steps(client):
        out = {}
        for name in (
            "speech_75s.wav",
            "sub/short.wav",
            "clip.mp4",
            "notes.txt",
            "../secret.wav",
            "",
            "gone.wav",
        ):
            resp = await client.get("/fal_avatar/media_length", params={"file": name})
            out[name] = (resp.status, await resp.json())
        return out

    got = call(steps, input_file=input_file)
    assert got["speech_75s.wav"] == (
        200,
        {"file": "speech_75s.wav", "audio_s": 75.0, "video_s": None, "video_frames": None},
    )
    assert got["sub/short.wav"][1]["audio_s"] == 2.5
    assert got["clip.mp4"] == (200, {"file": "clip.mp4", "audio_s": None, "video_s": 3.0, "video_frames": 75})
    assert got["notes.txt"][0] == 422 and got["notes.txt"][1]["error"].startswith(
        "notes.txt: could not be read"
    )
    for name in ("../secret.wav", "", "gone.wav"):
        assert got[name][0] == 404 and "input folder" in got[name][1]["error"]


def test_a_file_name_the_file_system_refuses_is_a_400_not_a_500(tmp_path):
    def input_file(name: str) -> Path | None:  # as ComfyUI's folder lookup does: resolve, then check
        path = (tmp_path / name).resolve()
        return path if path.is_file() else None

    async def steps(client):
        out = {}
        for name in ("a\x00.wav", "x" * 5000 + "/a.wav"):
            resp = await client.get("/fal_avatar/media_length", params={"file": name})
            out[name[:8]] = (resp.status, await resp.json())
        return out

    got = call(steps, input_file=input_file)
    assert got["a\x00.wav"] == (400, {"error": "a file name cannot contain a NUL byte"})
    assert got["x" * 8][0] in (400, 404)


def test_without_an_input_folder_there_is_no_media_length_route():
    async def steps(client):
        return (await client.get("/fal_avatar/media_length", params={"file": "a.wav"})).status

    assert call(steps) == 404
