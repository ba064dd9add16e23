"""Every injectable fault, the request log and locked mode."""

from __future__ import annotations

import threading
import time

import _http
import httpx
import pytest

from comfyui_fal_avatar.nodes.emulator import FalEmulator
from comfyui_fal_avatar.nodes.emulator.samples import data_uri, sample_png, sample_wav

KEY = "kid:ksecret"
AUTH = {"Authorization": f"Key {KEY}"}
LOCKED = {
    "detail": "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
}


@pytest.fixture
def emu():
    with FalEmulator(KEY, processing_time=0.05) as emulator:
        yield emulator


@pytest.fixture
def http(emu):
    with _http.client(base_url=emu.base_url, headers=AUTH, timeout=10) as client:
        yield client


def _args() -> dict:
    return {
        "image_url": data_uri(sample_png(64, 64), "image/png"),
        "audio_url": data_uri(sample_wav(1.0), "audio/wav"),
        "prompt": "p",
        "num_frames": 41,
    }


def _completed(http: httpx.Client, status_url: str) -> dict:
    for _ in range(300):
        body = http.get(status_url).json()
        if body["status"] == "COMPLETED":
            return body
        time.sleep(0.03)
    raise AssertionError("job did not complete")


def _upload(emu, http, data: bytes = b"0123456789" * 100) -> str:
    token = http.post("/storage/auth/token?storage_type=fal-cdn-v3", json={}).json()["token"]
    return http.post(
        "/files/upload",
        content=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    ).json()["access_url"]


@pytest.mark.parametrize("code", [502, 503, 504])
def test_ingress_errors_are_nginx_html_without_request_id(emu, http, code):
    emu.inject("status", f"ingress_{code}")
    rid = http.post("/fal-ai/infinitalk", json={}).json()["request_id"]
    response = http.get(f"/fal-ai/infinitalk/requests/{rid}/status")
    assert response.status_code == code and "nginx" in response.text
    assert response.headers["content-type"] == "text/html" and "x-fal-request-id" not in response.headers
    assert http.get(f"/fal-ai/infinitalk/requests/{rid}/status").status_code in (200, 202)  # consumed


def test_http_500_has_request_id(emu, http):
    emu.inject("result", "http_500", times=2)
    rid = http.post("/fal-ai/infinitalk", json={}).json()["request_id"]
    for _ in range(2):
        response = http.get(f"/fal-ai/infinitalk/requests/{rid}")
        assert response.status_code == 500 and response.json() == {"detail": "Internal Server Error"}
        assert response.headers["x-fal-request-id"] == rid
    assert http.get(f"/fal-ai/infinitalk/requests/{rid}").status_code != 500


def test_rate_limit(emu, http):
    emu.inject("submit", "rate_limit", retry_after=7)
    response = http.post("/fal-ai/infinitalk", json={})
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    emu.inject("token", "rate_limit")
    assert http.post("/storage/auth/token").headers["retry-after"] == "1"
    assert not emu.jobs


