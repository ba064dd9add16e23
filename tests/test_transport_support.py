"""Helpers shared by the transport tests (this module holds no tests itself)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx

from comfyui_fal_avatar.nodes.credentials import Credentials
from comfyui_fal_avatar.nodes.fal import FalClient, PollSchedule, RetryPolicy
from comfyui_fal_avatar.nodes.settings import FalUrls, WaitLimits

KEY = "kid-123:very-secret-part"
URLS = FalUrls(queue="https://queue.test", rest="https://rest.test", cdn="https://cdn.test")
FAST = RetryPolicy(attempts=4, base_s=0.001, cap_s=0.005, retry_after_cap_s=0.05)
FAST_POLL = PollSchedule(first_s=0.005, factor=1.5, max_s=0.02)
REQ = "11111111-2222-3333-4444-555555555555"


def run(coro):
    return asyncio.run(coro)


class Recorder:
    """A MockTransport handler that records every request and answers from ``handler``."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def paths(self, method: str | None = None) -> list[str]:
        return [r.url.path for r in self.requests if method is None or r.method == method]

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)


def make_client(handler, *, limits: WaitLimits | None = None, retry: RetryPolicy = FAST, **kw):
    recorder = handler if isinstance(handler, Recorder) else Recorder(handler)
    client = FalClient(
        Credentials(key=KEY, source="env"),
        URLS,
        limits or WaitLimits(queue_wait_s=None, processing_s=None),
        retry=retry,
        poll=FAST_POLL,
        transport=httpx.MockTransport(recorder),
        **kw,
    )
    return client, recorder


def jresp(status: int, body, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )


def submit_body(base: str = "https://queue.test/fal-ai/infinitalk", request_id: str = REQ) -> dict:
    root = f"{base}/requests/{request_id}"
    return {
        "status": "IN_QUEUE",
        "request_id": request_id,
        "status_url": f"{root}/status",
        "response_url": root,
        "cancel_url": f"{root}/cancel",
        "queue_position": 0,
    }


NGINX = b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"
