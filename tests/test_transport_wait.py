"""wait(): status stream, polling fallback, cumulative logs, failures, wait limits, task cancellation."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from test_transport_support import REQ, URLS, jresp, make_client, run

from comfyui_fal_avatar.nodes.errors import (
    AuthError,
    FalServerError,
    FalTimeoutError,
    JobCancelledError,
)
from comfyui_fal_avatar.nodes.fal import QueueHandle
from comfyui_fal_avatar.nodes.settings import WaitLimits

HANDLE = QueueHandle.for_request("fal-ai/infinitalk", REQ, URLS.queue)
BASE = f"/fal-ai/infinitalk/requests/{REQ}"

QUEUED = {"status": "IN_QUEUE", "queue_position": 2, "logs": None}
RUNNING_1 = {"status": "IN_PROGRESS", "logs": [{"message": "step 1", "level": "INFO"}]}
RUNNING_2 = {
    "status": "IN_PROGRESS",
    "logs": [{"message": "step 1", "level": "INFO"}, {"message": "step 2", "level": "INFO"}],
}
DONE = {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 1.2}}


def sse(*events, keepalive=True, then=None):
    """An SSE body: optional keep-alive comment, one ``data:`` event each, then ``then()`` (e.g. hang)."""

    async def body():
        if keepalive:
            yield b": ping\n\n"
        for event in events:
            yield f"data: {json.dumps(event)}\n\n".encode()
        if then is not None:
            await then()

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


class Script:
    """Status poll answers in order (the last one repeats); stream answers likewise."""

    def __init__(self, polls=(), streams=(), cancel=None):
        self.polls = list(polls)
        self.streams = list(streams)
        self.cancel = cancel or jresp(202, {"status": "CANCELLATION_REQUESTED"})

    @staticmethod
    def _next(items):
        item = items.pop(0) if len(items) > 1 else items[0]
        return item() if callable(item) else item

    def __call__(self, request):
        path = request.url.path
        if path == f"{BASE}/status/stream":
            assert request.headers["accept"] == "text/event-stream"
            assert request.url.params["logs"] == "1"
            return self._next(self.streams) if self.streams else jresp(404, {"detail": "Not Found"})
        if path == f"{BASE}/status":
            body = self._next(self.polls)
            return jresp(200 if body["status"] == "COMPLETED" else 202, body)
        if path == f"{BASE}/cancel":
            return self.cancel
        raise AssertionError(f"unexpected {request.method} {path}")


def test_polling_fallback_reports_every_status_with_cumulative_logs():
    seen = []
    client, rec = make_client(Script(polls=[QUEUED, RUNNING_1, RUNNING_2, DONE]))
    status = run(client.wait(HANDLE, on_status=seen.append))
    assert status.done and status.metrics == {"inference_time": 1.2}
    assert [s.state for s in seen] == ["IN_QUEUE", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]
    assert seen[0].queue_position == 2
    assert [len(s.logs) for s in seen] == [0, 1, 2, 2]  # COMPLETED without logs keeps what was seen
    assert rec.paths()[0] == f"{BASE}/status/stream"  # the stream was tried first (404 here)
    assert rec.paths().count(f"{BASE}/status") == 4


def test_stream_is_used_when_available_and_no_polls_are_needed():
    seen = []

    async def on_status(status):  # async callbacks are awaited
        seen.append(status)

    increments = [
        {"status": "IN_PROGRESS", "logs": [{"message": "a"}]},
        {"status": "IN_PROGRESS", "logs": [{"message": "b"}]},
    ]
    client, rec = make_client(Script(streams=[lambda: sse(QUEUED, *increments, DONE)]))
    status = run(client.wait(HANDLE, on_status=on_status))
    assert status.done
    assert rec.paths() == [f"{BASE}/status/stream"]
    assert [m.message for m in seen[-1].logs] == ["a", "b"]
    assert seen[0].queue_position == 2


def test_stream_drop_catches_up_by_polling_and_reconnects():
    async def drop():
        raise httpx.ReadError("connection reset")

    client, rec = make_client(
        Script(
            polls=[RUNNING_1],
            streams=[lambda: sse(QUEUED, then=drop), lambda: sse(RUNNING_2, DONE)],
        )
    )
    assert run(client.wait(HANDLE)).done
    assert rec.paths() == [f"{BASE}/status/stream", f"{BASE}/status", f"{BASE}/status/stream"]


def test_stream_that_keeps_ending_early_falls_back_to_polling():
    client, rec = make_client(
        Script(polls=[QUEUED, QUEUED, QUEUED, RUNNING_1, DONE], streams=[lambda: sse(QUEUED)])
    )
    assert run(client.wait(HANDLE)).done
    paths = rec.paths()
    assert paths.count(f"{BASE}/status/stream") == 3  # MAX_STREAM_FAILURES short-lived streams, then polling
    assert paths[-1] == f"{BASE}/status"


def test_completed_with_error_raises_server_error_with_type_and_request_id():
    failed = {
        "status": "COMPLETED",
        "logs": [],
        "error": "Runner disconnected",
        "error_type": "runner_disconnected",
    }
    client, _ = make_client(Script(streams=[lambda: sse(QUEUED, failed)]))
    with pytest.raises(FalServerError) as info:
        run(client.wait(HANDLE))
    assert info.value.error_type == "runner_disconnected"
    assert info.value.request_id == REQ
    assert "Runner disconnected" in str(info.value)


def test_completed_as_client_cancelled_raises_job_cancelled():
    cancelled = {
        "status": "COMPLETED",
        "logs": [],
        "error": "Request cancelled by the client.",
        "error_type": "client_cancelled",
    }
    client, _ = make_client(Script(polls=[cancelled]))
    with pytest.raises(JobCancelledError):
        run(client.wait(HANDLE))


def test_unknown_status_in_stream_is_a_protocol_error():
    client, _ = make_client(Script(streams=[lambda: sse({"status": "FAILED"})]))
    with pytest.raises(FalServerError, match="unknown job status"):
        run(client.wait(HANDLE))


def test_polling_errors_surface_typed():
    client, _ = make_client(lambda r: jresp(401, {"detail": "No user found for Key ID and Secret"}))
    with pytest.raises(AuthError):
        run(client.wait(HANDLE))


async def hang():
    await asyncio.sleep(3600)


def test_queue_wait_limit_fires_on_a_silent_stream_and_cancels_the_job():
    client, rec = make_client(
        Script(polls=[QUEUED], streams=[lambda: sse(QUEUED, then=hang)]),
        limits=WaitLimits(queue_wait_s=0.2, processing_s=None),
    )
    with pytest.raises(FalTimeoutError) as info:
        run(client.wait(HANDLE))
    text = str(info.value)
    assert "cancelled" in text and "nothing was charged" in text and info.value.request_id == REQ
    assert info.value.error_type == "queue_wait_limit"  # tells a cancelled job from a network timeout
    assert rec.count("PUT", f"{BASE}/cancel") == 1


def test_queue_wait_limit_with_polling():
    client, rec = make_client(Script(polls=[QUEUED]), limits=WaitLimits(queue_wait_s=0.1), use_stream=False)
    with pytest.raises(FalTimeoutError):
        run(client.wait(HANDLE))
    assert rec.count("PUT", f"{BASE}/cancel") == 1
    assert rec.count("GET", f"{BASE}/status/stream") == 0


def test_queue_limit_race_job_finished_meanwhile_is_a_success():
    script = Script(polls=[QUEUED], cancel=jresp(400, {"status": "ALREADY_COMPLETED"}))
    client, rec = make_client(script, limits=WaitLimits(queue_wait_s=0.05), use_stream=False)

    async def scenario():
        task = asyncio.ensure_future(client.wait(HANDLE))
        while rec.count("PUT", f"{BASE}/cancel") == 0 and not task.done():
            await asyncio.sleep(0.01)
        script.polls = [DONE]
        return await task

    assert run(scenario()).done


def test_processing_limit_cancels_a_job_that_runs_too_long():
    client, rec = make_client(
        Script(polls=[RUNNING_1]), limits=WaitLimits(queue_wait_s=None, processing_s=0.1), use_stream=False
    )
    with pytest.raises(FalTimeoutError, match="still generating") as info:
        run(client.wait(HANDLE))
    assert info.value.error_type == "processing_limit"
    assert rec.count("PUT", f"{BASE}/cancel") == 1


def test_no_limit_while_running_by_default():
    # processing_s=None: a long IN_PROGRESS phase never triggers a cancel (only COMPLETED ends the wait)
    client, rec = make_client(
        Script(polls=[QUEUED] + [RUNNING_1] * 20 + [DONE]),
        limits=WaitLimits(queue_wait_s=60, processing_s=None),
        use_stream=False,
    )
    assert run(client.wait(HANDLE)).done
    assert rec.count("PUT", f"{BASE}/cancel") == 0


@pytest.mark.parametrize("use_stream", [True, False], ids=["stream", "polling"])
def test_wait_task_cancellation_is_prompt_and_closes_the_stream(use_stream):
    closed = []

    async def hang_and_record():
        try:
            await asyncio.sleep(3600)
        finally:
            closed.append(True)

    client, rec = make_client(
        Script(polls=[QUEUED], streams=[lambda: sse(QUEUED, then=hang_and_record)]), use_stream=use_stream
    )

    async def scenario():
        task = asyncio.ensure_future(client.wait(HANDLE))
        while not rec.requests and not task.done():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)  # a safety net, not a timing assertion
        return task, done

    task, done = run(scenario())
    assert task in done and task.cancelled()
    if use_stream:
        assert closed == [True]
    assert rec.count("PUT", f"{BASE}/cancel") == 0  # cancelling the wait does not cancel the job
