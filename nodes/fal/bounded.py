"""Bounded reads of fal's answers: every answer that is not a video download is read with a size cap, an
overall deadline and a nesting limit before it is parsed as JSON.

httpx's timeouts bound the silence between two reads, not a whole answer: a server that sends one byte a
second, or an endless body, would otherwise keep a call (and the memory of its body) growing for ever, and
``json.loads`` of 100,000 nested ``[`` raises ``RecursionError``. Each kind of answer has a cap suited to
what fal really sends (a schema is a few hundred KB, a queue answer a few KB).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
MIB = 1024 * 1024
MAX_DEPTH = 200  # fal's OpenAPI documents nest about 15 levels; json.loads recurses once per level
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN, _CLOSE = list(b"[{"), list(b"]}")
_DROPPED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


@dataclass(frozen=True)
class ReadLimit:
    """At most ``max_bytes`` (decoded) within ``deadline_s`` seconds from the start of the exchange."""

    max_bytes: int
    deadline_s: float


SCHEMA = ReadLimit(max_bytes=8 * MIB, deadline_s=10.0)  # fal's OpenAPI document of one endpoint
QUEUE_ANSWER = ReadLimit(
    max_bytes=8 * MIB, deadline_s=180.0
)  # submit/status (with logs)/result/cancel/history
SMALL_ANSWER = ReadLimit(max_bytes=256 * 1024, deadline_s=60.0)  # CDN token, upload answers, error bodies
PROBE_ANSWER = ReadLimit(max_bytes=64 * 1024, deadline_s=5.0)  # GET / of a host: only the status matters
SSE_EVENT_BYTES = 8 * MIB  # one status event of the stream (its logs included)


class AnswerTooLarge(Exception):
    """The body went past its cap; the connection was closed."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"more than {limit / MIB:.2g} MB" if limit >= MIB else f"more than {limit // 1024} KB"
        )


class NotJson(ValueError):
    """The body is not a JSON document this pack can read (nested too deeply, or not JSON)."""


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """``await awaitable``, or asyncio.TimeoutError after ``seconds``. A cancel from outside stays a cancel
    (``asyncio.wait_for`` before Python 3.12 can swallow one that arrives as the awaitable finishes, so a
    cancelled wait would go on polling)."""
    if hasattr(asyncio, "timeout"):  # Python 3.11+: tells its own cancel from the caller's
        async with asyncio.timeout(seconds):
            return await awaitable
    task = asyncio.current_task()
    fired = False

    def fire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(seconds, fire)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if fired:  # Python 3.10 cannot tell a caller's cancel at the very same moment from this one
            raise asyncio.TimeoutError from None
        raise
    finally:
        timer.cancel()


async def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body of a streamed ``response``, or AnswerTooLarge past ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise AnswerTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def lines(response: httpx.Response, max_line: int) -> AsyncIterator[str]:
    """The body's lines, without their line ends; AnswerTooLarge for a line longer than ``max_line`` bytes
    (httpx's own ``aiter_lines`` keeps a line that never ends in memory without limit)."""
    tail: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        while (end := chunk.find(b"\n")) >= 0:
            yield (b"".join(tail) + chunk[:end]).decode("utf-8", "replace").rstrip("\r")
            tail, size, chunk = [], 0, chunk[end + 1 :]
        size += len(chunk)
        if size > max_line:
            raise AnswerTooLarge(max_line)
        if chunk:
            tail.append(chunk)
    if tail:
        yield b"".join(tail).decode("utf-8", "replace").rstrip("\r")


def buffered(response: httpx.Response, body: bytes) -> httpx.Response:
    """A fully read copy of a streamed ``response`` holding ``body`` (already decoded)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DROPPED_HEADERS]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


def nests_deeper_than(data: bytes, limit: int) -> bool:
    """Whether ``[`` and ``{`` nest more than ``limit`` levels in a JSON text (not counting in strings)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    import numpy as np

    text = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    steps = np.isin(text, _OPEN).astype(np.int64) - np.isin(text, _CLOSE)
    return int(np.cumsum(steps).max(initial=0)) > limit


def json_value(data: bytes | str | httpx.Response) -> Any:
    """``data`` parsed as JSON; NotJson (a ValueError) when it is not JSON or nests too deeply to parse."""
    if isinstance(data, httpx.Response):
        data = data.content
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if nests_deeper_than(raw, MAX_DEPTH):
        raise NotJson(f"it nests more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise NotJson(f"it is not JSON ({exc})") from None
