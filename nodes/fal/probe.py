"""Host reachability: does a fal host answer at all, and how long does a request take?

A probe is a plain ``GET /`` without Authorization: any HTTP answer (even 404) means the host is
reachable. Two requests are sent on one connection and the faster one is reported, so the figure is
close to the round-trip time rather than the connection set-up.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from .bounded import PROBE_ANSWER, AnswerTooLarge, read_body, within
from .http import Timeouts
from .pool import ClientPool

PROBES = 2


@dataclass(frozen=True)
class HostProbe:
    """``rtt_ms`` is the fastest request; ``error`` says why a host could not be reached."""

    name: str
    url: str
    reachable: bool
    status: int | None = None
    rtt_ms: float | None = None
    error: str | None = None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "url": self.url,
            "reachable": self.reachable,
            "status": self.status,
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 1),
            "error": self.error,
        }


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (what a probe reports: no path, no query)."""
    return str(httpx.URL(url).copy_with(path="/", query=None, fragment=None)).rstrip("/")


async def probe_host(pool: ClientPool, name: str, url: str, timeouts: Timeouts) -> HostProbe:
    """``GET /`` on the origin of ``url`` ``PROBES`` times (no retries: a failure is the answer)."""
    origin = origin_of(url)
    client = pool.client()
    best: float | None = None
    status: int | None = None
    for _ in range(PROBES):
        started = time.perf_counter()
        try:
            status_now, whole = await _status(client, origin + "/", timeouts)
        except httpx.TransportError as exc:
            if status is None:
                return HostProbe(name, origin, False, error=f"{type(exc).__name__}: {exc or 'no answer'}")
            break  # it answered once: reachable
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        status = status_now
        best = elapsed_ms if best is None else min(best, elapsed_ms)
        if not whole:
            break  # an answer cut short closed the connection: one timing is all it gives
    return HostProbe(name, origin, True, status=status, rtt_ms=best)


async def _status(client: httpx.AsyncClient, url: str, timeouts: Timeouts) -> tuple[int, bool]:
    """The HTTP status of ``GET url``, and whether its whole body came: the body is read (so the connection
    can be reused) up to ``PROBE_ANSWER``'s size and time, then dropped, so an endless or trickling body
    cannot hold the probe."""
    response = await client.send(client.build_request("GET", url, timeout=timeouts.queue), stream=True)
    try:
        await within(PROBE_ANSWER.deadline_s, read_body(response, PROBE_ANSWER.max_bytes))
    except (AnswerTooLarge, asyncio.TimeoutError):
        return response.status_code, False  # it answered: the status is all a probe needs
    finally:
        await response.aclose()
    return response.status_code, True
