"""Taking a request key's in-flight claim, waiting while an identical run (live) holds it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..states import Phase
from ..store.claims import Claim, Claims
from .interrupt import finish_despite_cancel
from .status import StatusBoard

POLL_S = 0.5


@dataclass(frozen=True)
class ClaimedKey:
    """A claim this run holds. ``waited_for_since``: when the identical run it waited for had claimed the key
    (its journal entries start then), or None if the key was free or its owner dead."""

    claim: Claim
    waited_for_since: float | None


async def claim_key(claims: Claims, key: str, board: StatusBoard) -> ClaimedKey:
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
                Phase.WAITING, detail=f"an identical run ({got.owner.describe()}) is on it; taking its result when done"
            )
        await asyncio.sleep(POLL_S)


async def _release_once_acquired(claims: Claims, acquiring: asyncio.Future) -> None:
    got = await acquiring
    if isinstance(got, Claim):
        await asyncio.to_thread(claims.release, got)
