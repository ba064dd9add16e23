"""The user's own interrupt (ComfyUI's Cancel, Ctrl-C): the only thing that cancels fal jobs.

A run's task can also be cancelled for reasons the user did not choose: another node of the same
ComfyUI prompt failed and the executor shut the prompt down, or the program is exiting. Cancelling the
fal job then would throw away a healthy, paid generation. So a generation cancels its fal job only when
its :class:`UserInterrupt` is set; otherwise the job runs on, its journal entry stays ``submitted``, and
the next run re-attaches to it or takes its stored result at no new cost.

ComfyUI (v0.28.1) runs a prompt's async nodes as tasks of one ``asyncio.run``; when the first node raises,
the executor stops and ``asyncio.run``'s shutdown cancels every task still pending, also a task that is
already cleaning up after its own cancel. Hence :func:`finish_despite_cancel` for clean-up, and a run
stopped by the user waits for the other runs the same interrupt stopped (see :func:`run_cancellable`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import JobCancelledError

T = TypeVar("T")

STOP_WAIT_S = 30.0  # at most this long a run stopped by the user waits for the other runs it stopped


class UserInterrupt:
    """Set when the user asked to stop. ``probe`` reads a flag owned by someone else (ComfyUI's)."""

    def __init__(self, probe: Callable[[], bool] | None = None) -> None:
        self._probe = probe
        self._set = False
        self.cancelled: list[str] = []  # request ids of the fal jobs this interrupt cancelled

    def stopped_text(self) -> str:
        """What the user's stop did, truthfully: which fal jobs it cancelled, if any."""
        kept = "finished results are kept, and running again takes them at no charge"
        if not self.cancelled:
            return f"Cancelled by the user; no fal job was running any more, so none was cancelled ({kept})."
        jobs = (
            "the running fal job" if len(self.cancelled) == 1 else f"{len(self.cancelled)} running fal jobs"
        )
        return f"Cancelled by the user; {jobs} cancelled too ({', '.join(self.cancelled)}); {kept}."

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        if not self._set and self._probe is not None and self._probe():
            self._set = True
        return self._set


_RUNS: dict[asyncio.Future, UserInterrupt] = {}  # the runs in progress (tasks of run_cancellable)


async def run_cancellable(coro: Awaitable[T], interrupt: UserInterrupt | None, *, poll_s: float = 0.2) -> T:
    """Await ``coro`` as a task. Once ``interrupt`` is set, cancel it (its clean-up cancels the fal jobs),
    wait for the other runs of this event loop that the interrupt stops too (so that none of them is cut
    short by an executor reacting to this one), and raise :class:`JobCancelledError`. If this await itself
    is cancelled for another reason, the task is cancelled too and given time to release what it holds, but
    its fal jobs keep running."""
    task = asyncio.ensure_future(coro)
    if interrupt is not None:
        _RUNS[task] = interrupt
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
                    raise JobCancelledError(interrupt.stopped_text()) from None
                finally:
                    await _other_stops(task)
    except asyncio.CancelledError:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        raise
    finally:
        _RUNS.pop(task, None)


async def _other_stops(own: asyncio.Future) -> None:
    """Wait until the other runs of this loop whose interrupt is set (they poll it) have stopped."""
    loop = asyncio.get_running_loop()
    others = {
        t
        for t, i in list(_RUNS.items())
        if t is not own and not t.done() and t.get_loop() is loop and i.is_set()
    }
    if others:
        await asyncio.wait(others, timeout=STOP_WAIT_S)


async def finish_despite_cancel(clean_up: Awaitable[T]) -> T:
    """Await ``clean_up`` (run as a task) to its end even if this task is cancelled, any number of times,
    meanwhile; then raise that cancel (the clean-up's own error, if any, is dropped with it). Clean-up after
    a first cancel (cancelling a fal job, journaling a submit, giving a claim back) must not be cut short
    by a second one."""
    task = asyncio.ensure_future(clean_up)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled():
            task.exception()  # retrieved: it goes with the cancel
        raise asyncio.CancelledError
    return task.result()
