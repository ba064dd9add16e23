"""Taking a request key's in-flight claim, waiting while an identical run (live) holds it.

A waiter never waits without end behind an owner that makes no progress (suspended with Ctrl-Z or
SIGSTOP, or silent for ``SILENT_AFTER_S``): if the journal holds the owner's fal request, the waiter takes
its result itself (following a job and downloading its result cost nothing); if not, it says who holds
the request and how to go on. A finished result in the journal is taken at once, whoever holds the key.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ..errors import IdenticalRunError
from ..states import Phase
from ..store.claims import SILENT_AFTER_S, Claim, Claims, Holder
from ..store.journal import COMPLETED, DOWNLOADED, SUBMITTED, Journal, JournalEntry
from .interrupt import finish_despite_cancel
from .status import StatusBoard

POLL_S = 0.5


@dataclass(frozen=True)
class ClaimedKey:
    """A claim this run holds. ``waited_for_since``: when the identical run it waited for had claimed the key
    (its journal entries start then), or None if the key was free or its owner dead. ``claim`` is None when
    the run takes ``entry`` (the identical run's job) without the claim: see the module docstring."""

    claim: Claim | None
    waited_for_since: float | None
    entry: JournalEntry | None = None


async def claim_key(
    claims: Claims, key: str, board: StatusBoard, journal: Journal | None = None
) -> ClaimedKey:
    """Take the claim on ``key``; while a live identical run holds it, wait (status: ``waiting``)."""
    since: float | None = None
    while True:
        acquiring = asyncio.ensure_future(asyncio.to_thread(claims.acquire, key))
        try:
            got = await asyncio.shield(acquiring)
        except asyncio.CancelledError:  # the claim may be taken in its thread meanwhile: give it back
            await finish_despite_cancel(_release_once_acquired(claims, acquiring))
            raise
        if isinstance(got, Claim):
            if got.taken_from is not None:
                board.update(detail=f"took over from a stopped run ({got.taken_from.describe()})")
            return ClaimedKey(got, since)
        if since is None or got.claimed_at < since:
            since = got.claimed_at
            board.update(
                Phase.WAITING,
                detail=f"an identical run ({got.owner.describe()}) is on it; taking its result when done",
            )
        if journal is not None:
            entry = await _result_to_take(journal, key, got, board)
            if entry is not None:
                return ClaimedKey(None, since, entry)
        await asyncio.sleep(POLL_S)


async def _result_to_take(
    journal: Journal, key: str, holder: Holder, board: StatusBoard
) -> JournalEntry | None:
    """The journal entry this waiter may take without the claim, if any; raises if the holder is stuck
    before its request reached fal (nothing to take, and waiting would not end)."""
    entry = await asyncio.to_thread(journal.find_reusable, key)
    if entry is not None and entry.state == DOWNLOADED and entry.local_file() is not None:
        return entry  # a finished result: free to take whoever holds the key
    silence = holder.silence()
    if silence is None:
        return None
    pid = holder.owner.pid
    if (
        entry is not None
        and entry.request_id is not None
        and entry.state in (SUBMITTED, COMPLETED, DOWNLOADED)
    ):
        board.update(
            detail=f"the identical run ({holder.owner.describe()}) {silence}; taking over its fal "
            f"request {entry.request_id} (no new charge)"
        )
        return entry
    if time.time() - holder.heartbeat_at <= SILENT_AFTER_S:
        board.update(detail=f"the identical run ({holder.owner.describe()}) {silence}; waiting for it")
        return None
    raise IdenticalRunError(
        f"An identical run ({holder.owner.describe()}) holds this request but {silence}, and its request has "
        "not reached fal (the journal holds no request id). Nothing was submitted by this run. Resume that "
        f"run (`fg` in its terminal, or `kill -CONT {pid}`) and it finishes on its own, or end it (`kill "
        f"{pid}`), then run again."
    )


async def _release_once_acquired(claims: Claims, acquiring: asyncio.Future) -> None:
    got = await acquiring
    if isinstance(got, Claim):
        await asyncio.to_thread(claims.release, got)
