"""One paid generation, end to end, without paying twice and without losing a paid result.

Flow: prepare (checks, cost, request key from the inputs as given: nothing is encoded) → claim the key
(waiting while an identical run holds it) → journal (a stored result, a job to re-attach to, or a submit
whose outcome is unknown) → encode → legacy-key lookup → uploads (de-duplicated) → journal entry → submit
→ follow (wait, result, download). Only a user interrupt cancels the fal job (see ``interrupt.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..avatar.plan import CheckedParams, RunPlan
from ..errors import IdenticalRunError, NotFoundError, SubmitOutcomeUnknownError
from ..fal.models import QueueHandle
from ..media.audio import audio_duration_s
from ..media.payload import Payload
from ..services import Services
from ..states import Phase
from ..store.journal import CANCELLED, COMPLETED, DOWNLOADED, FAILED, QUEUE_AHEAD, SUBMITTING, JournalEntry
from .claiming import ClaimedKey, claim_key
from .follow import JobFollower, result_video_url
from .inputs import GenerationRequest, check_image_limits, encode_media, plan_request
from .interrupt import UserInterrupt, finish_despite_cancel
from .keys import generation_key, input_digests, key_scope, legacy_key
from .result_extras import OutputExtras, read_extras
from .spend import Spend
from .status import RunStatus, StatusBoard
from .unknown_submit import settle_unknown_submit, unknown_submit_hint
from .uploads import upload_all


@dataclass(frozen=True)
class PreparedGeneration:
    """A checked request: what it sends, what it costs, its request key, and whether the journal already
    holds it (then running it costs nothing new)."""

    plan: RunPlan
    key: str
    scope: str
    stored: bool


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
    extras: OutputExtras = OutputExtras()  # the row's declared output fields beside the video


class Generation:
    """Runs one request; ``sink`` receives every status change (and one per second). ``params``: the
    request's values as the run's planning already checked them (else :meth:`prepare` checks them)."""

    def __init__(
        self,
        request: GenerationRequest,
        *,
        services: Services,
        sink: Callable[[RunStatus], None] | None = None,
        interrupt: UserInterrupt | None = None,
        params: CheckedParams | None = None,
    ) -> None:
        self.request = request
        self.params = params
        self.spec = request.spec
        self.services = services
        self.image_side = self.spec.image_side(services.settings.max_image_side)  # in the key and the upload
        self.interrupt = interrupt or UserInterrupt()
        self.board = StatusBoard(self.spec.endpoint_id, sink)
        self.follower = JobFollower(self.services, self.board)
        self.warnings: list[str] = []
        self.prepared: PreparedGeneration | None = None
        self.submitted = False  # this process submitted the job (and so pays for it, whatever happens next)
        self.outcome: GenerationOutcome | None = None
        self.borrowed = False  # following the job of an identical run that is stuck: never cancel it

    @property
    def spend(self) -> Spend:
        """What this generation cost this process so far: its submit, or the job it reused."""
        cost = self.prepared.plan.cost_usd if self.prepared is not None else 0.0
        if self.submitted:
            return Spend.submitted(cost)
        return Spend.reused(cost) if self.outcome is not None else Spend()

    async def prepare(self) -> PreparedGeneration:
        """Every check that needs no upload, the cost estimate and the request key (cached)."""
        if self.prepared is not None:
            return self.prepared
        self.board.update(Phase.VALIDATING)
        plan = await asyncio.to_thread(plan_request, self.request, self.params)
        check_image_limits(self.request, self.image_side)
        self.warnings.extend(plan.warnings)
        for warning in plan.warnings:  # said before any money is spent
            self.board.update(
                Phase.VALIDATING, cost_usd=plan.cost_usd, frames=plan.frames, detail=f"note: {warning}"
            )
        if self.request.audio is not None:
            self.board.update(audio_s=audio_duration_s(self.request.audio))
        self.board.update(
            Phase.VALIDATING, cost_usd=plan.cost_usd, frames=plan.frames, detail="looking up the journal"
        )
        digests = await asyncio.to_thread(input_digests, self.request, self.image_side)
        scope = key_scope(self.services.client.endpoint_key(self.spec.endpoint_id), self.request.take)
        key = generation_key(scope, plan, digests)
        entry = await asyncio.to_thread(self.services.journal.find_reusable, key)
        self.prepared = PreparedGeneration(plan=plan, key=key, scope=scope, stored=entry is not None)
        return self.prepared

    async def run(self) -> GenerationOutcome:
        ticker = asyncio.ensure_future(self.board.tick_forever())
        claimed = None
        try:
            prepared = await self.prepare()
            claimed = await claim_key(self.services.claims, prepared.key, self.board, self.services.journal)
            if claimed.claim is None:
                return await self._take(claimed.entry, prepared.plan)
            return await self._run(prepared, claimed.waited_for_since)
        except asyncio.CancelledError:
            held, claimed = claimed, None
            await finish_despite_cancel(self._stop(held))
            raise
        finally:
            ticker.cancel()
            if claimed is not None and claimed.claim is not None:
                await asyncio.to_thread(self.services.claims.release, claimed.claim)

    async def _stop(self, claimed: ClaimedKey | None) -> None:
        """After a cancel: cancel the fal job if the user asked to stop, else leave it running; give the
        claim back."""
        if self.interrupt.is_set() and not self.borrowed:
            self.warnings.extend(await self.follower.cancel_remote())
            if self.follower.cancelled_remote:
                self.interrupt.cancelled.append(self.follower.handle.request_id)
        else:
            self.follower.leave_running()
        if claimed is not None and claimed.claim is not None:
            await asyncio.to_thread(self.services.claims.release, claimed.claim)

    async def _take(self, entry: JournalEntry, plan: RunPlan) -> GenerationOutcome:
        """The result of an identical run's job, without its claim (see ``claiming.py``): never a submit."""
        self.borrowed = True
        outcome = await self._resume(entry, plan)
        if outcome is None:
            raise IdenticalRunError(
                f"An identical run's fal request {entry.request_id} has no result to take any more. Nothing "
                "was submitted by this run; run again once that run has ended.",
                request_id=entry.request_id,
            )
        return outcome

    async def _run(self, prepared: PreparedGeneration, waited_for_since: float | None) -> GenerationOutcome:
        plan, key, journal = prepared.plan, prepared.key, self.services.journal
        entry = await asyncio.to_thread(journal.find_reusable, key)
        if entry is not None and entry.state != SUBMITTING:
            outcome = await self._resume(entry, plan)
            if outcome is not None:
                return outcome
        else:
            # We hold the claim, so a "submitting" entry was left by a run that stopped mid-submit.
            unknown = entry or await self._last_attempt(key, waited_for_since)
            if unknown is not None:
                handle = await settle_unknown_submit(
                    unknown,
                    endpoint_id=self.spec.endpoint_id,
                    services=self.services,
                    board=self.board,
                    resubmit=self.request.resubmit,
                    new_generation_hint=self.spec.new_generation_hint,
                    warn=self.warnings.append,
                )
                if handle is not None:
                    return await self._follow(handle, plan, reused=True)
        payloads, old = await self._encode(prepared)
        if old is not None:
            outcome = await self._resume(old, plan)
            if outcome is not None:
                return outcome
        urls = await upload_all(self.services, self.board, payloads)
        del (
            payloads
        )  # on fal now: the encoded inputs are not held through the wait (64 rows of a batch wait at once)
        handle = await self._submit(key, plan, {**plan.arguments, **urls})
        return await self._follow(handle, plan, reused=False)

    async def start_ahead(self) -> QueueHandle | None:
        """Claim, upload and submit, then leave the job running: the run that comes later (a queued ComfyUI
        prompt's node) finds it journaled and re-attaches at no new cost. ``None``: nothing was started (the
        journal holds the job or its result, or a submit whose outcome is unknown, which that run settles).
        Cancelled, a submit on the way is still journaled; with the interrupt set its job is cancelled on
        fal."""
        claimed = None
        try:
            prepared = await self.prepare()
            if prepared.stored:
                return None
            claimed = await claim_key(self.services.claims, prepared.key, self.board)
            journal = self.services.journal
            if await asyncio.to_thread(journal.find_reusable, prepared.key) is not None:
                return None
            last = await asyncio.to_thread(journal.latest, prepared.key)
            if last is not None and last.state == FAILED and last.request_id is None:
                return None
            payloads, old = await self._encode(prepared)
            if old is not None:
                return None
            urls = await upload_all(self.services, self.board, payloads)
            del payloads
            return await self._submit(prepared.key, prepared.plan, {**prepared.plan.arguments, **urls})
        except asyncio.CancelledError:
            held, claimed = claimed, None
            await finish_despite_cancel(self._stop(held))
            raise
        finally:
            if claimed is not None:
                await asyncio.to_thread(self.services.claims.release, claimed.claim)

    async def _encode(self, prepared: PreparedGeneration) -> tuple[dict[str, Payload], JournalEntry | None]:
        """The encoded inputs, and the reusable entry journaled under their legacy key (if any)."""
        self.board.update(Phase.VALIDATING, detail="encoding inputs")
        payloads = await asyncio.to_thread(encode_media, self.request, self.image_side)
        self.warnings.extend(w for payload in payloads.values() for w in payload.warnings)
        old_key = legacy_key(prepared.scope, prepared.plan, payloads)
        old = await asyncio.to_thread(self.services.journal.find_reusable, old_key)
        return payloads, (old if old is not None and old.state != SUBMITTING else None)

    async def _last_attempt(self, key: str, waited_for_since: float | None) -> JournalEntry | None:
        """The newest entry if its submit's outcome is unknown. Raises if this run waited for an identical
        run whose attempt ended without a result: a waiting run never submits in its place."""
        last = await asyncio.to_thread(self.services.journal.latest, key)
        if last is None:
            return None
        if last.state == FAILED and last.request_id is None:
            return last
        if (
            waited_for_since is not None
            and last.created_at >= waited_for_since
            and last.state in (FAILED, CANCELLED)
        ):
            what = "was cancelled" if last.state == CANCELLED else f"failed: {last.error}"
            raise IdenticalRunError(
                f"This run waited for an identical run, whose fal job {what}. Nothing was submitted again; "
                "run again to generate anew.",
                request_id=last.request_id,
            )
        return None

    async def _resume(self, entry: JournalEntry, plan: RunPlan) -> GenerationOutcome | None:
        """Use a stored result, or re-attach to a job still running. ``None``: submit anew."""
        if entry.state is DOWNLOADED and entry.local_path:
            path = await self.follower.stored_copy(entry.request_id, entry.result)
            if path is not None:
                self.board.update(
                    Phase.CACHED, request_id=entry.request_id, detail="no upload, no new charge"
                )
                return self._outcome(entry.request_id, path, entry.result or {}, plan, reused=True)
        handle = QueueHandle.from_dict(entry.handle)
        if entry.state in (COMPLETED, DOWNLOADED) and entry.result:
            self.board.update(
                Phase.CACHED, request_id=entry.request_id, detail="stored result; downloading again"
            )
            try:
                path = await self.follower.download(handle, entry.result)
            except NotFoundError:
                self.warnings.append(
                    f"The stored result of request {entry.request_id} has expired on fal's CDN; generating "
                    "again."
                )
                return None
            if self.follower.damaged is not None:
                self.warnings.append(
                    f"The stored copy was damaged ({self.follower.damaged.detail}); it was "
                    "downloaded again from fal at no charge."
                )
            return self._outcome(entry.request_id, path, entry.result, plan, reused=True)
        self.board.update(Phase.REATTACHED, request_id=entry.request_id, detail=_reattach_note(entry))
        return await self._follow(handle, plan, reused=True)

    async def _follow(self, handle: QueueHandle, plan: RunPlan, *, reused: bool) -> GenerationOutcome:
        result = await self.follower.result(handle)
        path = await self.follower.download(handle, result)
        return self._outcome(handle.request_id, path, result, plan, reused=reused)

    async def _submit(self, key: str, plan: RunPlan, arguments: dict) -> QueueHandle:
        journal = self.services.journal
        summary = {k: v for k, v in arguments.items() if not k.endswith("_url")}
        row_id = await asyncio.to_thread(
            journal.begin,
            key,
            self.spec.endpoint_id,
            cost_estimate_usd=plan.cost_usd,
            summary=summary,
            arguments=arguments,
            origin=self.request.origin.kind if self.request.origin else None,
            prompt_id=self.request.origin.prompt_id if self.request.origin else None,
        )
        self.board.update(Phase.SUBMITTING, detail=f"{plan.frames} frames")
        endpoint_id = self.spec.endpoint_id

        async def submit_and_record() -> QueueHandle:
            self.submitted = (
                True  # on its way to fal: counted as this process's unless fal provably refused it
            )
            try:
                handle = await self.services.client.submit(endpoint_id, arguments)
            except SubmitOutcomeUnknownError as exc:
                await asyncio.to_thread(journal.fail_submitting, row_id, str(exc))
                raise exc.with_hint(unknown_submit_hint(endpoint_id)) from None
            except asyncio.CancelledError:
                # Cancelled from outside this run (a shutdown cancels every task): the request may be on the
                # wire, so its outcome is unknown (the next run asks fal's request history first).
                await finish_despite_cancel(
                    asyncio.to_thread(
                        journal.fail_submitting,
                        row_id,
                        "submit outcome unknown: the run was stopped while its submit was on the way to fal",
                    )
                )
                raise
            except BaseException:
                self.submitted = False  # no job was made
                await asyncio.to_thread(journal.forget_submitting, row_id)
                raise
            self.follower.handle = handle  # from here on, a user interrupt cancels this job
            await asyncio.to_thread(journal.record_submit, row_id, handle.to_dict())
            return handle

        # Awaited to its end even if this run is cancelled now (once or more): once the request is on the wire
        # we must learn its id and journal it, so that the job can be cancelled or re-attached to instead of
        # running (and billing) unseen.
        handle = await finish_despite_cancel(submit_and_record())
        self.board.update(Phase.QUEUED, request_id=handle.request_id, detail="")
        return handle

    def _outcome(self, request_id: str, path: Path, result: dict, plan, *, reused: bool) -> GenerationOutcome:
        self.follower.finished = True
        self.outcome = GenerationOutcome(
            path=path,
            request_id=request_id,
            endpoint_id=self.spec.endpoint_id,
            video_url=result_video_url(result, request_id),
            result=result,
            plan=plan,
            reused=reused,
            warnings=tuple(dict.fromkeys(self.warnings)),
            extras=read_extras(result, self.spec.output_extras),
        )
        return self.outcome


def _reattach_note(entry: JournalEntry) -> str:
    """What the status line says of a job this run re-attaches to (one started early says when)."""
    if entry.origin != QUEUE_AHEAD:
        return "no new submit"
    started = time.strftime("%H:%M", time.localtime(entry.submitted_at or entry.created_at))
    return f"started early at {started} while the prompt was queued; no new submit"
