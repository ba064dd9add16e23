"""The user's own interrupt (ComfyUI's Cancel, Ctrl-C): the only thing that cancels fal jobs.

A run's task can also be cancelled for reasons the user did not choose: another node of the same
ComfyUI prompt failed and the executor shut the prompt down, or the program is exiting. Cancelling the
fal job then would throw away a healthy, paid generation. So a generation cancels its fal job only when
its :class:`UserInterrupt` is set; otherwise the job runs on, its journal entry stays ``submitted``, and
the next run re-attaches to it or takes its stored result at no new cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import JobCancelledError

T = TypeVar("T")


class UserInterrupt:
    """Set when the user asked to stop. ``probe`` reads a flag owned by someone else (ComfyUI's)."""

    def __init__(self, probe: Callable[[], bool] | None = None) -> None:
        self._probe = probe
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        if not self._set and self._probe is not None and self._probe():
            self._set = True
        return self._set


async def run_cancellable(coro: Awaitable[T], interrupt: UserInterrupt | None, *, poll_s: float = 0.2) -> T:
    """Await ``coro`` as a task. Once ``interrupt`` is set, cancel it (its clean-up cancels the fal jobs)
    and raise :class:`JobCancelledError`. If this await itself is cancelled for another reason, the task
    is cancelled too and given time to release what it holds, but its fal jobs keep running."""
    task = asyncio.ensure_future(coro)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=None if interrupt is None else poll_s)
            if done:
                return task.result()
            if interrupt is not None and interrupt.is_set():
                task.cancel()
                try:
                    return await task  # it may have finished in the meantime
                except asyncio.CancelledError:
                    raise JobCancelledError("Cancelled by the user; the fal job (if any) was cancelled too.") from None
    except asyncio.CancelledError:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        raise
