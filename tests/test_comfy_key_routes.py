"""The pack's HTTP routes in aiohttp (ComfyUI's web framework): the key goes in, never comes out, and
only the page's own origin may change it."""

from __future__ import annotations

import asyncio
import json
import stat

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from comfyui_fal_avatar.nodes.comfy import routes
from comfyui_fal_avatar.nodes.credentials import key_file_path, resolve_credentials

SECRET = "abc123-key-id:s3cr3t-value-xyz"


def call(steps):
    """Run ``steps(client)`` against an app with the pack's routes; returns its result."""

    async def go():
        table = web.RouteTableDef()
        routes.register(table)
        app = web.Application()
        app.add_routes(table)
        async with TestClient(TestServer(app)) as client:
            return await steps(client)

    return asyncio.run(go())


def same_origin(client) -> dict:
    return {"Origin": f"http://{client.host}:{client.port}"}


def test_save_status_and_forget_never_return_the_key():
    async def steps(client):
        before = await (await client.get("/fal_avatar/key")).json()
        saved = await client.post("/fal_avatar/key", json={"key": SECRET}, headers=same_origin(client))
        text = await saved.text()
        status = await (await client.get("/fal_avatar/key")).text()
        forgotten = await client.delete("/fal_avatar/key", headers=same_origin(client))
        return before, saved.status, text, status, await forgotten.json()

    before, code, text, status, forgotten = call(steps)
    assert before == {"configured": False, "source": None}
    assert code == 200 and json.loads(text) == {"configured": True, "source": "saved"}
    assert SECRET not in text and "s3cr3t" not in status
    assert forgotten == {"configured": False, "source": None}
    assert not key_file_path().exists()


def test_saved_key_is_private_and_used_without_restart():
    call(lambda c: c.post("/fal_avatar/key", json={"key": f"  {SECRET}\n"}, headers=same_origin(c)))
    assert stat.S_IMODE(key_file_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file_path().parent.stat().st_mode) == 0o700
    creds = resolve_credentials()
    assert creds.source == "saved" and creds.header_value() == f"Key {SECRET}"
    assert SECRET not in repr(creds) and SECRET not in str(creds)


def test_environment_key_wins(monkeypatch):
    call(lambda c: c.post("/fal_avatar/key", json={"key": SECRET}, headers=same_origin(c)))
    monkeypatch.setenv("FAL_KEY", "env-id:env-secret")
    assert resolve_credentials().source == "env"

    async def steps(client):
        return await (await client.get("/fal_avatar/key")).json()

    assert call(steps) == {"configured": True, "source": "env"}


def test_cross_origin_and_originless_changes_are_refused():
    async def steps(client):
        evil = await client.post(
            "/fal_avatar/key", json={"key": SECRET}, headers={"Origin": "http://evil.example"}
        )
        bare = await client.post("/fal_avatar/key", json={"key": SECRET})
        wipe = await client.delete("/fal_avatar/key", headers={"Origin": "http://evil.example"})
        return evil.status, bare.status, wipe.status

    assert call(steps) == (403, 403, 403)
    assert not key_file_path().exists()


def test_bad_key_is_refused_without_echo():
    async def steps(client):
        resp = await client.post(
            "/fal_avatar/key", json={"key": "no-colon-here"}, headers=same_origin(client)
        )
        return resp.status, await resp.text()

    code, text = call(steps)
    assert code == 400 and "key_id" in text and "no-colon-here" not in text


def test_endpoint_catalog_for_the_cost_estimate():
    async def steps(client):
        return await (await client.get("/fal_avatar/endpoints")).json()

    rows = call(steps)["endpoints"]
    from comfyui_fal_avatar.nodes.avatar.endpoints import GENERATION_ENDPOINTS

    assert [r["node_id"] for r in rows] == [spec.node_id for spec in GENERATION_ENDPOINTS]  # every row
    assert all(r["price"]["usd_per_second"] for r in rows)


def test_doctor_route_runs_on_the_server_and_never_returns_the_key(fal_env, monkeypatch):
    monkeypatch.delenv("FAL_KEY")
    call(lambda c: c.post("/fal_avatar/key", json={"key": SECRET}, headers=same_origin(c)))
    fal_env.key = SECRET  # the emulator accepts the saved key

    async def steps(client):
        resp = await client.get("/fal_avatar/doctor")
        return resp.status, await resp.text()

    status, text = call(steps)
    report = json.loads(text)
    assert status == 200 and report["exit_code"] == 0
    assert (
        report["key"]["present"] and report["key"]["source"] == "saved" and report["key"]["state"] == "valid"
    )
    assert set(report["key"]) == {"present", "source", "state", "message"}
    statuses = {e["endpoint_id"]: e["status"] for e in report["endpoints"]}
    assert statuses.pop("fal-ai/stable-avatar") == "delisted" and set(statuses.values()) == {"ok"}
    assert SECRET not in text and "s3cr3t" not in text
    assert fal_env.count("token") == 1 and fal_env.count("submit") == 0


def test_doctor_route_reports_drift_and_bad_settings(fal_env, monkeypatch):
    fal_env.retire("fal-ai/infinitalk")

    async def steps(client):
        resp = await client.get("/fal_avatar/doctor")
        return resp.status, await resp.json()

    status, report = call(steps)
    assert status == 200 and report["exit_code"] == 1
    assert report["endpoints"][0]["status"] == "not_in_catalogue"

    monkeypatch.setenv("FAL_OPENAPI_URL", "fal.ai/no-scheme")
    status, body = call(steps)
    assert status == 500 and "FAL_OPENAPI_URL" in body["error"]
