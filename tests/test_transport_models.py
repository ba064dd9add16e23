"""Endpoint ids, queue URLs, status parsing, retry arithmetic, SSE parsing (pure, no network)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from comfyui_fal_avatar.nodes.errors import FalServerError, InputError
from comfyui_fal_avatar.nodes.fal import AppId, CancelOutcome, LogEntry, QueueHandle, QueueStatus, RetryPolicy
from comfyui_fal_avatar.nodes.fal.cdn_token import parse_expiry
from comfyui_fal_avatar.nodes.fal.retry import parse_retry_after
from comfyui_fal_avatar.nodes.fal.sse import SSEParser
from comfyui_fal_avatar.nodes.fal.upload import data_uri, header_file_name
from comfyui_fal_avatar.nodes.fal.waiter import PollSchedule, merge_logs


@pytest.mark.parametrize(
    "endpoint, base, full, path, namespace",
    [
        ("fal-ai/infinitalk", "fal-ai/infinitalk", "fal-ai/infinitalk", None, None),
        (
            "fal-ai/infinitalk/video-to-video",
            "fal-ai/infinitalk",
            "fal-ai/infinitalk/video-to-video",
            "video-to-video",
            None,
        ),
        (
            "fal-ai/ai-avatar/multi/text",
            "fal-ai/ai-avatar",
            "fal-ai/ai-avatar/multi/text",
            "multi/text",
            None,
        ),
        (
            "workflows/me/flow/sub/path",
            "workflows/me/flow",
            "workflows/me/flow/sub/path",
            "sub/path",
            "workflows",
        ),
        ("comfy/me/flow", "comfy/me/flow", "comfy/me/flow", None, "comfy"),
        ("12345-my-app", "12345/my-app", "12345/my-app", None, None),
    ],
)
def test_app_id_parse(endpoint, base, full, path, namespace):
    app = AppId.parse(endpoint)
    assert (app.base, app.full, app.path, app.namespace) == (base, full, path, namespace)


@pytest.mark.parametrize("bad", ["infinitalk", "", "workflows/only", "a//b"])
def test_app_id_rejects_bad_ids(bad):
    with pytest.raises(InputError) as info:
        AppId.parse(bad)
    assert "endpoint_id" in str(info.value)


@pytest.mark.parametrize(
    "endpoint, expected_base",
    [
        ("fal-ai/infinitalk/video-to-video", "https://queue.fal.run/fal-ai/infinitalk/requests/abc"),
        ("workflows/me/flow/sub/path", "https://queue.fal.run/workflows/me/flow/requests/abc"),
        ("12345-my-app", "https://queue.fal.run/12345/my-app/requests/abc"),
    ],
)
def test_handle_for_request_uses_owner_alias_only(endpoint, expected_base):
    handle = QueueHandle.for_request(endpoint, "abc", "https://queue.fal.run/")
    assert handle.response_url == expected_base
    assert handle.status_url == expected_base + "/status"
    assert handle.cancel_url == expected_base + "/cancel"
    assert QueueHandle.from_dict(handle.to_dict()) == handle


def test_status_parsing_three_states():
    queued = QueueStatus.from_json({"status": "IN_QUEUE", "queue_position": 3, "logs": None})
    assert (queued.state, queued.queue_position, queued.logs, queued.done) == ("IN_QUEUE", 3, (), False)
    running = QueueStatus.from_json(
        {
            "status": "IN_PROGRESS",
            "logs": [
                {"message": "step 1", "level": "INFO", "source": "USER", "timestamp": "2025-01-01T00:00:00Z"}
            ],
        }
    )
    assert running.logs == (LogEntry("step 1", "INFO", "2025-01-01T00:00:00Z"),)
    assert running.queue_position is None
    done = QueueStatus.from_json(
        {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 1.5}}, request_id="r1"
    )
    assert done.done and not done.failed and done.metrics == {"inference_time": 1.5}
    assert done.request_id == "r1"
    failed = QueueStatus.from_json(
        {
            "status": "COMPLETED",
            "logs": [],
            "error": "Runner disconnected",
            "error_type": "runner_disconnected",
        }
    )
    assert failed.failed and failed.error_type == "runner_disconnected"


@pytest.mark.parametrize("body", [{"status": "FAILED"}, {"status": "CANCELLED"}, {}, ["x"], None])
def test_unknown_status_is_a_protocol_error_not_a_crash(body):
    with pytest.raises(FalServerError) as info:
        QueueStatus.from_json(body, request_id="rid-9")
    assert "unknown job status" in str(info.value)
    assert info.value.request_id == "rid-9"


def test_cancel_outcome_codes():
    assert CancelOutcome("CANCELLATION_REQUESTED") is CancelOutcome.REQUESTED


def test_backoff_is_jittered_exponential_and_capped():
    policy = RetryPolicy(base_s=0.25, cap_s=10.0, jitter=0.5)
    for attempt, nominal in [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(nominal * 0.5 <= d <= nominal * 1.5 for d in delays)
        assert len(delays) > 1
    assert all(policy.delay(30) <= 10.0 for _ in range(50))
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=999.0) == policy.retry_after_cap_s


def test_retry_after_seconds_and_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_expiry_needs_offset_aware_parsing():
    assert parse_expiry("2030-01-01T00:00:00+00:00") == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_expiry("2030-01-01T00:00:00Z") == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_expiry("2030-01-01T02:00:00+02:00") == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_expiry("2030-01-01T00:00:00").utcoffset() == timedelta(0)


def test_sse_parser_data_events_and_keepalives():
    parser = SSEParser()
    lines = [
        ": ping",
        "",
        "event: status",
        'data: {"status":',
        'data: "IN_QUEUE"}',
        "",
        "data:x",
        "id: 1",
        "",
    ]
    events = [e for e in (parser.feed(line) for line in lines) if e is not None]
    assert events == ['{"status":\n"IN_QUEUE"}', "x"]


def test_poll_schedule_starts_fast_and_settles_at_one_second():
    intervals = PollSchedule().intervals()
    first = [next(intervals) for _ in range(12)]
    assert first[0] <= 0.25
    assert first == sorted(first)
    assert first[-1] == 1.0
    # a 10-minute wait costs at most about one request per second
    total, count = 0.0, 0
    intervals = PollSchedule().intervals()
    while total < 600:
        total += next(intervals)
        count += 1
    assert count <= 610


def test_merge_logs_cumulative_and_incremental():
    a, b, c = LogEntry("a"), LogEntry("b"), LogEntry("c")
    assert merge_logs((a,), (a, b)) == (a, b)  # polling: full list
    assert merge_logs((a, b), (c,)) == (a, b, c)  # stream: increments
    assert merge_logs((a, b), (b, c)) == (a, b, c)


def test_data_uri_and_header_file_name():
    assert data_uri(b"hi", "text/plain") == "data:text/plain;base64,aGk="
    assert header_file_name("dir/ünïcode name.png") == "n_code_name.png"
    assert header_file_name("...") == "upload.bin"
