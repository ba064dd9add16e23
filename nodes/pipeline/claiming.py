"""Taking a request key's in-flight claim, waiting while an identical run (live) holds it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..store.claims import Claim, Claims
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
        got = await asyncio.to_thread(claims.acquire, key)
        if isinstance(got, Claim):
            if got.taken_from is not None:
                board.update(detail=f"took over from a stopped run ({got.taken_from.describe()})")
            return ClaimedKey(got, since)
        if since is None or got.claimed_at < since:
            since = got.claimed_at
            board.update(
                "waiting", detail=f"an identical run ({got.owner.describe()}) is on it; taking its result when done"
            )
        await asyncio.sleep(POLL_S)
