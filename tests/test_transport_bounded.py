"""Every answer that is not a video download is read with a size cap, an overall deadline and a nesting
limit: an endless, trickling or deeply nested body ends in one clear error, not in a growing process."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_transport_support import FAST, REQ, URLS, make_client, run, submit_body

from comfyui_fal_avatar.nodes.errors import (
    FalServerError,
    FalTimeoutError,
    SubmitOutcomeUnknownError,
    UnreadableAnswerError,
)
from comfyui_fal_avatar.nodes.fal import QueueHandle, bounded
from comfyui_fal_avatar.nodes.fal.sse import json_events

HANDLE = QueueHandle.for_request("fal-ai/infinitalk", REQ, URLS.queue)


class Endless(httpx.AsyncByteStream):
    """A JSON body that never ends; counts what was sent."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self):
        yield b'{"padding": "'
        while True:
            self.sent += 65536
            yield b"x" * 65536


class Trickle(httpx.AsyncByteStream):
    """One byte, then silence far longer than any deadline under test (the test's deadline ends it)."""

    async def __aiter__(self):
        yield b"{"
        await asyncio.sleep(3600)


def streamed(stream: httpx.AsyncByteStream):
    return lambda request: httpx.Response(200, stream=stream, headers={"content-type": "application/json"})


def test_an_endless_answer_stops_at_its_cap_and_says_too_large():
    body = Endless()
    client, _ = make_client(streamed(body))
    with pytest.raises(
        UnreadableAnswerError, match=r"fal's answer was too large \(status: https://queue\.test/"
    ):
        run(client.status(HANDLE))
    assert body.sent <= bounded.QUEUE_ANSWER.max_bytes + 65536


def test_a_trickling_answer_ends_at_the_overall_deadline_and_says_too_slow(monkeypatch):
    quick = bounded.ReadLimit(max_bytes=1024, deadline_s=0.2)
    monkeypatch.setattr("comfyui_fal_avatar.nodes.fal.http.QUEUE_ANSWER", quick)
    client, recorder = make_client(streamed(Trickle()))
    with pytest.raises(FalTimeoutError, match="fal's answer was too slow"):
        run(client.status(HANDLE))
    assert len(recorder.requests) == FAST.attempts  # retried, like any timeout of an idempotent call


def test_a_submit_whose_answer_is_endless_is_never_sent_again():
    client, recorder = make_client(streamed(Endless()))
    with pytest.raises(SubmitOutcomeUnknownError, match="too large"):
        run(client.submit("fal-ai/infinitalk", {"prompt": "x"}))
    assert len(recorder.requests) == 1


def test_deep_nesting_is_refused_before_json_parses_it():
    deep = b"[" * 100_000 + b"]" * 100_000
    client, _ = make_client(lambda request: httpx.Response(200, content=deep))
    with pytest.raises(FalServerError, match="not a JSON object"):
        run(client.status(HANDLE))
    with pytest.raises(bounded.NotJson, match="nests more than"):
        bounded.json_value(deep)
    assert bounded.json_value(b'{"a": "[[[[[[", "b": [[1]]}') == {"a": "[[[[[[", "b": [[1]]}
    shallow = b"[" * bounded.MAX_DEPTH + b"]" * bounded.MAX_DEPTH
    assert not bounded.nests_deeper_than(shallow, bounded.MAX_DEPTH)


def test_a_status_event_that_never_ends_falls_back_to_polling():
    async def events():
        return [event async for event in json_events(bounded.lines(response, 4096))]

    response = httpx.Response(200, stream=Endless())
    with pytest.raises(bounded.AnswerTooLarge):
        asyncio.run(events())
    response = httpx.Response(200, content=b'data: {"status": "IN_QUEUE"}\r\n\r\ndata: [1]\n\n')
    assert asyncio.run(events()) == [{"status": "IN_QUEUE"}, [1]]


def test_normal_answers_still_read(monkeypatch):
    client, _ = make_client(lambda request: httpx.Response(200, json=submit_body()))
    assert run(client.submit("fal-ai/infinitalk", {"prompt": "x"})).request_id == REQ


def test_a_cancel_that_arrives_as_the_awaited_status_does_stays_a_cancel():
    """The job waiter's bounded wait for the next status (Ctrl-C while a status arrives): asyncio.wait_for
    before Python 3.12 returns the status and drops the cancel, and the run then waits for a job nobody
    cancelled (a Ctrl-C'd CLI run went on generating, 3 times in 40 at load ~20)."""

    async def scenario() -> None:
        status = asyncio.get_running_loop().create_future()
        waiting = asyncio.ensure_future(bounded.within(60, status))
        await asyncio.sleep(0)  # it now awaits the status
        status.set_result({"status": "IN_PROGRESS"})  # the status arrives...
        waiting.cancel()  # ... and the user's cancel in the same turn of the loop
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert waiting.cancelled()

    asyncio.run(scenario())