def test_drop_on_submit_creates_the_job_without_answering(emu, http):
    emu.inject("submit", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/fal-ai/infinitalk", json=_args())
    assert len(emu.jobs) == 1
    (job,) = emu.jobs.values()
    assert job.endpoint_id == "fal-ai/infinitalk" and job.arguments["prompt"] == "p"
    assert emu.requests[-1].route == "submit" and emu.requests[-1].status is None
    assert b'"prompt"' in emu.requests[-1].body
    body = _completed(http, f"/fal-ai/infinitalk/requests/{job.request_id}/status")
    assert body["status"] == "COMPLETED" and "error" not in body


def test_drop_before_performs_nothing(emu, http):
    emu.inject("submit", "drop_before")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/fal-ai/infinitalk", json=_args())
    assert not emu.jobs and emu.requests[-1].status is None
    emu.inject("cdn_upload", "drop_before")
    with pytest.raises(httpx.RemoteProtocolError):
        _upload(emu, http)
    assert not emu.files


def test_drop_on_upload_stores_the_file(emu, http):
    emu.inject("cdn_upload", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        _upload(emu, http, b"kept")
    assert [f.data for f in emu.files.values()] == [b"kept"]


def test_forced_422_on_submit(emu, http):
    emu.inject("submit", "forced_422")
    response = http.post("/fal-ai/infinitalk", json=_args())
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "prompt"] and {"type", "msg", "input"} <= set(item)
    assert not emu.jobs
    emu.inject("submit", "forced_422", field="num_frames", type="less_than_equal", msg="too many")
    (item,) = http.post("/fal-ai/infinitalk", json=_args()).json()["detail"]
    assert (item["loc"], item["type"], item["msg"]) == (["body", "num_frames"], "less_than_equal", "too many")


def test_locked_fault_once(emu, http):
    emu.inject("submit", "locked")
    response = http.post("/fal-ai/infinitalk", json={})
    assert (response.status_code, response.json()) == (403, LOCKED)
    assert http.post("/fal-ai/infinitalk", json={}).status_code == 200


def test_slow_file_get(emu, http):
    url = _upload(emu, http, b"x" * 4000)
    emu.inject("file_get", "slow", bytes_per_s=20000)
    started = time.monotonic()
    response = _http.get(url)
    elapsed = time.monotonic() - started
    assert response.content == b"x" * 4000
    assert elapsed >= 0.1  # 4000 bytes at 20 kB/s take ~0.2 s; a lower bound only, never an upper one


def test_truncated_file_get(emu, http):
    url = _upload(emu, http, b"y" * 1000)
    emu.inject("file_get", "truncate", fraction=0.3)
    with httpx.stream("GET", url) as response:
        assert response.headers["content-length"] == "1000"
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_raw():
                received += chunk
    assert bytes(received) == b"y" * 300
    assert _http.get(url).content == b"y" * 1000


@pytest.mark.parametrize("body", ["half", "html"])
def test_damaged_file_get_is_a_complete_200_of_the_wrong_bytes(emu, http, body):
    data = bytes(range(256)) * 8
    url = _upload(emu, http, data)
    emu.inject("file_get", "damaged", times=2, body=body)
    for _ in range(2):
        response = _http.get(url)  # no transport error: only the content shows the damage
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        if body == "half":
            assert response.content == data[: len(data) // 2]
        else:
            assert response.headers["content-type"].startswith("text/html") and b"<html" in response.content
    assert _http.get(url).content == data  # the fault is used up
    assert [r.status for r in emu.requests if r.route == "file_get"] == [200, 200, 200]


def test_damaged_passes_a_missing_file_through(emu):
    emu.inject("file_get", "damaged")
    assert _http.get(f"{emu.base_url}/files/zebra/nothing_here.mp4").status_code == 404


def test_fault_validation(emu):
    with pytest.raises(ValueError, match="unknown route"):
        emu.inject("nope", "http_500")
    with pytest.raises(ValueError, match="unknown HTTP fault"):
        emu.inject("submit", "explode")
    with pytest.raises(ValueError, match="only applies"):
        emu.inject("submit", "truncate")
    with pytest.raises(ValueError, match="only applies"):
        emu.inject("status", "forced_422")
    with pytest.raises(ValueError, match="only applies"):
        emu.inject("result", "damaged")
    with pytest.raises(ValueError, match="body= one of half, html"):
        emu.inject("file_get", "damaged", body="zeros")
    with pytest.raises(ValueError, match="unknown job fault"):
        emu.inject_job("drop")


def test_faults_are_consumed_in_order_per_route(emu, http):
    emu.inject("submit", "rate_limit")
    emu.inject("submit", "http_500", times=2)
    emu.inject("status", "ingress_502")
    codes = [http.post("/fal-ai/infinitalk", json={}).status_code for _ in range(4)]
    assert codes == [429, 500, 500, 200]
    emu.inject("submit", "http_500")
    emu.clear_faults()
    assert http.post("/fal-ai/infinitalk", json={}).status_code == 200


def test_runner_error_with_params(emu, http):
    emu.inject_job("runner_error", error_type="request_timeout", status=504, error="Request timed out")
    submitted = http.post("/fal-ai/infinitalk", json=_args()).json()
    body = _completed(http, submitted["status_url"])
    assert (body["error"], body["error_type"]) == ("Request timed out", "request_timeout")
    result = http.get(submitted["response_url"])
    assert result.status_code == 504
    assert result.json() == {"detail": "Request timed out", "error_type": "request_timeout"}
    assert result.headers["x-fal-error-type"] == "request_timeout"
    assert emu.jobs[submitted["request_id"]].error_type == "request_timeout"


def test_corrupt_video_output(emu, http):
    emu.inject_job("corrupt_video")
    submitted = http.post("/fal-ai/infinitalk", json=_args()).json()
    _completed(http, submitted["status_url"])
    video = http.get(submitted["response_url"]).json()["video"]
    data = _http.get(video["url"]).content
    assert len(data) == video["file_size"] and b"ftyp" not in data[:16]


def test_stuck_queue_and_slow_jobs(emu, http):
    emu.inject_job("stuck_queue")
    emu.inject_job("slow", processing_time=0.6)
    stuck = http.post("/fal-ai/infinitalk", json=_args()).json()
    slow = http.post("/fal-ai/infinitalk", json=_args()).json()
    body = _completed(http, slow["status_url"])
    assert body["metrics"]["inference_time"] >= 0.6
    status = http.get(stuck["status_url"])
    assert (status.status_code, status.json()["status"]) == (202, "IN_QUEUE")
    assert emu.jobs[stuck["request_id"]].state == "IN_QUEUE"


def test_job_faults_can_match_arguments_and_hold_jobs_until_released(emu, http):
    """A job fault with ``match`` skips jobs submitted with other values (they take the next fault that
    applies, in order); ``release`` keeps its job IN_PROGRESS until the test sets the event."""
    release = threading.Event()
    emu.inject_job("runner_error", match={"seed": 2}, release=release)
    emu.inject_job("slow", times=2, processing_time=0.1)
    jobs = {
        seed: http.post("/fal-ai/infinitalk", json={**_args(), "seed": seed}).json() for seed in (1, 2, 3, 4)
    }
    faults = {seed: emu.jobs[job["request_id"]].fault_name for seed, job in jobs.items()}
    assert faults == {1: "slow", 2: "runner_error", 3: "slow", 4: None}
    for seed in (1, 3, 4):
        assert "error" not in _completed(http, jobs[seed]["status_url"])
    held = emu.jobs[jobs[2]["request_id"]]
    assert held.state == "IN_PROGRESS"  # the others finished after it started; it is still held
    release.set()
    assert _completed(http, jobs[2]["status_url"])["error_type"] == "runner_disconnected"
    again = http.post("/fal-ai/infinitalk", json={**_args(), "seed": 2}).json()["request_id"]
    assert emu.jobs[again].fault is None  # the matching fault is used up
    with pytest.raises(ValueError, match="threading.Event"):
        emu.inject_job("slow", release=True)


def test_a_job_fault_with_start_holds_its_job_in_the_queue_until_the_event_is_set(emu, http):
    start = threading.Event()
    emu.inject_job("slow", processing_time=0.05, start=start)
    held = http.post("/fal-ai/infinitalk", json=_args()).json()
    later = http.post("/fal-ai/infinitalk", json=_args()).json()
    assert "error" not in _completed(http, later["status_url"])  # submitted after it, and done
    assert http.get(held["status_url"]).json()["status"] == "IN_QUEUE"
    start.set()
    assert "error" not in _completed(http, held["status_url"])
    with pytest.raises(ValueError, match="start= must be a threading.Event"):
        emu.inject_job("slow", start=True)


def test_locked_mode(emu, http):
    emu.inject_job("stuck_queue")
    rid = http.post("/fal-ai/infinitalk", json={}).json()["request_id"]
    emu.locked = True
    assert (http.post("/fal-ai/infinitalk", json={}).status_code, len(emu.jobs)) == (403, 1)
    assert http.post("/fal-ai/infinitalk", json={}).json() == LOCKED
    assert http.post("/storage/auth/token").status_code == 403
    assert http.post("/storage/upload/initiate", json={}).status_code == 403
    assert http.get(f"/fal-ai/infinitalk/requests/{rid}/status").status_code == 202  # status still works
    emu.locked = False
    assert http.post("/fal-ai/infinitalk", json={}).status_code == 200


def test_request_log(emu, http):
    http.post(
        "/fal-ai/infinitalk?fal_webhook=http%3A%2F%2Fx", json={"prompt": "p"}, headers={"X-Custom": "1"}
    )
    http.get("/nothing")
    (submit, other) = emu.requests
    assert (submit.method, submit.path, submit.route, submit.status) == (
        "POST",
        "/fal-ai/infinitalk",
        "submit",
        200,
    )
    assert submit.query == {"fal_webhook": "http://x"}
    assert submit.headers["x-custom"] == "1" and submit.headers["authorization"] == f"Key {KEY}"
    assert submit.body == b'{"prompt":"p"}'
    assert (other.route, other.status) == ("other", 404)
    assert emu.routes() == ["submit", "other"] and emu.count("submit") == 1 and emu.count("status") == 0
    emu.clear_log()
    assert emu.requests == [] and emu.routes() == []


def test_stop_closes_keep_alive_connections_and_repr_hides_key():
    emu = FalEmulator(KEY)
    emu.start()
    assert KEY not in repr(emu)
    with _http.client(base_url=emu.base_url, headers=AUTH) as http:
        assert http.post("/fal-ai/infinitalk", json={}).status_code == 200
        emu.stop()
        with pytest.raises(httpx.TransportError):
            http.post("/fal-ai/infinitalk", json={})
    with pytest.raises(RuntimeError, match="restarted"):
        emu.start()


def test_stop_does_not_wait_for_the_serving_loop_to_poll(monkeypatch):
    """The serving loop is woken for the stop request, so stop() returns however long the loop would
    otherwise wait before looking (an hour here; the suite starts and stops hundreds of emulators)."""
    monkeypatch.setattr("comfyui_fal_avatar.nodes.emulator.server.POLL_INTERVAL_S", 3600.0)
    emu = FalEmulator(KEY)
    emu.start()
    assert _http.get(emu.base_url + "/files/nope/missing.bin").status_code == 404  # the loop is serving
    stopper = threading.Thread(target=emu.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=60)  # a hang guard, not a duration under test
    assert not stopper.is_alive()
    with pytest.raises(httpx.TransportError):
        _http.get(emu.base_url + "/files/nope/missing.bin", timeout=5)


def test_endless_and_nested_answers_on_any_route(emu, http):
    emu.inject("openapi", "nested", depth=5)
    response = http.get("/api/openapi/queue/openapi.json", params={"endpoint_id": "fal-ai/infinitalk"})
    assert (response.status_code, response.content) == (200, b"[[[[[]]]]]")
    emu.inject("status", "endless")
    received = 0
    with http.stream("GET", "/fal-ai/infinitalk/requests/x/status") as streamed:
        assert streamed.status_code == 200 and "content-length" not in streamed.headers
        for chunk in streamed.iter_bytes():
            received += len(chunk)
            if received > 1_000_000:
                break  # it would go on: the client hangs up
    assert received > 1_000_000
    assert http.get("/api/openapi/queue/openapi.json", params={"endpoint_id": "fal-ai/infinitalk"}).json()
