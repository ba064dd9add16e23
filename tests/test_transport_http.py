"""Queue calls over httpx.MockTransport: URLs, error mapping, retry decisions, where the key goes."""

from __future__ import annotations

import json

import httpx
import pytest
from test_transport_support import KEY, NGINX, REQ, URLS, jresp, make_client, run, submit_body

from comfyui_fal_avatar.nodes.credentials import Credentials
from comfyui_fal_avatar.nodes.errors import (
    AccountLockedError,
    AuthError,
    ConfigError,
    FalAvatarError,
    FalServerError,
    FalTimeoutError,
    FalValidationError,
    MissingKeyError,
    NotFoundError,
    RateLimitedError,
    SubmitOutcomeUnknownError,
)
from comfyui_fal_avatar.nodes.fal import CancelOutcome, FalClient, QueueHandle
from comfyui_fal_avatar.nodes.settings import FalUrls

HANDLE = QueueHandle.for_request("fal-ai/infinitalk/video-to-video", REQ, URLS.queue)


# --- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint, submit_path, base",
    [
        ("fal-ai/infinitalk/video-to-video", "/fal-ai/infinitalk/video-to-video", "fal-ai/infinitalk"),
        ("workflows/me/flow/sub", "/workflows/me/flow/sub", "workflows/me/flow"),
        ("12345-my-app", "/12345/my-app", "12345/my-app"),
    ],
)
def test_submit_uses_full_id_and_server_urls(endpoint, submit_path, base):
    expected_id = submit_path.lstrip("/")
    returned = submit_body(f"https://queue.test/{base}")

    def handler(request):
        assert request.method == "POST"
        assert request.url.path == submit_path
        assert request.headers["content-type"] == "application/json"
        assert request.headers["authorization"] == f"Key {KEY}"
        return jresp(200, returned)

    client, rec = make_client(handler)
    handle = run(client.submit(endpoint, {"prompt": "hi"}, headers={"X-Fal-Queue-Priority": "low"}))
    assert handle.status_url == returned["status_url"]
    assert handle.response_url == returned["response_url"]
    assert handle.endpoint_id == expected_id
    assert rec.requests[0].headers["x-fal-queue-priority"] == "low"
    assert json.loads(rec.requests[0].content) == {"prompt": "hi"}


def test_submit_urls_on_a_foreign_host_are_rebuilt_on_the_configured_queue():
    def handler(request):
        return jresp(200, submit_body("https://elsewhere.example/fal-ai/infinitalk"))

    client, _ = make_client(handler)
    handle = run(client.submit("fal-ai/infinitalk/single-text", {}))
    assert handle.status_url == f"https://queue.test/fal-ai/infinitalk/requests/{REQ}/status"


def test_status_result_cancel_use_handle_urls():
    def handler(request):
        path = request.url.path
        if path.endswith("/status"):
            assert request.url.params["logs"] == "1"
            return jresp(202, {"status": "IN_PROGRESS", "logs": [{"message": "x"}]})
        if path.endswith("/cancel"):
            assert request.method == "PUT"
            return jresp(202, {"status": "CANCELLATION_REQUESTED"})
        return jresp(200, {"video": {"url": "https://cdn.test/v.mp4"}, "seed": 42})

    client, rec = make_client(handler)
    status = run(client.status(HANDLE))
    assert status.state == "IN_PROGRESS" and status.logs[0].message == "x"
    assert run(client.result(HANDLE))["seed"] == 42
    assert run(client.cancel(HANDLE)) is CancelOutcome.REQUESTED
    base = f"/fal-ai/infinitalk/requests/{REQ}"
    assert rec.paths() == [f"{base}/status", base, f"{base}/cancel"]


@pytest.mark.parametrize(
    "status, body, outcome",
    [
        (202, {"status": "CANCELLATION_REQUESTED"}, CancelOutcome.REQUESTED),
        (400, {"status": "ALREADY_COMPLETED"}, CancelOutcome.ALREADY_COMPLETED),
        (404, {"status": "NOT_FOUND"}, CancelOutcome.NOT_FOUND),
    ],
)
def test_cancel_outcomes_are_not_exceptions(status, body, outcome):
    client, rec = make_client(lambda r: jresp(status, body))
    assert run(client.cancel(HANDLE)) is outcome
    assert len(rec.requests) == 1


