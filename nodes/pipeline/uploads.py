"""Uploading a generation's encoded inputs, each content hash once (a cached URL is reused while fal
still serves it).

Runs in one event loop that need the same file at the same time (a batch's rows sharing a portrait, parallel
nodes) share one upload, or one check of the cached URL; the URL is then reused by the loop's later runs for
``SHARED_S`` seconds without asking fal again.
"""

from __future__ import annotations

import asyncio
import time

from ..fal.pool import PerLoop
from ..media.payload import Payload
from .follow import Services
from .status import StatusBoard, format_bytes

SHARED_S = 300.0
# (storage host, content sha256) → (the task that gives the file's URL, when it was started)
_SHARED: PerLoop[dict[tuple[str, str], tuple[asyncio.Task, float]]] = PerLoop(dict)


async def upload_all(services: Services, board: StatusBoard, payloads: dict[str, Payload]) -> dict[str, str]:
    """``{fal_field: url}`` for every payload, in order."""
    urls: dict[str, str] = {}
    for index, (fal_field, payload) in enumerate(payloads.items(), start=1):
        urls[fal_field] = await _shared_url(services, board, payload, f"{index}/{len(payloads)} {payload.file_name}")
    return urls


async def _shared_url(services: Services, board: StatusBoard, payload: Payload, label: str) -> str:
    shared = _SHARED.get()
    key = (services.client.urls.rest, payload.sha256)
    entry = shared.get(key)
    if entry is not None and _usable(*entry):
        board.update("uploading", detail=f"{label}: the same file as another run; uploaded once")
        return await asyncio.shield(entry[0])
    task = asyncio.ensure_future(_upload_one(services, board, payload, label))
    task.add_done_callback(lambda done: _forget_failed(shared, key, done))
    shared[key] = (task, time.monotonic())
    return await asyncio.shield(task)  # the others waiting for it keep it going if this run is cancelled


def _usable(task: asyncio.Task, started: float) -> bool:
    if not task.done():
        return True
    return not task.cancelled() and task.exception() is None and time.monotonic() - started < SHARED_S


def _forget_failed(shared: dict, key: tuple[str, str], task: asyncio.Task) -> None:
    """A failed upload is not shared any more (the next run tries again); its error is the callers' to see."""
    if task.cancelled() or task.exception() is not None:
        if shared.get(key, (None,))[0] is task:
            del shared[key]


async def _upload_one(services: Services, board: StatusBoard, payload: Payload, label: str) -> str:
    cache, client = services.uploads, services.client
    cached = await asyncio.to_thread(cache.get, payload.sha256)
    if cached is not None:
        if await client.file_exists(cached):
            board.update("uploading", detail=f"{label}: already on fal, not uploaded again")
            return cached
        await asyncio.to_thread(cache.forget, payload.sha256)

    def progress(done: int, size: int | None) -> None:
        size = size or payload.size
        board.update("uploading", detail=f"{label} {format_bytes(done, size)}", progress=done / size if size else None)

    progress(0, payload.size)
    source = payload.path if payload.path is not None else payload.data
    url = await client.upload(
        source, content_type=payload.content_type, file_name=payload.file_name, on_progress=progress
    )
    await asyncio.to_thread(cache.put, payload.sha256, url, payload.size)
    return url
