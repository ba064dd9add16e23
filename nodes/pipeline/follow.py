"""Following a submitted fal job to a local file: wait → result → download, journaled at each step.

Shared by new generations, re-attached jobs and the recovery tools (`fal-avatar fetch`, the
FalAvatarFetchResult node). A user interrupt cancels the job remotely unless it had already finished.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FalAvatarError, FalTimeoutError, FalValidationError, JobCancelledError, NotFoundError
from ..fal.client import FalClient
from ..fal.models import CancelOutcome, QueueHandle, QueueStatus
from ..store.claims import Claims
from ..store.journal import Journal
from ..store.media_store import MediaStore
from ..store.upload_cache import UploadCache
from .status import StatusBoard, format_bytes


@dataclass
class Services:
    """The long-lived collaborators of a run (injectable for tests and the CLI)."""

    client: FalClient = field(default_factory=FalClient)
    journal: Journal = field(default_factory=Journal)
    uploads: UploadCache = field(default_factory=UploadCache)
    media: MediaStore = field(default_factory=MediaStore)
    claims: Claims = field(default_factory=Claims)


WAIT_LIMITS = ("queue_wait_limit", "processing_limit")  # FalTimeoutError types after which fal cancelled the job


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


def _with_hint(exc: FalAvatarError, hint: str) -> FalAvatarError:
    """Add what the user can do to an error that left a paid job behind (the job id is in the hint)."""
    exc.message = f"{exc.message} {hint}"
    exc.args = (exc.message,)
    return exc


class JobFollower:
    """Waits for one fal job, stores its result and media; cancels it on interrupt."""

    def __init__(self, services: Services, board: StatusBoard) -> None:
        self.services = services
        self.board = board
        self.handle: QueueHandle | None = None
        self.finished = False  # fal finished the job (success or failure): nothing left to cancel

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
            raise _with_hint(exc, f"The fal job {handle.request_id} may still be running (and billed): run again "
                             "to re-attach to it at no extra cost.") from None
        self.finished = True
        try:
            result = await client.result(handle)
        except (FalValidationError, NotFoundError) as exc:  # the model rejected it, or fal has no result
            await asyncio.to_thread(journal.mark_failed, handle.request_id, str(exc))
            raise
        except FalAvatarError as exc:
            raise _with_hint(exc, f"The fal job {handle.request_id} has finished: run again to fetch its result "
                             "at no extra cost.") from None
        await asyncio.to_thread(journal.mark_completed, handle.request_id, result)
        return result

    async def download(self, handle: QueueHandle, result: dict) -> Path:
        """Download the result video into the media store and journal its path."""
        url = result_video_url(result, handle.request_id)
        media = self.services.media

        def progress(done: int, size: int | None) -> None:
            self.board.update("downloading", detail=format_bytes(done, size), progress=done / size if size else None)

        progress(0, None)
        name = f"{handle.request_id}.mp4"
        staging = media.staging_path(name)
        await self.services.client.download(url, staging, on_progress=progress, request_id=handle.request_id)
        path = await asyncio.to_thread(media.put, name, staging)
        await asyncio.to_thread(self.services.journal.mark_downloaded, handle.request_id, str(path))
        return path

    def _on_status(self, status: QueueStatus) -> None:
        if status.state == "IN_QUEUE":
            self.board.update("queued", queue_position=status.queue_position, detail="")
        elif status.state == "IN_PROGRESS":
            last = status.logs[-1].message if status.logs else "started"
            self.board.update("generating", queue_position=None, detail=last[:120])

    def leave_running(self) -> None:
        """The run was stopped by something other than the user (e.g. another node of the prompt failed):
        the fal job, if any, keeps running and stays journaled as submitted for the next run."""
        if self.handle is not None and not self.finished:
            self.board.update(
                "stopped", detail=f"fal job {self.handle.request_id} left running; the next run re-attaches to it"
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
            self.board.update("cancelled", detail="the job had already finished; its result is kept")
            return []
        await asyncio.to_thread(self.services.journal.mark_cancelled, handle.request_id)
        self.board.update("cancelled", detail="fal job cancelled")
        return []