# --- error mapping -----------------------------------------------------------------------------

DETAIL_422 = [
    {
        "type": "greater_than_equal",
        "loc": ["body", "num_frames"],
        "msg": "Input should be greater than or equal to 41",
        "input": 10,
        "ctx": {"ge": 41},
    },
    {"type": "enum", "loc": ["body", "resolution"], "msg": "Input should be '480p' or '720p'"},
]


@pytest.mark.parametrize(
    "status, body, headers, error, words",
    [
        (
            401,
            {"detail": "No user found for Key ID and Secret"},
            {},
            AuthError,
            ["FAL_KEY", "saved", "No user found"],
        ),
        (
            403,
            {
                "detail": "User is locked. Reason: Exhausted balance. Top up your balance at "
                "fal.ai/dashboard/billing."
            },
            {},
            AccountLockedError,
            ["fal.ai/dashboard/billing", "Exhausted balance"],
        ),
        (
            422,
            {"detail": DETAIL_422},
            {},
            FalValidationError,
            ["num_frames: Input should be greater than or equal to 41", "resolution: Input should be"],
        ),
        (
            422,
            {"detail": "image_url: could not download the image"},
            {},
            FalValidationError,
            ["could not download the image"],
        ),
        (404, {"detail": "Path /xyz not found"}, {}, NotFoundError, ["Path /xyz not found"]),
        (
            500,
            {"detail": "Internal Server Error"},
            {"x-fal-request-id": "rid-5"},
            FalServerError,
            ["server error"],
        ),
        (
            503,
            {"detail": "Runner disconnected", "error_type": "runner_disconnected"},
            {"x-fal-request-id": "rid-5"},
            FalServerError,
            ["Runner disconnected"],
        ),
        (
            504,
            {"detail": "Request timed out", "error_type": "request_timeout"},
            {"x-fal-request-timeout-type": "user", "x-fal-request-id": "rid-5"},
            FalTimeoutError,
            ["start timeout"],
        ),
    ],
)
def test_error_mapping(status, body, headers, error, words):
    client, rec = make_client(lambda r: jresp(status, body, headers))
    with pytest.raises(error) as info:
        run(client.result(HANDLE))
    text = str(info.value)
    for word in words:
        assert word in text
    assert info.value.status == status
    assert info.value.request_id in (REQ, "rid-5")
    assert len(rec.requests) == 1  # none of these is retried
    if status == 422:
        assert len(info.value.items) == (2 if isinstance(body["detail"], list) else 1)


def test_error_type_from_header_and_request_id_from_header():
    response = jresp(
        503,
        {"detail": "GPU error"},
        {"x-fal-error-type": "runner_scheduling_failure", "x-fal-request-id": "from-header"},
    )
    client, _ = make_client(lambda r: response)
    with pytest.raises(FalServerError) as info:
        run(client.status(HANDLE))
    assert info.value.error_type == "runner_scheduling_failure"
    assert info.value.request_id == "from-header"


def test_unknown_status_from_server_is_a_protocol_error():
    client, _ = make_client(lambda r: jresp(200, {"status": "CANCELLED"}))
    with pytest.raises(FalServerError, match="unknown job status"):
        run(client.status(HANDLE))


# --- retry decisions ---------------------------------------------------------------------------


def scripted(*responses):
    """Answer with ``responses`` in order (exceptions are raised), then repeat the last one."""
    items = list(responses)

    def handler(request):
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, Exception):
            raise item
        return item() if callable(item) else item

    return handler


def ingress(status=502):
    return httpx.Response(status, content=NGINX, headers={"content-type": "text/html"})


OK_STATUS = jresp(200, {"status": "COMPLETED", "logs": None})


@pytest.mark.parametrize(
    "first, attempts",
    [
        (lambda: ingress(502), 2),
        (lambda: ingress(503), 2),
        (lambda: ingress(504), 2),
        (lambda: jresp(429, {"detail": "slow down"}), 2),
        (lambda: jresp(408, {"detail": "timeout"}), 2),
        (lambda: jresp(409, {"detail": "conflict"}), 2),
        (lambda: httpx.ReadTimeout("slow"), 2),
        (lambda: httpx.ReadError("reset"), 2),
        (lambda: httpx.RemoteProtocolError("dropped"), 2),
        (lambda: httpx.ConnectError("refused"), 2),
    ],
    ids=[
        "502-ingress",
        "503-ingress",
        "504-ingress",
        "429",
        "408",
        "409",
        "read-timeout",
        "read-error",
        "dropped",
        "connect-refused",
    ],
)
def test_idempotent_calls_retry_transient_failures(first, attempts):
    item = first()
    client, rec = make_client(scripted(item if isinstance(item, Exception) else lambda: first(), OK_STATUS))
    assert run(client.status(HANDLE)).done
    assert len(rec.requests) == attempts


