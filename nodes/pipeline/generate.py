"""One paid generation, end to end, without paying twice and without losing a paid result.

Flow: plan (checks, cost) → encode → request key → journal lookup (stored result, or re-attach to a job
still running) → uploads (de-duplicated) → journal entry → submit → follow (wait, result, download).
A user interrupt (ComfyUI Cancel, Ctrl-C) cancels the remote job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..avatar.plan import RunPlan
from ..errors import JobCancelledError, NotFoundError, SubmitOutcomeUnknownError
from ..fal.models import QueueHandle
from ..media.payload import Payload
from ..store.journal import JournalEntry
from ..store.request_key import request_key
from .follow import JobFollower, Services, result_video_url
from .inputs import GenerationRequest, encode_media, plan_request
from .status import RunStatus, StatusBoard, format_bytes

# A "submitting" journal row younger than this may belong to another worker that is submitting now.
SUBMIT_GRACE_S = 90.0


@dataclass(frozen=True)
class GenerationOutcome:
    """A finished generation: the local MP4 and what fal said about it."""

    path: Path
    request_id: str
    endpoint_id: str
    video_url: str
    result: dict
    plan: RunPlan | None
    reused: bool  # True: no new submit (stored result or re-attached job)
    warnings: tuple[str, ...] = ()


class Generation:
    """Runs one request; ``sink`` receives every status change (and one per second)."""

    def __init__(
        self,
        request: GenerationRequest,
        *,
        services: Services | None = None,
        sink: Callable[[RunStatus], None] | None = None,
    ) -> None:
        self.request = request
        self.spec = request.spec
        self.services = services or Services()
        self.board = StatusBoard(self.spec.endpoint_id, sink)
        self.follower = JobFollower(self.services, self.board)
        self.warnings: list[str] = []

    async def run(self) -> GenerationOutcome:
        ticker = asyncio.ensure_future(self.board.tick_forever())
        try:
            return await self._run()
        except asyncio.CancelledError:
            self.warnings.extend(await self.follower.cancel_remote())
            raise
        finally:
            ticker.cancel()

    async def _run(self) -> GenerationOutcome:
        self.board.update("validating")
        plan = await asyncio.to_thread(plan_request, self.request)
        self.warnings.extend(plan.warnings)
        for warning in plan.warnings:  # said before any money is spent
            self.board.update("validating", cost_usd=plan.cost_usd, frames=plan.frames, detail=f"note: {warning}")
        self.board.update("validating", cost_usd=plan.cost_usd, frames=plan.frames, detail="encoding inputs")
        payloads = await asyncio.to_thread(encode_media, self.request, plan)
        for payload in payloads.values():
            self.warnings.extend(payload.warnings)
        audio = payloads.get("audio_url")
        if audio is not None and audio.info.get("duration_s") is not None:
            self.board.update(audio_s=audio.info["duration_s"])
        scope = self.services.client.endpoint_key(self.spec.endpoint_id)
        if self.request.take:
            scope += f"#take{self.request.take}"
        key = request_key(
            scope,
            plan.arguments,
            {fal_field: p.sha256 for fal_field, p in payloads.items()},
            plan.seed,
        )
        entry = await self._reusable_entry(key)
        if entry is not None:
            outcome = await self._resume(entry, plan)
            if outcome is not None:
                return outcome
        else:
            await self._explain_unknown_submit(key)
        urls = await self._upload_all(payloads)
        handle = await self._submit(key, plan, {**plan.arguments, **urls})
        return await self._follow(handle, plan, reused=False)

    async def _reusable_entry(self, key: str) -> JournalEntry | None:
        journal = self.services.journal
        while True:
            entry = await asyncio.to_thread(journal.find_reusable, key)
            if entry is None or entry.state != "submitting":
                return entry
            if time.time() - entry.created_at > SUBMIT_GRACE_S:
                # A crash between sending the submit and recording its id: the outcome is unknown.
                await asyncio.to_thread(
                    journal.fail_submitting, entry.row_id, "submit outcome unknown (interrupted while submitting)"
                )
                self.warnings.append(
                    "An earlier run was interrupted while submitting this exact request; if fal received it, "
                    "it is in your fal dashboard's request history. Submitting again."
                )
                return None
            self.board.update("submitting", detail="another run is submitting the same request; waiting")
            await asyncio.sleep(0.5)

    async def _explain_unknown_submit(self, key: str) -> None:
        """Warn when the last try of this exact request got no answer to its submit: fal may have a job."""
        last = await asyncio.to_thread(self.services.journal.latest, key)
        if last is not None and last.state == "failed" and last.request_id is None:
            self.warnings.append(
                "The previous run of this exact request sent its submit but got no answer, so fal may have "
                "a job for it (see https://fal.ai/dashboard request history; recover it with its request id "
                "via 'fal Avatar: Fetch Result'). Submitting again now."
            )
            self.board.update("validating", detail=f"note: {self.warnings[-1]}")

    async def _resume(self, entry: JournalEntry, plan: RunPlan) -> GenerationOutcome | None:
        """Use a stored result, or re-attach to a job still running. ``None``: submit anew."""
        if entry.state == "downloaded" and entry.local_path:
            path = await self.follower.stored_copy(entry.request_id, entry.result)
            if path is not None:
                self.board.update("cached", request_id=entry.request_id, detail="no upload, no new charge")
                return self._outcome(entry.request_id, path, entry.result or {}, plan, reused=True)
        handle = QueueHandle.from_dict(entry.handle)
        if entry.state in ("completed", "downloaded") and entry.result:
            self.board.update("cached", request_id=entry.request_id, detail="stored result; downloading again")
            try:
                path = await self.follower.download(handle, entry.result)
            except NotFoundError:
                self.warnings.append(
                    f"The stored result of request {entry.request_id} has expired on fal's CDN; generating again."
                )
                return None
            if self.follower.damaged is not None:
                self.warnings.append(f"The stored copy was damaged ({self.follower.damaged.detail}); it was "
                                     "downloaded again from fal at no charge.")
            return self._outcome(entry.request_id, path, entry.result, plan, reused=True)
        self.board.update("reattached", request_id=entry.request_id, detail="no new submit")
        return await self._follow(handle, plan, reused=True)

    async def _follow(self, handle: QueueHandle, plan: RunPlan, *, reused: bool) -> GenerationOutcome:
        result = await self.follower.result(handle)
        path = await self.follower.download(handle, result)
        return self._outcome(handle.request_id, path, result, plan, reused=reused)

    async def _upload_all(self, payloads: dict[str, Payload]) -> dict[str, str]:
        urls: dict[str, str] = {}
        for index, (fal_field, payload) in enumerate(payloads.items(), start=1):
            urls[fal_field] = await self._upload_one(payload, f"{index}/{len(payloads)} {payload.file_name}")
        return urls

    async def _upload_one(self, payload: Payload, label: str) -> str:
        cache, client = self.services.uploads, self.services.client
        cached = await asyncio.to_thread(cache.get, payload.sha256)
        if cached is not None:
            if await client.file_exists(cached):
                self.board.update("uploading", detail=f"{label}: already on fal, not uploaded again")
                return cached
            await asyncio.to_thread(cache.forget, payload.sha256)

        def progress(done: int, size: int | None) -> None:
            size = size or payload.size
            self.board.update(
                "uploading", detail=f"{label} {format_bytes(done, size)}", progress=done / size if size else None
            )

        progress(0, payload.size)
        source = payload.path if payload.path is not None else payload.data
        url = await client.upload(
            source, content_type=payload.content_type, file_name=payload.file_name, on_progress=progress
        )
        await asyncio.to_thread(cache.put, payload.sha256, url, payload.size)
        return url

    async def _submit(self, key: str, plan: RunPlan, arguments: dict) -> QueueHandle:
        journal = self.services.journal
        summary = {k: v for k, v in arguments.items() if not k.endswith("_url")}
        row_id = await asyncio.to_thread(
            journal.begin, key, self.spec.endpoint_id, cost_estimate_usd=plan.cost_usd, summary=summary
        )
        self.board.update("submitting", detail=f"{plan.frames} frames")
        # Shielded: once the request is on the wire we must learn its id, even if the user cancels now,
        # so that the job can be cancelled instead of running (and billing) unseen.
        task = asyncio.ensure_future(self.services.client.submit(self.spec.endpoint_id, arguments))
        cancelled = False
        try:
            try:
                handle = await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
                handle = await task
        except SubmitOutcomeUnknownError as exc:
            await asyncio.to_thread(journal.fail_submitting, row_id, str(exc))
            raise
        except BaseException:
            await asyncio.to_thread(journal.forget_submitting, row_id)
            raise
        await asyncio.to_thread(journal.record_submit, row_id, handle.to_dict())
        self.follower.handle = handle
        self.board.update("queued", request_id=handle.request_id, detail="")
        if cancelled:
            raise asyncio.CancelledError
        return handle

    def _outcome(self, request_id: str, path: Path, result: dict, plan, *, reused: bool) -> GenerationOutcome:
        self.follower.finished = True
        return GenerationOutcome(
            path=path,
            request_id=request_id,
            endpoint_id=self.spec.endpoint_id,
            video_url=result_video_url(result, request_id),
            result=result,
            plan=plan,
            reused=reused,
            warnings=tuple(dict.fromkeys(self.warnings)),
        )


async def run_cancellable(coro, should_cancel: Callable[[], bool] | None, *, poll_s: float = 0.2):
    """Await ``coro``; once ``should_cancel()`` is true, cancel it (its clean-up cancels the fal job)
    and raise :class:`JobCancelledError`."""
    task = asyncio.ensure_future(coro)
    if should_cancel is None:
        return await task
    while True:
        done, _ = await asyncio.wait({task}, timeout=poll_s)
        if done:
            return task.result()
        if should_cancel():
            task.cancel()
            try:
                return await task  # it may have finished in the meantime
            except asyncio.CancelledError:
                raise JobCancelledError("Cancelled by the user; the fal job (if any) was cancelled too.") from None
