"""One httpx connection pool per running event loop.

ComfyUI runs every prompt in its own ``asyncio.run`` loop, and an ``httpx.AsyncClient`` is bound to the loop
that first used it. So clients are kept per loop (weakly: a finished loop takes its client with it) and
a client is never handed to a different loop. Clients of finished loops are dropped on the next use.

A status stream holds one connection for the whole wait of its job. So that waiting jobs can never take the
connections every other call needs (uploads, submits, downloads: each job's next step), a loop keeps at
most ``MAX_STREAMS`` streams open (:class:`StreamSlots`; the waiters beyond them poll, about one request a
second each), and its pool has ``CALL_CONNECTIONS`` connections on top of those. 64 jobs in flight (a
batch's largest concurrency) all stream.
"""

from __future__ import annotations

import functools
import ssl
from typing import TypeVar

import httpx

from ..concurrency import PerLoop
from ..settings import MAX_PARALLEL_CAP

T = TypeVar("T")

USER_AGENT = "comfyui-fal-avatar/0.1 (python httpx)"
MAX_STREAMS = MAX_PARALLEL_CAP  # status streams open at once per loop: every job a fan-out may have in flight
CALL_CONNECTIONS = 32  # connections left for all other calls, however many streams are open
POOL_LIMITS = httpx.Limits(
    max_connections=MAX_STREAMS + CALL_CONNECTIONS,
    max_keepalive_connections=CALL_CONNECTIONS,
    keepalive_expiry=5.0,
)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process (honouring SSL_CERT_FILE/SSL_CERT_DIR): building one
    loads the CA bundle, about 30 ms of CPU, and every event loop (each ComfyUI prompt) gets a new client."""
    return httpx.create_ssl_context(verify=True, trust_env=True)


class StreamSlots:
    """How many long-lived status streams a loop may still open (used by one loop only: no lock)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1


class ClientPool:
    """Hands out the ``httpx.AsyncClient`` of the current loop. ``transport`` is for tests (MockTransport)."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport | None = None, *, max_streams: int = MAX_STREAMS
    ) -> None:
        self._transport = transport
        self._clients: PerLoop[httpx.AsyncClient] = PerLoop(self._make)
        self._streams: PerLoop[StreamSlots] = PerLoop(lambda: StreamSlots(max_streams))

    def _make(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            limits=POOL_LIMITS,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            trust_env=True,
            verify=tls_context(),
        )

    def client(self) -> httpx.AsyncClient:
        client = self._clients.get()
        if client.is_closed:
            self._clients.pop()
            client = self._clients.get()
        return client

    def stream_slots(self) -> StreamSlots:
        """The current loop's budget of status streams."""
        return self._streams.get()

    async def aclose(self) -> None:
        """Close this loop's client (a later call opens a new one)."""
        client = self._clients.pop()
        if client is not None:
            await client.aclose()


SHARED_POOL = ClientPool()
