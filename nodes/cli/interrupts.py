"""Running a command's coroutine so that Ctrl-C is the user's interrupt (which cancels fal jobs)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..pipeline.interrupt import UserInterrupt, run_cancellable

T = TypeVar("T")


def run_interruptible(make: Callable[[UserInterrupt], Awaitable[T]]) -> T:
    """``asyncio.run`` of ``make(interrupt)``; SIGINT sets the interrupt, so the run cancels its fal jobs
    and ends with :class:`JobCancelledError` (exit code 130)."""
    interrupt = UserInterrupt()

    async def main() -> T:
        loop = asyncio.get_running_loop()

        def on_sigint(_signum, _frame) -> None:
            loop.call_soon_threadsafe(interrupt.set)

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            return await run_cancellable(make(interrupt), interrupt)
        finally:
            signal.signal(signal.SIGINT, previous)

    return asyncio.run(main())
