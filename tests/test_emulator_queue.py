"""Queue protocol details of the emulator (fal's queue API, https://docs.fal.ai/model-endpoints/queue, as
fal-client 1.0.3 uses it), checked over real HTTP with httpx."""

from __future__ import annotations

import json
import time

import _http
import httpx
import pytest

from comfyui_fal_avatar.nodes.emulator import FalEmulator
from comfyui_fal_avatar.nodes.emulator.samples import data_uri, sample_png, sample_wav

KEY = "kid:ksecret"
AUTH = {"Authorization": f"Key {KEY}"}


@pytest.fixture
def emu():
    with FalEmulator(KEY, processing_time=0.3, log_lines=3) as emulator:
        yield emulator


@pytest.fixture
def http(emu):
    with _http.client(base_url=emu.base_url, headers=AUTH, timeout=10) as client:
        yield client


def _args(num_frames: int = 41) -> dict:
    return {
        "image_url": data_uri(sample_png(64, 64), "image/png"),
        "audio_url": data_uri(sample_wav(1.0), "audio/wav"),
        "prompt": "p",
        "num_frames": num_frames,
    }


def _wait_completed(http: httpx.Client, status_url: str, **params) -> httpx.Response:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = http.get(status_url, params=params)
        if response.json()["status"] == "COMPLETED":
            return response
        time.sleep(0.03)
    raise AssertionError("job did not complete")


def test_submit_answers_absolute_owner_alias_urls_for_a_sub_path_endpoint(emu, http):
    response = http.post("/fal-ai/infinitalk/video-to-video", json={"prompt": "x"})
    assert response.status_code == 200
    body = response.json()
    rid = body["request_id"]
    base = f"{emu.base_url}/fal-ai/infinitalk/requests/{rid}"
    assert body == {
        "status": "IN_QUEUE",
        "request_id": rid,
        "response_url": base,
        "status_url": base + "/status",
        "cancel_url": base + "/cancel",
        "queue_position": 0,
        "gateway_request_id": rid,
    }
    assert response.headers["x-fal-request-id"] == rid
    assert emu.jobs[rid].endpoint_id == "fal-ai/infinitalk/video-to-video"


def test_status_url_with_the_sub_path_is_rejected(emu, http):
    rid = http.post("/fal-ai/infinitalk/single-text", json={}).json()["request_id"]
    for path in (
        f"/fal-ai/infinitalk/single-text/requests/{rid}/status",
        f"/fal-ai/infinitalk/single-text/requests/{rid}",
    ):
        assert http.get(path).status_code in (404, 405)
    assert http.put(f"/fal-ai/infinitalk/single-text/requests/{rid}/cancel").status_code in (404, 405)
    assert http.get(f"/fal-ai/infinitalk/requests/{rid}/status").status_code in (200, 202)


def test_request_ids_are_scoped_per_app(http):
    rid = http.post("/fal-ai/infinitalk", json={}).json()["request_id"]
    assert http.get(f"/fal-ai/stable-avatar/requests/{rid}/status").status_code == 404
    assert http.put(f"/fal-ai/stable-avatar/requests/{rid}/cancel").json() == {"status": "NOT_FOUND"}


def test_trailing_slashes_are_tolerated(http):
    submitted = http.post("/fal-ai/infinitalk/", json=_args()).json()
    status = http.get(submitted["status_url"] + "/")
    assert status.status_code == 202 and status.json()["request_id"] == submitted["request_id"]
    _wait_completed(http, submitted["status_url"] + "/")
    assert http.get(submitted["response_url"] + "/").json()["seed"] == 42


def test_namespaced_apps_add_one_segment(emu, http):
    body = http.post("/comfy/fal-ai/infinitalk", json=_args()).json()
    assert (
        body["status_url"] == f"{emu.base_url}/comfy/fal-ai/infinitalk/requests/{body['request_id']}/status"
    )
    _wait_completed(http, body["status_url"])
    assert http.get(body["response_url"]).status_code == 200
    assert http.get(f"/fal-ai/infinitalk/requests/{body['request_id']}/status").status_code == 404