@pytest.mark.parametrize(
    "response",
    [
        jresp(502, {"detail": "bad gateway"}, {"x-fal-request-id": "r"}),  # app 502, not ingress
        httpx.Response(503, content=NGINX, headers={"x-fal-request-id": "r"}),  # reached fal: not ingress
        httpx.Response(504, content=NGINX, headers={"x-fal-request-timeout-type": "user"}),
        jresp(500, {"detail": "Internal Server Error"}),
        jresp(422, {"detail": DETAIL_422}),
        jresp(400, {"detail": "bad"}),
    ],
    ids=["app-502", "503-with-request-id", "504-user-timeout", "500", "422", "400"],
)
def test_never_retried(response):
    client, rec = make_client(lambda r: response)
    with pytest.raises(FalAvatarError):
        run(client.status(HANDLE))
    assert len(rec.requests) == 1


def test_retries_stop_after_the_budget_with_the_right_error():
    client, rec = make_client(lambda r: jresp(429, {"detail": "rate limited"}))
    with pytest.raises(RateLimitedError):
        run(client.result(HANDLE))
    assert len(rec.requests) == 4  # FAST.attempts

    client, rec = make_client(scripted(httpx.ReadTimeout("slow")))
    with pytest.raises(FalTimeoutError):
        run(client.status(HANDLE))
    assert len(rec.requests) == 4

    client, rec = make_client(scripted(httpx.ConnectError("refused")))
    with pytest.raises(FalAvatarError, match="Could not reach fal"):
        run(client.status(HANDLE))
    assert len(rec.requests) == 4


def test_retry_after_is_honoured_seconds_and_date():
    events = []
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: retry at once
    client, rec = make_client(
        scripted(
            jresp(429, {}, {"retry-after": "0.03"}),
            jresp(503, NGINX.decode(), {"retry-after": date}),
            OK_STATUS,
        ),
        on_retry=events.append,
    )
    assert run(client.status(HANDLE)).done
    assert [e.delay_s for e in events] == [0.03, 0.0]
    assert [e.reason for e in events] == ["HTTP 429", "HTTP 503"]

    events.clear()
    client, _ = make_client(
        scripted(jresp(429, {}, {"retry-after": "120"}), OK_STATUS), on_retry=events.append
    )
    run(client.status(HANDLE))
    assert events[0].delay_s == 0.05  # capped at retry_after_cap_s


# --- submit: never two jobs for one intent -------------------------------------------------------

SUBMITTED = jresp(200, submit_body())


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route"), httpx.PoolTimeout("pool")],
    ids=["connect-error", "connect-timeout", "pool-timeout"],
)
def test_submit_retries_when_nothing_was_sent(failure):
    client, rec = make_client(scripted(failure, SUBMITTED))
    assert run(client.submit("fal-ai/infinitalk", {})).request_id == REQ
    assert len(rec.requests) == 2


@pytest.mark.parametrize(
    "first",
    [lambda: jresp(429, {}, {"retry-after": "0"}), lambda: ingress(502), lambda: ingress(503)],
    ids=["429", "ingress-502", "ingress-503"],
)
def test_submit_retries_when_fal_provably_made_no_job(first):
    client, rec = make_client(scripted(first(), SUBMITTED))
    run(client.submit("fal-ai/infinitalk", {}))
    assert len(rec.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("dropped"),
        httpx.WriteError("broken pipe"),
    ],
    ids=["read-timeout", "read-error", "dropped", "write-error"],
)
def test_submit_is_not_resent_after_an_ambiguous_failure(failure):
    client, rec = make_client(scripted(failure, SUBMITTED))
    with pytest.raises(SubmitOutcomeUnknownError) as info:
        run(client.submit("fal-ai/infinitalk", {}))
    assert len(rec.requests) == 1
    text = str(info.value)
    assert "may exist" in text and "NOT sent again" in text and "fal.ai/dashboard" in text


