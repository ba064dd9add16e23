"""End-to-end fault tests: the real transport against the loopback fal emulator.

``test_fault_matrix`` is the fault matrix: each row injects one fault at one route and phase and asserts the
outcome, the submit requests and jobs on the emulator (never two jobs for one intended job) and the retries
the client reported. Set ``FAL_TRANSPORT_MATRIX=<file>`` to have each row's measured values appended as JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass, field

import httpx
import pytest
from test_transport_support import run

from comfyui_fal_avatar.nodes.credentials import Credentials
from comfyui_fal_avatar.nodes.emulator import FalEmulator
from comfyui_fal_avatar.nodes.emulator.samples import data_uri, sample_png, sample_wav
from comfyui_fal_avatar.nodes.errors import FalAvatarError, FalServerError, FalTimeoutError, JobCancelledError
from comfyui_fal_avatar.nodes.fal import (
    CancelOutcome,
    FalClient,
    QueueHandle,
    RetryPolicy,
    Timeouts,
    multipart,
    upload,
)
from comfyui_fal_avatar.nodes.settings import FalUrls, WaitLimits

E2E_RETRY = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05, retry_after_cap_s=1.0)
ENDPOINT = "fal-ai/infinitalk"
ARGS = {
    "image_url": data_uri(sample_png(64, 64), "image/png"),
    "audio_url": data_uri(sample_wav(1.0), "audio/wav"),
    "prompt": "a person talking",
    "num_frames": 41,
}
BLOB = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB of non-repeating-per-32-bytes data


@dataclass
class Ctx:
    emu: FalEmulator
    tmp_path: object
    retries: list = field(default_factory=list)

    def client(self, **kw) -> FalClient:
        kw.setdefault("limits", WaitLimits(queue_wait_s=None, processing_s=None))
        return FalClient(retry=E2E_RETRY, on_retry=self.retries.append, **kw)  # key + URLs from fal_env

    def stored(self, url: str) -> bytes:
        return self.emu.files[url[len(self.emu.base_url) :]].data


# --- phases ------------------------------------------------------------------------------------


async def job_flow(ctx: Ctx, *, use_stream=True, limits=None) -> str:
    client = ctx.client(use_stream=use_stream, **({"limits": limits} if limits else {}))
    handle = await client.submit(ENDPOINT, ARGS)
    await client.wait(handle)
    result = await client.result(handle)
    assert result["video"]["url"].startswith(ctx.emu.base_url) and result["seed"] == 42
    return "ok"


async def polled_job_flow(ctx: Ctx) -> str:
    return await job_flow(ctx, use_stream=False)


async def cancel_flow(ctx: Ctx) -> str:
    ctx.emu.inject_job("slow", processing_time=30)
    client = ctx.client()
    handle = await client.submit(ENDPOINT, ARGS)
    outcome = await client.cancel(handle)
    assert ctx.emu.jobs[handle.request_id].cancelled
    with pytest.raises(JobCancelledError):
        await client.wait(handle)
    return outcome.name


async def upload_flow(ctx: Ctx) -> str:
    url = await ctx.client().upload(BLOB, content_type="application/octet-stream", file_name="blob.bin")
    assert ctx.stored(url) == BLOB
    return "ok via fallback" if ctx.emu.count("signed_put") else "ok"


async def multipart_flow(ctx: Ctx) -> str:
    path = ctx.tmp_path / "big.bin"
    path.write_bytes(BLOB + b"tail")  # 4 parts of 32 KiB + 4 bytes
    url = await ctx.client().upload(path, content_type="video/mp4", file_name="big.mp4")
    assert ctx.stored(url) == path.read_bytes()
    assert ctx.emu.count("multipart_create") >= 1
    return "ok via fallback" if ctx.emu.count("signed_put") else "ok"


async def download_flow(ctx: Ctx, **client_kw) -> str:
    url = await ctx.client().upload(
        BLOB, content_type="video/mp4", file_name="result.mp4"
    )  # a file on the "CDN"
    dest = ctx.tmp_path / "out" / "result.mp4"
    await ctx.client(**client_kw).download(url, dest)
    assert dest.read_bytes() == BLOB
    return "ok"


async def slow_download_flow(ctx: Ctx) -> str:
    # the emulator sends a chunk every 50 ms; a 30 ms read timeout cuts the stream, Range resumes it
    timeouts = Timeouts(transfer=httpx.Timeout(10.0, read=0.03))
    return await download_flow(ctx, timeouts=timeouts)


# --- the matrix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    fault: str
    route: str
    phase: str
    flow: object
    outcome: str  # "a|b": either is right (timing decides)
    submits: int | None  # submit requests the emulator saw
    jobs: int | None  # jobs it created
    retries: int | str  # retries the client reported ("≥1": the count depends on timing)
    params: dict = field(default_factory=dict)
    times: int = 1
    also: tuple = ()  # extra (route, fault) injections, e.g. to force the upload fallback

    @property
    def id(self) -> str:
        extra = "+".join(f"{f}@{r}" for r, f in self.also)
        times = f"x{self.times}" if self.times > 1 else ""
        return f"{self.phase}:{self.fault}{times}@{self.route}" + (f"+{extra}" if extra else "")


FORCE_FALLBACK = (("cdn_upload", "http_500"),)
ROWS = [
    # submit: re-sent only when no job can exist
    Row("ingress_502", "submit", "submit", job_flow, "ok", 2, 1, 1),
    Row("ingress_503", "submit", "submit", job_flow, "ok", 2, 1, 1),
    Row("ingress_504", "submit", "submit", job_flow, "ok", 2, 1, 1),
    Row("rate_limit", "submit", "submit", job_flow, "ok", 2, 1, 1, {"retry_after": 0.2}),
    Row(
        "rate_limit", "submit", "submit", job_flow, "RateLimitedError", 4, 0, 3, {"retry_after": 0}, times=10
    ),
    Row("http_500", "submit", "submit", job_flow, "FalServerError", 1, 0, 0),
    Row("drop", "submit", "submit", job_flow, "SubmitOutcomeUnknownError", 1, 1, 0),
    Row("drop_before", "submit", "submit", job_flow, "SubmitOutcomeUnknownError", 1, 0, 0),
    Row("forced_422", "submit", "submit", job_flow, "FalValidationError", 1, 0, 0),
    Row("locked", "submit", "submit", job_flow, "AccountLockedError", 1, 0, 0),
    # status polling (stream off) and the status stream
    Row("ingress_502", "status", "wait (poll)", polled_job_flow, "ok", 1, 1, 1),
    Row("rate_limit", "status", "wait (poll)", polled_job_flow, "ok", 1, 1, 1, {"retry_after": 0}),
    Row("drop", "status", "wait (poll)", polled_job_flow, "ok", 1, 1, 1),
    Row("drop_before", "status", "wait (poll)", polled_job_flow, "ok", 1, 1, 1),
    Row("http_500", "status", "wait (poll)", polled_job_flow, "FalServerError", 1, 1, 0),
    Row("drop", "status_stream", "wait (SSE)", job_flow, "ok", 1, 1, 0),
    Row("drop_before", "status_stream", "wait (SSE)", job_flow, "ok", 1, 1, 0),
    Row("ingress_502", "status_stream", "wait (SSE)", job_flow, "ok", 1, 1, 0),
    Row("http_500", "status_stream", "wait (SSE)", job_flow, "ok", 1, 1, 0),
    # result
    Row("ingress_503", "result", "result", job_flow, "ok", 1, 1, 1),
    Row("drop", "result", "result", job_flow, "ok", 1, 1, 1),
    Row("rate_limit", "result", "result", job_flow, "ok", 1, 1, 1, {"retry_after": 0}),
    Row("http_500", "result", "result", job_flow, "FalServerError", 1, 1, 0),
    # cancel. A drop after fal performed the cancel: the retry finds the job already finished, or (if the
    # runner has not stopped yet) still cancelling; both answers are true, neither is an error.
    Row("ingress_502", "cancel", "cancel", cancel_flow, "REQUESTED", 1, 1, 1),
    Row("drop_before", "cancel", "cancel", cancel_flow, "REQUESTED", 1, 1, 1),
    Row("drop", "cancel", "cancel", cancel_flow, "ALREADY_COMPLETED|REQUESTED", 1, 1, 1),
    Row("http_500", "cancel", "cancel", cancel_flow, "FalServerError", 1, 1, 0),
    # CDN token
    Row("ingress_502", "token", "token", upload_flow, "ok", None, None, 1),
    Row("drop", "token", "token", upload_flow, "ok", None, None, 1),
    Row("rate_limit", "token", "token", upload_flow, "ok", None, None, 1, {"retry_after": 0}),
    Row("http_500", "token", "token", upload_flow, "ok via fallback", None, None, 0),
    Row("locked", "token", "token", upload_flow, "AccountLockedError", None, None, 0),
    # single upload and its fallback
    Row("ingress_503", "cdn_upload", "upload", upload_flow, "ok", None, None, 1),
    Row("drop", "cdn_upload", "upload", upload_flow, "ok", None, None, 1),
    Row("http_500", "cdn_upload", "upload", upload_flow, "ok via fallback", None, None, 0),
    Row("locked", "cdn_upload", "upload", upload_flow, "AccountLockedError", None, None, 0),
    Row(
        "ingress_502",
        "storage_initiate",
        "upload (fallback)",
        upload_flow,
        "ok via fallback",
        None,
        None,
        1,
        also=FORCE_FALLBACK,
    ),
    Row(
        "drop",
        "signed_put",
        "upload (fallback)",
        upload_flow,
        "ok via fallback",
        None,
        None,
        1,
        also=FORCE_FALLBACK,
    ),
    Row(
        "http_500",
        "signed_put",
        "upload (fallback)",
        upload_flow,
        "FalServerError",
        None,
        None,
        0,
        also=FORCE_FALLBACK,
    ),
    # multipart (threshold lowered to 64 KiB, 32 KiB parts)
    Row("ingress_502", "multipart_create", "multipart", multipart_flow, "ok", None, None, 1),
    Row("drop", "multipart_part", "multipart", multipart_flow, "ok", None, None, 1),
    Row("ingress_503", "multipart_part", "multipart", multipart_flow, "ok", None, None, 2, times=2),
    Row("http_500", "multipart_part", "multipart", multipart_flow, "ok via fallback", None, None, 0),
    Row("drop", "multipart_complete", "multipart", multipart_flow, "ok via fallback", None, None, 1),
    Row("http_500", "multipart_complete", "multipart", multipart_flow, "ok via fallback", None, None, 0),
    # result file download
    Row("truncate", "file_get", "download", download_flow, "ok", None, None, 1, {"fraction": 0.5}),
    Row("truncate", "file_get", "download", download_flow, "ok", None, None, 3, {"fraction": 0.3}, times=3),
    Row("slow", "file_get", "download", slow_download_flow, "ok", None, None, "≥1", {"bytes_per_s": 200_000}),
    Row("ingress_502", "file_get", "download", download_flow, "ok", None, None, 1),
    Row("drop_before", "file_get", "download", download_flow, "ok", None, None, 1),
    Row("http_500", "file_get", "download", download_flow, "DownloadError", None, None, 0),
]


def record(row_id: str, **measured) -> None:
    target = os.environ.get("FAL_TRANSPORT_MATRIX")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"row": row_id, **measured}) + "\n")


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_fault_matrix(row: Row, fal_env, tmp_path, monkeypatch):
    emu = fal_env
    if row.flow is multipart_flow:
        monkeypatch.setattr(upload, "MULTIPART_THRESHOLD", 64 * 1024)
        monkeypatch.setattr(multipart, "PART_SIZE", 32 * 1024)
    ctx = Ctx(emu, tmp_path)
    for route, fault in row.also:
        emu.inject(route, fault)
    emu.inject(row.route, row.fault, times=row.times, **row.params)
    try:
        outcome = run(row.flow(ctx))
    except FalAvatarError as exc:
        outcome = type(exc).__name__
        assert exc.message  # every error says something
    measured = {
        "outcome": outcome,
        "submits": emu.count("submit"),
        "jobs": len(emu.jobs),
        "retries": len(ctx.retries),
    }
    record(row.id, fault=row.fault, route=row.route, phase=row.phase, **measured)
    assert outcome in row.outcome.split("|")
    if row.submits is not None:
        assert measured["submits"] == row.submits
        assert measured["jobs"] == row.jobs
    if row.retries == "≥1":
        assert 1 <= measured["retries"] < E2E_RETRY.attempts
    else:
        assert measured["retries"] == row.retries
    if row.route == "file_get" and outcome == "ok" and row.fault in ("truncate", "slow"):
        ranges = [r.headers.get("range") for r in emu.requests if r.route == "file_get"]
        assert ranges[0] is None and all(r and r.startswith("bytes=") for r in ranges[1:])


# --- scenarios outside the matrix table ----------------------------------------------------------


def test_connect_refused_submit_is_retried_and_makes_one_job(monkeypatch):
    """Nothing listens on the port at first: the connection was never made, so re-sending is safe."""
    key = "late-id:late-secret"
    # the port stays bound (never listening: connections are refused) until the emulator takes it, so no
    # other process (a parallel test worker) can take it meanwhile
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    late = FalEmulator(key, processing_time=0.3, port=port)
    retries = []

    def on_retry(event):
        retries.append(event)
        if not late._server:
            holder.close()
            late.start()  # the server comes up while the client backs off

    client = FalClient(
        Credentials(key, "env"),
        FalUrls.single(f"http://127.0.0.1:{port}"),
        WaitLimits(None, None),
        retry=E2E_RETRY,
        on_retry=on_retry,
    )
    try:
        handle = run(client.submit(ENDPOINT, ARGS))
        assert late.count("submit") == 1 and list(late.jobs) == [handle.request_id]
        assert [e.reason for e in retries] == ["ConnectError"]
        record(
            "submit:connect_refused@submit",
            fault="connect refused (closed port)",
            route="submit",
            phase="submit",
            outcome="ok",
            submits=1,
            jobs=1,
            retries=len(retries),
        )
    finally:
        holder.close()
        late.stop()


def test_rate_limit_on_submit_honours_retry_after(fal_env):
    ctx = Ctx(fal_env, None)
    fal_env.inject("submit", "rate_limit", retry_after=0.2)
    run(ctx.client().submit(ENDPOINT, ARGS))
    assert [e.delay_s for e in ctx.retries] == [0.2]
    assert len(fal_env.jobs) == 1


def test_stuck_queue_is_cancelled_at_the_queue_wait_limit(fal_env):
    emu = fal_env
    emu.inject_job("stuck_queue")
    ctx = Ctx(emu, None)
    client = ctx.client(limits=WaitLimits(queue_wait_s=0.4, processing_s=None))

    async def flow():
        handle = await client.submit(ENDPOINT, ARGS)
        with pytest.raises(FalTimeoutError) as info:
            await client.wait(handle)
        return handle, info.value

    handle, error = run(flow())
    assert "cancelled" in str(error) and "nothing was charged" in str(error)
    assert error.error_type == "queue_wait_limit"
    assert error.request_id == handle.request_id
    assert emu.count("cancel") == 1 and emu.jobs[handle.request_id].cancelled
    assert emu.count("submit") == 1
    record(
        "wait:stuck_queue(job)",
        fault="stuck_queue (job)",
        route="status_stream",
        phase="wait (SSE)",
        outcome="FalTimeoutError + cancel sent",
        submits=1,
        jobs=1,
        retries=len(ctx.retries),
    )


def test_runner_error_is_a_server_error_with_type_and_request_id(fal_env):
    emu = fal_env
    emu.inject_job("runner_error", error_type="runner_disconnected", status=503)
    ctx = Ctx(emu, None)
    client = ctx.client()

    async def flow():
        handle = await client.submit(ENDPOINT, ARGS)
        with pytest.raises(FalServerError) as waited:
            await client.wait(handle)
        with pytest.raises(FalServerError) as fetched:  # the result route answers the app's 503
            await client.result(handle)
        return handle, waited.value, fetched.value

    handle, waited, fetched = run(flow())
    assert (waited.error_type, waited.request_id) == ("runner_disconnected", handle.request_id)
    assert (fetched.status, fetched.error_type, fetched.request_id) == (
        503,
        "runner_disconnected",
        handle.request_id,
    )
    assert emu.count("result") == 1  # an app 503 (with x-fal-request-id) is not retried client-side
    record(
        "wait:runner_error(job)",
        fault="runner_error (job)",
        route="status_stream",
        phase="wait + result",
        outcome="FalServerError(runner_disconnected)",
        submits=emu.count("submit"),
        jobs=1,
        retries=len(ctx.retries),
    )


def test_locked_account_fails_uploads_and_submits(fal_env):
    fal_env.locked = True
    client = Ctx(fal_env, None).client()
    for call in (
        client.upload(b"x", content_type="image/png", file_name="a.png"),
        client.submit(ENDPOINT, ARGS),
    ):
        with pytest.raises(FalAvatarError) as info:
            run(call)
        assert type(info.value).__name__ == "AccountLockedError" and "dashboard/billing" in str(info.value)
    assert fal_env.jobs == {}


def test_happy_path_uses_the_stream_owner_alias_urls_and_no_key_on_files(fal_env, tmp_path):
    emu = fal_env
    client = Ctx(emu, tmp_path).client()
    statuses = []

    async def flow():
        image = await client.upload(sample_png(64, 64), content_type="image/png", file_name="face.png")
        audio = await client.upload(sample_wav(1.0), content_type="audio/wav", file_name="speech.wav")
        handle = await client.submit("fal-ai/infinitalk", {**ARGS, "image_url": image, "audio_url": audio})
        done = await client.wait(handle, on_status=statuses.append)
        result = await client.result(handle)
        path = await client.download(result["video"]["url"], tmp_path / "v.mp4", request_id=handle.request_id)
        return handle, done, result, path

    handle, done, result, path = run(flow())
    assert done.done and path.stat().st_size == result["video"]["file_size"]
    assert statuses[-1].done and [e.message for e in statuses[-1].logs]  # cumulative logs arrived
    assert emu.routes() == [
        "token",
        "cdn_upload",
        "cdn_upload",
        "submit",
        "status_stream",
        "result",
        "file_get",
    ]
    by_route = {r.route: r for r in emu.requests}
    assert by_route["status_stream"].path == f"/fal-ai/infinitalk/requests/{handle.request_id}/status/stream"
    assert by_route["cdn_upload"].headers["authorization"].startswith("Bearer ")
    assert "authorization" not in by_route["file_get"].headers
    secret = os.environ["FAL_KEY"].split(":", 1)[1]
    assert all(
        secret not in json.dumps(r.headers) for r in emu.requests if r.route in ("cdn_upload", "file_get")
    )


def test_sub_path_endpoint_and_reattach_by_request_id(fal_env):
    emu = fal_env
    client = Ctx(emu, None).client(use_stream=False)

    async def flow():
        handle = await client.submit("fal-ai/infinitalk/single-text", {"prompt": "x"})
        again = QueueHandle.for_request("fal-ai/infinitalk/single-text", handle.request_id, emu.base_url)
        assert again == handle  # the server's URLs are owner/alias only, like the rebuilt ones
        await client.wait(again)
        return handle

    handle = run(flow())
    assert emu.jobs[handle.request_id].endpoint_id == "fal-ai/infinitalk/single-text"
    assert all("/single-text/requests/" not in r.path for r in emu.requests)


def test_cancel_outcomes_against_the_emulator(fal_env):
    emu = fal_env
    client = Ctx(emu, None).client()

    async def flow():
        handle = await client.submit(ENDPOINT, ARGS)
        await client.wait(handle)
        finished = await client.cancel(handle)
        unknown = await client.cancel(QueueHandle.for_request(ENDPOINT, "no-such-request", emu.base_url))
        return finished, unknown

    assert run(flow()) == (CancelOutcome.ALREADY_COMPLETED, CancelOutcome.NOT_FOUND)


@pytest.mark.parametrize("use_stream", [True, False], ids=["stream", "polling"])
def test_cancelling_a_wait_task_is_prompt(fal_env, use_stream):
    emu = fal_env
    emu.inject_job("stuck_queue")
    client = Ctx(emu, None).client(use_stream=use_stream)

    async def flow():
        handle = await client.submit(ENDPOINT, ARGS)
        task = asyncio.ensure_future(client.wait(handle))
        route = "status_stream" if use_stream else "status"
        while emu.count(route) == 0 and not task.done():
            await asyncio.sleep(0.01)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)  # safety net only
        return handle, task, done

    handle, task, done = run(flow())
    assert task in done and task.cancelled()
    assert (
        emu.count("cancel") == 0 and not emu.jobs[handle.request_id].cancelled
    )  # only the wait was cancelled


def test_real_multipart_above_100_mib_streams_from_disk(fal_env, tmp_path):
    """The one test with a file above the real 100 MiB threshold (11 parts of 10 MiB)."""
    path = tmp_path / "large.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for index in range(101):
            chunk = index.to_bytes(4, "big") * (256 * 1024)  # 1 MiB, different per MiB
            fh.write(chunk)
            digest.update(chunk)
        fh.write(b"end")
        digest.update(b"end")
    progress = []
    url = run(
        Ctx(fal_env, tmp_path)
        .client()
        .upload(
            path, content_type="video/mp4", file_name="large.mp4", on_progress=lambda d, t: progress.append(d)
        )
    )
    assert fal_env.count("multipart_part") == 11 and fal_env.count("multipart_complete") == 1
    assert hashlib.sha256(fal_env.files[url[len(fal_env.base_url) :]].data).hexdigest() == digest.hexdigest()
    assert progress[-1] == path.stat().st_size


def test_file_exists_against_the_emulator(fal_env):
    client = Ctx(fal_env, None).client()

    async def flow():
        url = await client.upload(b"hello", content_type="text/plain", file_name="a.txt")
        return await client.file_exists(url), await client.file_exists(
            fal_env.base_url + "/files/none/missing.txt"
        )

    assert run(flow()) == (True, False)
    heads = [r for r in fal_env.requests if r.route == "file_get"]
    assert [r.method for r in heads] == ["HEAD", "HEAD"] and all(
        "authorization" not in r.headers for r in heads
    )


def test_the_key_never_reaches_the_logs(fal_env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # ours, httpx's and httpcore's records, everything
    fal_env.inject("submit", "ingress_502")
    fal_env.inject("result", "http_500")
    client = Ctx(fal_env, tmp_path).client()

    async def flow():
        url = await client.upload(b"x" * 100, content_type="text/plain", file_name="a.txt")
        handle = await client.submit(ENDPOINT, ARGS)
        await client.wait(handle)
        with pytest.raises(FalServerError) as info:
            await client.result(handle)
        await client.download(url, tmp_path / "a.txt")
        return info.value

    error = run(flow())
    secret = os.environ["FAL_KEY"].split(":", 1)[1]
    assert caplog.records and secret not in caplog.text
    assert secret not in str(error) and secret not in repr(error) and secret not in repr(client)