def test_status_codes_shapes_and_cumulative_logs(http):
    submitted = http.post("/fal-ai/infinitalk", json=_args()).json()
    seen: list[dict] = []
    codes = set()
    while not seen or seen[-1]["status"] != "COMPLETED":
        response = http.get(submitted["status_url"], params={"logs": 1})
        body = response.json()
        codes.add((body["status"], response.status_code))
        assert body["status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
        assert "logs" in body
        if body["status"] == "IN_QUEUE":
            assert isinstance(body["queue_position"], int)
        seen.append(body)
        time.sleep(0.02)
    assert ("IN_PROGRESS", 202) in codes and ("COMPLETED", 200) in codes
    logs = [b["logs"] for b in seen if b["status"] != "IN_QUEUE"]
    for earlier, later in zip(logs, logs[1:], strict=False):
        assert later[: len(earlier)] == earlier
    final = seen[-1]
    assert [entry["message"] for entry in final["logs"]] == [
        "Generating frames 14/41",
        "Generating frames 28/41",
        "Generating frames 41/41",
    ]
    assert all(
        entry["level"] == "INFO" and entry["source"] == "USER" and entry["timestamp"].endswith("Z")
        for entry in final["logs"]
    )
    assert final["metrics"]["inference_time"] >= 0.3 and "error" not in final


@pytest.mark.parametrize(
    ("value", "has_logs"),
    [("0", False), ("1", True), ("true", True), ("false", False), ("True", True), (None, False)],
)
def test_logs_query_values(http, value, has_logs):
    submitted = http.post("/fal-ai/infinitalk", json=_args()).json()
    params = {} if value is None else {"logs": value}
    body = _wait_completed(http, submitted["status_url"], **params).json()
    assert isinstance(body["logs"], list) if has_logs else body["logs"] is None


def test_queue_delay_and_queue_position():
    with (
        FalEmulator(KEY, queue_delay=0.6, processing_time=0.0) as emu,
        _http.client(base_url=emu.base_url, headers=AUTH) as http,
    ):
        first = http.post("/fal-ai/infinitalk", json={}).json()
        second = http.post("/fal-ai/infinitalk/single-text", json={}).json()
        other_app = http.post("/fal-ai/stable-avatar", json={}).json()
        assert (first["queue_position"], second["queue_position"], other_app["queue_position"]) == (0, 1, 0)
        status = http.get(second["status_url"])
        assert (
            status.status_code == 202
            and status.json()["queue_position"] == 1
            and status.json()["logs"] is None
        )
        assert http.get(second["response_url"]).json() == {"detail": "Request is still in progress"}


def test_result_before_completion_and_unknown_ids(http):
    submitted = http.post("/fal-ai/infinitalk", json=_args()).json()
    early = http.get(submitted["response_url"])
    assert early.status_code == 400 and early.json() == {"detail": "Request is still in progress"}
    assert http.get("/fal-ai/infinitalk/requests/nope/status").status_code == 404
    assert http.put("/fal-ai/infinitalk/requests/nope/cancel").json() == {"status": "NOT_FOUND"}


def test_result_headers_and_repeatable_completed_status(http):
    submitted = http.post("/fal-ai/infinitalk", json=_args(45)).json()
    _wait_completed(http, submitted["status_url"])
    for _ in range(2):
        assert http.get(submitted["status_url"], params={"logs": "false"}).status_code == 200
        result = http.get(submitted["response_url"])
        assert result.status_code == 200
        assert result.headers["x-fal-request-id"] == submitted["request_id"]
        assert result.headers["x-fal-billable-units"] == "1.8"  # 45 frames / 25 fps


def test_cancel_codes(emu, http):
    emu.inject_job("stuck_queue")
    queued = http.post("/fal-ai/infinitalk", json={}).json()
    cancel = http.put(queued["cancel_url"])
    assert (cancel.status_code, cancel.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    status = http.get(queued["status_url"])
    assert status.status_code == 200
    assert (
        status.json()["error"] == "Request cancelled by the client."
        and status.json()["error_type"] == "client_cancelled"
    )
    result = http.get(queued["response_url"])
    assert result.status_code == 499 and result.headers["x-fal-error-type"] == "client_cancelled"
    again = http.put(queued["cancel_url"])
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert emu.jobs[queued["request_id"]].cancelled is True


def test_auth_is_required_on_queue_and_rest_routes(emu):
    with _http.client(base_url=emu.base_url) as anonymous:
        no_user = {"detail": "No user found for Key ID and Secret"}
        for method, path in (
            ("POST", "/fal-ai/infinitalk"),
            ("GET", "/fal-ai/infinitalk/requests/x/status"),
            ("GET", "/fal-ai/infinitalk/requests/x"),
            ("PUT", "/fal-ai/infinitalk/requests/x/cancel"),
            ("POST", "/storage/auth/token"),
            ("POST", "/storage/upload/initiate"),
        ):
            for headers in ({}, {"Authorization": "Key wrong:key"}, {"Authorization": f"Bearer {KEY}"}):
                response = anonymous.request(method, path, headers=headers)
                assert (response.status_code, response.json()) == (401, no_user), (method, path, headers)
        malformed = anonymous.post("/fal-ai/infinitalk", headers={"Authorization": "Key nocolon"})
        assert (
            malformed.status_code == 401 and "Expected '<key_id>:<key_secret>'" in malformed.json()["detail"]
        )
    assert emu.count("submit") == 4 and not emu.jobs


def test_unknown_app_path_and_method(emu, http):
    unknown_app = http.post("/fal-ai/nope", json={})
    assert unknown_app.status_code == 404 and "not found" in unknown_app.json()["detail"]
    bad_path = http.post("/fal-ai/infinitalk/nope", json=_args()).json()
    _wait_completed(http, bad_path["status_url"])
    result = http.get(bad_path["response_url"])
    assert result.status_code == 404 and result.json() == {"detail": "Path /nope not found"}
    assert result.headers["x-fal-billable-units"] == "0"
    assert http.get("/fal-ai/infinitalk").status_code == 405
    assert http.get("/nothing").status_code == 404
    assert emu.routes()[-2:] == ["other", "other"]


def test_invalid_json_body_is_a_422(http):
    response = http.post("/fal-ai/infinitalk", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"


def test_sse_status_stream_events_pings_and_close():
    with (
        FalEmulator(KEY, queue_delay=0.3, processing_time=0.5, sse_ping_interval=0.1) as emu,
        _http.client(base_url=emu.base_url, headers=AUTH, timeout=10) as http,
    ):
        submitted = http.post("/fal-ai/infinitalk", json=_args()).json()
        with http.stream("GET", submitted["status_url"] + "/stream", params={"logs": "1"}) as response:
            assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
            lines = list(response.iter_lines())  # ends only because the server closes after COMPLETED
    events = [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]
    assert ": ping" in lines
    assert [e["status"] for e in events][0] == "IN_QUEUE" and events[-1]["status"] == "COMPLETED"
    assert "IN_PROGRESS" in [e["status"] for e in events]
    assert len(events[-1]["logs"]) == 3 and events[-1]["metrics"]["inference_time"] > 0
    assert all(a != b for a, b in zip(events, events[1:], strict=False))  # one event per change
    assert emu.count("status_stream") == 1


def test_sse_stream_of_a_completed_request_sends_one_event(http):
    submitted = http.post("/fal-ai/infinitalk", json=_args()).json()
    _wait_completed(http, submitted["status_url"])
    response = http.get(submitted["status_url"] + "/stream")
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert len(events) == 1 and json.loads(events[0][6:])["status"] == "COMPLETED"