@pytest.mark.parametrize(
    "response, error",
    [
        (jresp(408, {}), FalTimeoutError),
        (jresp(409, {}), FalAvatarError),
        (jresp(500, {}), FalServerError),
        (jresp(503, {"detail": "x"}, {"x-fal-request-id": "r"}), FalServerError),
        (jresp(422, {"detail": DETAIL_422}), FalValidationError),
    ],
    ids=["408", "409", "500", "app-503", "422"],
)
def test_submit_not_retried_on_other_errors(response, error):
    client, rec = make_client(lambda r: response)
    with pytest.raises(error):
        run(client.submit("fal-ai/infinitalk", {}))
    assert len(rec.requests) == 1


def test_submit_success_without_request_id_is_outcome_unknown():
    client, rec = make_client(lambda r: jresp(200, {"status": "IN_QUEUE"}))
    with pytest.raises(SubmitOutcomeUnknownError):
        run(client.submit("fal-ai/infinitalk", {}))
    assert len(rec.requests) == 1


# --- the key -----------------------------------------------------------------------------------


def test_key_never_in_errors_or_reprs():
    leaky = jresp(401, {"detail": f"bad header Key {KEY}"})
    client, _ = make_client(lambda r: leaky)
    with pytest.raises(AuthError) as info:
        run(client.status(HANDLE))
    for text in (str(info.value), repr(info.value), info.value.message, repr(client)):
        assert KEY not in text and "very-secret" not in text
    assert "very-secret" not in repr(Credentials(key=KEY, source="env"))


def test_key_only_goes_to_configured_queue_and_rest_origins():
    client, rec = make_client(lambda r: OK_STATUS)
    with pytest.raises(ConfigError, match="Refusing to send the fal key") as info:
        run(client.status(QueueHandle.for_request("fal-ai/x", "r", "https://evil.test")))
    assert rec.requests == [] and KEY not in str(info.value)
    # same host, other port or scheme: also refused
    for queue in ("https://queue.test:8443", "http://queue.test"):
        client, rec = make_client(lambda r: OK_STATUS)
        with pytest.raises(ConfigError):
            run(client.status(QueueHandle.for_request("fal-ai/x", "r", queue)))
        assert rec.requests == []
    client, rec = make_client(lambda r: OK_STATUS)
    run(client.status(QueueHandle.for_request("fal-ai/x", "r", "https://queue.test:443")))
    assert rec.requests[0].headers["authorization"] == f"Key {KEY}"


def test_missing_key_is_raised_lazily_with_variable_names():
    client = FalClient(urls=URLS, transport=httpx.MockTransport(lambda r: OK_STATUS))
    with pytest.raises(MissingKeyError) as info:
        run(client.status(HANDLE))
    assert "FAL_KEY" in str(info.value) and "FAL_KEY_SECRET" in str(info.value)


def test_settings_resolved_from_env_at_first_use(monkeypatch):
    monkeypatch.setenv("FAL_KEY", KEY)
    monkeypatch.setenv("FAL_QUEUE_URL", "https://q.example")
    seen = []
    client = FalClient(transport=httpx.MockTransport(lambda r: seen.append(r) or OK_STATUS))
    run(client.status(QueueHandle.for_request("fal-ai/x", "r", "https://q.example")))
    assert seen[0].headers["authorization"] == f"Key {KEY}"
    assert client.urls == FalUrls(
        queue="https://q.example", rest="https://rest.fal.ai", cdn="https://v3.fal.media"
    )


def test_one_pool_per_event_loop_and_never_a_dead_loop_client():
    client, _ = make_client(lambda r: OK_STATUS)
    pool = client._pool

    async def use():
        first = pool.client()
        await client.status(HANDLE)
        assert pool.client() is first  # shared within the loop
        return first

    one = run(use())
    two = run(use())  # a new asyncio.run loop, as ComfyUI does per prompt
    assert one is not two

    async def closed_then_reopened():
        first = pool.client()
        await client.aclose()
        assert first.is_closed
        again = pool.client()
        assert again is not first and not again.is_closed
        await client.status(HANDLE)

    run(closed_then_reopened())
