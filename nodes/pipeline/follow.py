"""Following a submitted fal job to a local file: wait → result → download → check, journaled at each step.

Shared by new generations, re-attached jobs and the recovery tools (`fal-avatar fetch`, the
FalAvatarFetchResult node). A user interrupt cancels the job remotely unless it had already finished.
A download is stored as the result only once it decodes (:func:`~..media.verify.verify_video`); a damaged
one is downloaded again, which costs nothing while fal keeps the file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..errors import (
    DamagedDownloadError,
    DamagedResultGoneError,
    FalAvatarError,
    FalTimeoutError,
    FalValidationError,
    JobCancelledError,
    MediaDecodeError,
    NotFoundError,
)
from ..fal.models import CancelOutcome, QueueHandle, QueueStatus
from ..media.verify import check_header, verify_video
from ..services import Services
from ..states import Phase
from .status import StatusBoard, format_bytes

WAIT_LIMITS = (
    "queue_wait_limit",
    "processing_limit",
)  # FalTimeoutError types after which fal cancelled the job
DOWNLOAD_TRIES = 3  # downloads of a result that keeps arriving damaged before the run gives up (each is free)


def result_video_url(result: dict, request_id: str | None = None) -> str:
    """The output video URL of an avatar result (``{"video": {"url": ...}}``)."""
    video = result.get("video") if isinstance(result, dict) else None
    url = video.get("url") if isinstance(video, dict) else video
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise FalAvatarError(
            f"fal's result has no usable video URL (got {url!r}); the result JSON is kept in the journal.",
            request_id=request_id,
        )
    return url


def result_file_size(result: dict | None) -> int | None:
    """The size fal states for the result video (``video.file_size``), if it gave one."""
    video = result.get("video") if isinstance(result, dict) else None
    size = video.get("file_size") if isinstance(video, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


def media_name(request_id: str) -> str:
    """The media store's name for a request's result video."""
    return f"{request_id}.mp4"


class JobFollower:
    """Waits for one fal job, stores its result and media; cancels it on interrupt."""

    def __init__(self, services: Services, board: StatusBoard) -> None:
        self.services = services
        self.board = board
        self.handle: QueueHandle | None = None
        self.finished = False  # fal finished the job (success or failure): nothing left to cancel
        self.damaged: MediaDecodeError | None = None  # why the stored copy was refused (see stored_copy)
        self.cancelled_remote = False  # a user interrupt cancelled the running fal job

    async def result(self, handle: QueueHandle) -> dict:
        """Wait for the job and return its result JSON (stored in the journal at once).

        Only what fal says about the job itself ends its journal entry; trouble reaching fal (network,
        a 5xx on one poll) leaves it "submitted", so the next run re-attaches instead of paying again.
        """
        self.handle = handle
        journal, client = self.services.journal, self.services.client
        try:
            await client.wait(handle, on_status=self._on_status)
        except (FalTimeoutError, JobCancelledError) as exc:
            if isinstance(exc, JobCancelledError) or exc.error_type in WAIT_LIMITS:
                # Cancelled on fal (by the wait limit, or elsewhere): nothing was generated.
                self.finished = True
                await asyncio.to_thread(journal.mark_cancelled, handle.request_id)
            raise
        except FalAvatarError as exc:
            # The job ended COMPLETED with an error, or fal does not know the request (any more).
            if (exc.status is None and exc.error_type) or isinstance(exc, NotFoundError):
                self.finished = True
                await asyncio.to_thread(journal.mark_failed, handle.request_id, str(exc))
                raise
            raise exc.with_hint(
                f"The fal job {handle.request_id} may still be running (and billed): run again "
                "to re-attach to it at no extra cost."
            ) from None
        self.finished = True
        try:
            result = await client.result(handle)
        except (FalValidationError, NotFoundError) as exc:  # the model rejected it, or fal has no result
            await asyncio.to_thread(journal.mark_failed, handle.request_id, str(exc))
            raise
        except FalAvatarError as exc:
            raise exc.with_hint(
                f"The fal job {handle.request_id} has finished: run again to fetch its result "
                "at no extra cost."
            ) from None
        await asyncio.to_thread(journal.mark_completed, handle.request_id, result)
        return result

    async def stored_copy(
        self, request_id: str, result: dict | None, *, thorough: bool = False
    ) -> Path | None:
        """The stored result video if it is whole: headers and packet index checked (cheap), or every
        frame decoded with ``thorough``. ``None`` if it is gone or damaged (then ``self.damaged`` says why);
        either way :meth:`download` gets it again, free while fal keeps it."""
        path = await asyncio.to_thread(self.services.media.get, media_name(request_id))
        if path is None:
            return None
        check = verify_video if thorough else check_header
        try:
            await asyncio.to_thread(
                check, path, request_id=request_id, expected_size=result_file_size(result)
            )
        except MediaDecodeError as exc:
            self.damaged = exc
            self.board.update(
                Phase.CACHED, request_id=request_id, detail=f"the stored copy is damaged ({exc.detail})"
            )
            return None
        return path

    async def download(self, handle: QueueHandle, result: dict) -> Path:
        """Download the result video, check that it decodes, store it and journal its path.

        A damaged download is thrown away and fetched again, up to DOWNLOAD_TRIES times; then
        DamagedDownloadError, with the journal entry still ``completed`` so that any later run downloads it
        again. If fal no longer has the file while the stored copy is damaged: DamagedResultGoneError.
        """
        request_id = handle.request_id
        url = result_video_url(result, request_id)
        size = result_file_size(result)
        media = self.services.media
        name = media_name(request_id)
        for attempt in range(1, DOWNLOAD_TRIES + 1):
            staging = media.staging_path(name)
            try:
                await self._fetch(url, staging, request_id, attempt)
                await asyncio.to_thread(verify_video, staging, request_id=request_id, expected_size=size)
            except MediaDecodeError as exc:
                damage = exc
                if attempt == DOWNLOAD_TRIES:
                    break
                staging.unlink(missing_ok=True)
                self.board.update(
                    Phase.DOWNLOADING, detail=f"the download is damaged ({exc.detail}); downloading again"
                )
                continue
            except BaseException:
                staging.unlink(missing_ok=True)
                raise
            path = await asyncio.to_thread(media.put, name, staging)
            await asyncio.to_thread(self.services.journal.mark_downloaded, request_id, str(path))
            return path
        kept = await asyncio.to_thread(media.put, f"{request_id}.damaged.mp4", staging)
        raise self._damaged_download(handle, damage, kept)

    async def _fetch(self, url: str, staging: Path, request_id: str, attempt: int) -> None:
        def progress(done: int, size: int | None) -> None:
            self.board.update(
                Phase.DOWNLOADING, detail=format_bytes(done, size), progress=done / size if size else None
            )

        progress(0, None)
        try:
            await self.services.client.download(url, staging, on_progress=progress, request_id=request_id)
        except NotFoundError as exc:
            if self.damaged is None:
                raise
            raise DamagedResultGoneError(
                f"The stored copy of request {request_id} is damaged ({self.damaged.detail}) and fal no "
                f"longer has the result file (HTTP {exc.status} on downloading it again; fal's files "
                f"expire). The damaged copy is kept at {self.damaged.path}. Only a new generation can "
                "replace it: change the seed (or, for a model without one, an input) to submit one (this is "
                "charged again).",
                status=exc.status,
                request_id=request_id,
            ) from None
        tries = f" (download {attempt} of {DOWNLOAD_TRIES})" if attempt > 1 else ""
        self.board.update(Phase.DOWNLOADING, detail=f"checking the video{tries}", progress=None)

    def _damaged_download(
        self, handle: QueueHandle, exc: MediaDecodeError, kept: Path
    ) -> DamagedDownloadError:
        rid = handle.request_id
        return DamagedDownloadError(
            f"fal's CDN served the result video of request {rid} damaged {DOWNLOAD_TRIES} times in a row "
            f"({exc.detail}), so it was not stored. The job is paid and fal keeps its result for a while: "
            f"run again, or `fal-avatar fetch {rid} --endpoint {handle.endpoint_id}` (or the 'fal Avatar: "
            f"Fetch Result' node), to download it again at no charge. The last damaged copy is at {kept}. "
            "Only if fal's own file is damaged would a new generation help; that needs a new seed (or, for a "
            "model without one, a changed input) and is charged again.",
            request_id=rid,
        )

    def _on_status(self, status: QueueStatus) -> None:
        if status.state == "IN_QUEUE":
            self.board.update(Phase.QUEUED, queue_position=status.queue_position, detail="")
        elif status.state == "IN_PROGRESS":
            last = status.logs[-1].message if status.logs else "started"
            self.board.update(Phase.GENERATING, queue_position=None, detail=last[:120])

    def leave_running(self) -> None:
        """The run was stopped by something other than the user (e.g. another node of the prompt failed):
        the fal job, if any, keeps running and stays journaled as submitted for the next run."""
        if self.handle is not None and not self.finished:
            self.board.update(
                Phase.STOPPED,
                request_id=self.handle.request_id,
                detail=f"fal job {self.handle.request_id} left running; the next run re-attaches to it",
            )

    async def cancel_remote(self) -> list[str]:
        """After a user interrupt: cancel the fal job if one is running. Returns warnings."""
        handle = self.handle
        if handle is None or self.finished:
            return []
        try:
            outcome = await asyncio.wait_for(self.services.client.cancel(handle), timeout=15)
        except (FalAvatarError, asyncio.TimeoutError) as exc:
            return [f"Cancelling request {handle.request_id} failed ({exc}); the next run re-attaches to it."]
        if outcome is CancelOutcome.ALREADY_COMPLETED:
            # Finished and paid for: keep the entry so the next run takes the result for free.
            self.board.update(
                Phase.CANCELLED,
                request_id=handle.request_id,
                detail="the job had already finished; its result is kept",
            )
            return []
        await asyncio.to_thread(self.services.journal.mark_cancelled, handle.request_id)
        self.cancelled_remote = True
        # with its id: a cancel that came while the submit was answered never showed it as queued
        self.board.update(Phase.CANCELLED, request_id=handle.request_id, detail="fal job cancelled")
        return []
