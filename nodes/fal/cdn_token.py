"""The CDN v3 upload token: ``POST {rest}/storage/auth/token?storage_type=fal-cdn-v3`` with the fal key (as
fal-client 1.0.3's ``CDNTokenManager``), cached until shortly before its ``expires_at``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..concurrency import PerLoop
from ..errors import FalServerError
from .bounded import SMALL_ANSWER, json_value
from .http import Auth, FalHttp

STORAGE_TYPE = "fal-cdn-v3"
REFRESH_EARLY_S = 60.0  # refresh this long before expires_at


def parse_expiry(value: str) -> datetime:
    """ISO-8601 with an offset (``+00:00``); a ``Z`` suffix is accepted; no offset is taken as UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class CdnToken:
    token: str = field(repr=False)
    token_type: str
    base_url: str
    expires_at: datetime

    def fresh(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(timezone.utc)
        return (self.expires_at - now).total_seconds() > REFRESH_EARLY_S


class TokenManager:
    """One cached token per client; concurrent uploads in a loop share a single refresh."""

    def __init__(self, http: FalHttp, rest_url: Callable[[], str]) -> None:
        self._http = http
        self._rest_url = rest_url
        self._token: CdnToken | None = None
        self._locks: PerLoop[asyncio.Lock] = PerLoop(asyncio.Lock)

    def invalidate(self) -> None:
        self._token = None

    async def refresh(self, cdn_url: str) -> CdnToken:
        """Ask fal for a new token now (also the cheapest proof that the key works: fal bills nothing)."""
        self.invalidate()
        return await self.get(cdn_url)

    async def get(self, cdn_url: str) -> CdnToken:
        token = self._token
        if token is not None and token.fresh():
            return token
        async with self._locks.get():
            if self._token is not None and self._token.fresh():
                return self._token
            self._token = await self._fetch(cdn_url)
            return self._token

    async def _fetch(self, cdn_url: str) -> CdnToken:
        response = await self._http.call(
            "POST",
            f"{self._rest_url()}/storage/auth/token",
            what="CDN upload token",
            auth=Auth.FAL_KEY,
            params={"storage_type": STORAGE_TYPE},
            json={},
            headers={"Accept": "application/json"},
            limit=SMALL_ANSWER,
        )
        try:
            data = json_value(response)
            expires_at = parse_expiry(str(data["expires_at"]))
            token = str(data["token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise FalServerError(
                f"fal's CDN token answer could not be read ({type(exc).__name__}); try again.",
                status=response.status_code,
            ) from None
        if not token:
            raise FalServerError(
                "fal's CDN token answer has an empty token; try again.", status=response.status_code
            )
        return CdnToken(
            token=token,
            token_type=str(data.get("token_type") or "Bearer"),
            base_url=str(data.get("base_url") or cdn_url).rstrip("/"),
            expires_at=expires_at,
        )
