"""Recover a finished (or still running) fal request by its id, without paying again.

Used by `fal-avatar fetch` and the FalAvatarFetchResult node: the local copy if the journal has one and it
is whole, otherwise fal's stored result (kept about an hour after completion), downloaded into the media
store and checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from ..avatar.endpoints import EndpointSpec, endpoint
from ..errors import InputError
from ..fal.models import QueueHandle
from ..services import Services
from ..states import Phase
from .follow import JobFollower, result_video_url
from .generate import GenerationOutcome
from .result_extras import read_extras
from .status import RunStatus, StatusBoard


async def fetch_result(
    endpoint_id: str,
    request_id: str,
    *,
    services: Services,
    sink: Callable[[RunStatus], None] | None = None,
    thorough: bool = False,
) -> GenerationOutcome:
    """The request's result video. A local copy is header-checked, or fully decoded with ``thorough``; a
    damaged one is downloaded again (free while fal keeps it)."""
    request_id = request_id.strip()
    if not request_id:
        raise InputError("is empty; paste the request id shown by the generation node", field="request_id")
    try:
        spec = endpoint(endpoint_id)
    except KeyError as exc:
        raise InputError(str(exc.args[0]), field="endpoint") from None
    board = StatusBoard(spec.endpoint_id, sink)
    board.update(Phase.VALIDATING, request_id=request_id, detail="looking up the journal")
    follower = JobFollower(services, board)
    entry = await asyncio.to_thread(services.journal.get, request_id)
    if entry is not None and entry.local_path and entry.result:
        path = await follower.stored_copy(request_id, entry.result, thorough=thorough)
        if path is not None:
            board.update(Phase.CACHED, detail="local copy, no download")
            return _outcome(spec, request_id, path, entry.result)
    if entry is not None and entry.handle:
        handle = QueueHandle.from_dict(entry.handle)
    else:
        handle = QueueHandle.for_request(spec.endpoint_id, request_id, services.client.urls.queue)
        await asyncio.to_thread(services.journal.adopt, spec.endpoint_id, handle.to_dict())
    ticker = asyncio.ensure_future(board.tick_forever())
    try:
        result = entry.result if entry is not None and entry.result else await follower.result(handle)
        path = await follower.download(handle, result)
    finally:  # an interrupt only stops waiting: the job was submitted elsewhere and is not ours to cancel
        ticker.cancel()
    return _outcome(spec, request_id, path, result)


def _outcome(spec: EndpointSpec, request_id: str, path: Path, result: dict) -> GenerationOutcome:
    return GenerationOutcome(
        path=path,
        request_id=request_id,
        endpoint_id=spec.endpoint_id,
        video_url=result_video_url(result, request_id),
        result=result,
        plan=None,
        reused=True,
        extras=read_extras(result, spec.output_extras),
    )
