"""Uploading a generation's encoded inputs, each content hash once: a cached URL is reused while fal still
serves it, and runs of one event loop that need the same bytes at the same time (the segments of a long
run, identical inputs of parallel nodes) share one upload."""

from __future__ import annotations

import asyncio

from ..media.payload import Payload
from ..services import UPLOADS_IN_FLIGHT, Services
from ..states import Phase
from .status import StatusBoard, format_bytes


async def upload_all(services: Services, board: StatusBoard, payloads: dict[str, Payload]) -> dict[str, str]:
    """``{fal_field: url}`` for every payload, in order."""
    urls: dict[str, str] = {}
    for index, (fal_field, payload) in enumerate(payloads.items(), start=1):
        urls[fal_field] = await _upload_one(
            services, board, payload, f"{index}/{len(payloads)} {payload.file_name}"
        )
    return urls


async def _upload_one(services: Services, board: StatusBoard, payload: Payload, label: str) -> str:
    def joined() -> None:
        board.update(Phase.UPLOADING, detail=f"{label}: the same file is being uploaded for another run")

    return await UPLOADS_IN_FLIGHT.run(
        payload.sha256, lambda: _upload_fresh(services, board, payload, label), on_join=joined
    )


async def _upload_fresh(services: Services, board: StatusBoard, payload: Payload, label: str) -> str:
    cache, client = services.uploads, services.client
    cached = await asyncio.to_thread(cache.get, payload.sha256)
    if cached is not None:
        if await client.file_exists(cached):
            board.update(Phase.UPLOADING, detail=f"{label}: already on fal, not uploaded again")
            return cached
        await asyncio.to_thread(cache.forget, payload.sha256)

    def progress(done: int, size: int | None) -> None:
        size = size or payload.size
        board.update(
            Phase.UPLOADING,
            detail=f"{label} {format_bytes(done, size)}",
            progress=done / size if size else None,
        )

    progress(0, payload.size)
    source = payload.path if payload.path is not None else payload.data
    url = await client.upload(
        source, content_type=payload.content_type, file_name=payload.file_name, on_progress=progress
    )
    await asyncio.to_thread(cache.put, payload.sha256, url, payload.size)
    return url
