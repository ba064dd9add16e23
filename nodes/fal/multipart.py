"""Multipart upload to fal's CDN v3 (as fal-client 1.0.3's ``MultipartUpload``): create, PUT parts (each
retried), complete."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from ..concurrency import Limit
from ..errors import FalServerError
from .bounded import json_value
from .http import Auth, FalHttp
from .source import Progress, UploadSource

PART_SIZE = 10 * 1024 * 1024
PART_CONCURRENCY = 4


async def _all_or_nothing(jobs: list[Awaitable[Any]]) -> list[Any]:
    """Like ``gather`` but the first failure cancels the remaining jobs."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def upload_multipart(
    http: FalHttp,
    source: UploadSource,
    *,
    base_url: str,
    token: str,
    content_type: str,
    file_name: str,
    progress: Progress,
    part_size: int | None = None,
) -> str:
    """Upload ``source`` in parts (``PART_SIZE`` unless given) and return its ``access_url``."""
    part_size = part_size or PART_SIZE
    created = await http.call(
        "POST",
        f"{base_url}/files/upload/multipart",
        what="multipart upload start",
        auth=Auth.BEARER,
        bearer=token,
        headers={"Accept": "application/json", "Content-Type": content_type, "X-Fal-File-Name": file_name},
    )
    try:
        info = json_value(created)
        access_url, upload_id = str(info["access_url"]).rstrip("/"), str(info["uploadId"])
    except (ValueError, KeyError, TypeError):
        raise FalServerError(
            "fal's CDN answered the multipart upload start without access_url/uploadId; try again.",
            status=created.status_code,
        ) from None
    count = max(1, -(-source.size // part_size))
    limit = Limit(PART_CONCURRENCY)

    async def put(number: int) -> dict[str, Any]:
        offset = (number - 1) * part_size
        length = min(part_size, source.size - offset)
        async with limit:
            response = await http.call(
                "PUT",
                f"{access_url}/multipart/{upload_id}/{number}",
                what=f"upload part {number}/{count}",
                auth=Auth.BEARER,
                bearer=token,
                body=source.body(offset, length, progress=progress, part=number),
                headers={
                    "Content-Type": content_type,
                    "Content-Length": str(length),
                    "Accept-Encoding": "identity",
                },
                timeout=http.timeouts.transfer,
            )
        etag = response.headers.get("etag")
        if not etag:
            raise FalServerError(
                f"fal's CDN accepted upload part {number} without an ETag; try again.",
                status=response.status_code,
            )
        return {"partNumber": number, "etag": etag}  # the ETag exactly as received, quotes included

    parts = await _all_or_nothing([put(number) for number in range(1, count + 1)])
    await http.call(
        "POST",
        f"{access_url}/multipart/{upload_id}/complete",
        what="multipart upload completion",
        auth=Auth.BEARER,
        bearer=token,
        json={"parts": parts},
        headers={"Accept": "application/json"},
    )
    return access_url
