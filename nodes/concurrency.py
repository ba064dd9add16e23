"""The pack's concurrency primitives, each written once, on the base floor so that every layer may use them
(the transport's multipart parts, the pipeline's uploads, the fan-out engine):

- :class:`PerLoop`: a value for each running event loop;
- :class:`Limit`: the one concurrency limiter (at most ``size`` holders at once);
- :class:`SharedWork`: the one in-flight sharing by key (callers that need the same work at the same time,
  in one loop, share one run of it).

The fan-out engine builds on these: its per-loop limit (``fanout.engine.loop_limit``) is a :class:`Limit`,
and its identical-key dedup decides, before a fan-out runs, which of its items run at all.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class PerLoop(Generic[T]):
    """A lazily made value for each running event loop (e.g. a client or an ``asyncio.Lock``)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        # A value usually references its loop (open connections do), so the weak key alone would never
        # die: drop the values of loops that have finished (each ComfyUI prompt ends its own loop).
        for finished in [other for other in list(self._values.keys()) if other.is_closed()]:
            self._values.pop(finished, None)
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._factory()
        return value

    def pop(self) -> T | None:
        return self._values.pop(asyncio.get_running_loop(), None)


class Limit:
    """The pack's one concurrency limiter: at most ``size`` holders at once (``async with limit:``)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a concurrency limit must be at least 1 (got {size})")
        self.size = size
        self._free = asyncio.Semaphore(size)

    async def __aenter__(self) -> Limit:
        await self._free.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._free.release()


class SharedWork(Generic[K, T]):
    """Work shared by key within an event loop: the first caller with a key starts it; every caller with the
    same key while it runs awaits that same run. One caller stopping never stops the work the others wait
    for; a finished run is forgotten (the next caller starts a new one)."""

    def __init__(self) -> None:
        self._running: PerLoop[dict[K, asyncio.Future[T]]] = PerLoop(dict)

    async def run(
        self, key: K, start: Callable[[], Awaitable[T]], *, on_join: Callable[[], None] | None = None
    ) -> T:
        """``start()``'s result, or (after ``on_join()``) that of the run already under way for ``key``."""
        running = self._running.get()
        future = running.get(key)
        if future is None:
            future = running[key] = asyncio.ensure_future(start())
            future.add_done_callback(lambda done: running.pop(key) if running.get(key) is done else None)
        elif on_join is not None:
            on_join()
        return await asyncio.shield(future)
