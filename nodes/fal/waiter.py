"""Wait for a queued job: status stream first, polling as fallback, wait limits enforced throughout.

A watcher task produces statuses (SSE events, or polls that start fast and settle at ~1 s); the waiting
coroutine consumes them with a deadline, so a silent stream cannot hide a queue-wait limit. Cancelling
the waiting task cancels the watcher, which closes its stream. A stream is opened only while the loop's
stream budget allows (``pool.StreamSlots``): beyond it a waiter polls, so waiting jobs never hold the
connections the other calls need.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx

from ..errors import FalAvatarError, FalServerError, FalTimeoutError, JobCancelledError
from ..settings import WaitLimits
from .bounded import within
from .models import CancelOutcome, LogEntry, QueueHandle, QueueStatus
from .pool import StreamSlots
from .queue import QueueApi, StreamUnavailable

log = logging.getLogger(__name__)

MAX_STREAM_FAILURES = 3  # short-lived or broken streams in a row before polling for good
MIN_STREAM_S = 2.0  # a stream that ends sooner than this without COMPLETED counts as broken
# error_type of the FalTimeoutError raised when a wait limit cancelled the job (a network timeout has none)
QUEUE_LIMIT = "queue_wait_limit"
PROCESSING_LIMIT = "processing_limit"


@dataclass(frozen=True)
class PollSchedule:
    """Poll intervals: fast at first (short jobs finish quickly), then about one request per second."""

    first_s: float = 0.15
    factor: float = 1.5
    max_s: float = 1.0

    def intervals(self) -> Iterator[float]:
        interval = self.first_s
        while True:
            yield interval
            interval = min(self.max_s, interval * self.factor)


def merge_logs(known: tuple[LogEntry, ...], new: tuple[LogEntry, ...]) -> tuple[LogEntry, ...]:
    """Cumulative logs whether the server sends the full list (polling) or increments (stream)."""
    if new[: len(known)] == known:
        return new
    seen = set(known)
    return known + tuple(entry for entry in new if entry not in seen)


class _Clock:
    """Which wait limit applies now, and how long until it is reached."""

    def __init__(self, limits: WaitLimits) -> None:
        self.limits = limits
        self.started = time.monotonic()
        self.state: str | None = None
        self.running_since: float | None = None

    def observe(self, status: QueueStatus) -> None:
        self.state = status.state
        if status.state == "IN_PROGRESS" and self.running_since is None:
            self.running_since = time.monotonic()

    def remaining(self) -> float | None:
        now = time.monotonic()
        if self.state in (None, "IN_QUEUE") and self.limits.queue_wait_s:
            return self.started + self.limits.queue_wait_s - now
        if self.state == "IN_PROGRESS" and self.limits.processing_s and self.running_since is not None:
            return self.running_since + self.limits.processing_s - now
        return None

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


async def _call(callback: Callable[[QueueStatus], Any] | None, status: QueueStatus) -> None:
    if callback is not None:
        result = callback(status)
        if inspect.isawaitable(result):
            await result


class Waiter:
    def __init__(
        self,
        api: QueueApi,
        limits: WaitLimits,
        schedule: PollSchedule,
        *,
        use_stream: bool = True,
        stream_slots: Callable[[], StreamSlots] | None = None,
    ):
        self._api = api
        self._limits = limits
        self._schedule = schedule
        self._use_stream = use_stream
        self._stream_slots = stream_slots

    # --- producing statuses --------------------------------------------------------------------

    async def _streamed(self, handle: QueueHandle) -> AsyncIterator[QueueStatus]:
        """Statuses from the SSE stream; returns (without COMPLETED) when polling should take over."""
        failures = 0
        while failures < MAX_STREAM_FAILURES:
            opened = time.monotonic()
            try:
                async for status in self._api.stream_status(handle):
                    yield status
                    if status.done:
                        return
            except StreamUnavailable as exc:
                log.info("fal status stream unavailable (%s); polling instead", exc)
                return
            except httpx.TransportError as exc:
                log.info("fal status stream dropped (%s); catching up", type(exc).__name__)
            failures = failures + 1 if time.monotonic() - opened < MIN_STREAM_S else 0
            status = await self._api.status(handle)  # catch up on whatever the drop hid
            yield status
            if status.done:
                return

    async def _statuses(self, handle: QueueHandle) -> AsyncIterator[QueueStatus]:
        slots = self._stream_slots() if self._use_stream and self._stream_slots is not None else None
        if self._use_stream and (slots is None or slots.take()):
            try:
                async for status in self._streamed(handle):
                    yield status
                    if status.done:
                        return
            finally:
                if slots is not None:
                    slots.give_back()
        elif self._use_stream:
            log.debug("%d fal status streams open; polling for %s", slots.open, handle.request_id)
        for interval in self._schedule.intervals():
            status = await self._api.status(handle)
            yield status
            if status.done:
                return
            await asyncio.sleep(interval)

    async def _watch(self, handle: QueueHandle, queue: asyncio.Queue) -> None:
        try:
            async for status in self._statuses(handle):
                queue.put_nowait(status)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the waiting task, which raises it
            queue.put_nowait(_Failed(exc))

    # --- consuming them ------------------------------------------------------------------------

    async def wait(
        self, handle: QueueHandle, on_status: Callable[[QueueStatus], Any] | None = None
    ) -> QueueStatus:
        clock = _Clock(self._limits)
        queue: asyncio.Queue = asyncio.Queue()
        watcher = asyncio.ensure_future(self._watch(handle, queue))
        logs: tuple[LogEntry, ...] = ()
        try:
            while True:
                left = clock.remaining()
                try:
                    # not asyncio.wait_for: before Python 3.12 it can swallow a user's cancel that arrives
                    # with a status, and the run would then wait on a job nobody cancelled
                    item = await (queue.get() if left is None else within(left, queue.get()))
                except asyncio.TimeoutError:
                    item = await self._api.status(handle)  # a limit is due: confirm the state first
                if isinstance(item, _Failed):
                    raise item.error
                logs = merge_logs(logs, item.logs)
                status = replace(item, logs=logs)
                clock.observe(status)
                await _call(on_status, status)
                if status.done:
                    return self._finish(handle, status)
                if clock.expired():
                    await self._give_up(handle, clock)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    @staticmethod
    def _finish(handle: QueueHandle, status: QueueStatus) -> QueueStatus:
        if not status.failed:
            return status
        said = status.error or status.error_type
        if status.error_type == "client_cancelled":
            raise JobCancelledError(
                f"The fal job was cancelled ({said}).",
                error_type=status.error_type,
                request_id=handle.request_id,
            )
        raise FalServerError(
            f"The fal job failed: {said}. This happened on fal's side (failed requests are not billed); "
            "try again in a moment.",
            error_type=status.error_type,
            request_id=handle.request_id,
        )

    async def _give_up(self, handle: QueueHandle, clock: _Clock) -> None:
        """A limit was reached: cancel the job and raise (unless it completed in the meantime)."""
        queued = clock.state != "IN_PROGRESS"
        limit = clock.limits.queue_wait_s if queued else clock.limits.processing_s
        where = (
            f"still waiting in fal's queue after {_minutes(limit)} (FAL_AVATAR_QUEUE_TIMEOUT_MIN)"
            if queued
            else f"still generating after {_minutes(limit)} (FAL_AVATAR_PROCESSING_TIMEOUT_MIN)"
        )
        try:
            outcome = await self._api.cancel(handle)
        except FalAvatarError as exc:
            raise FalTimeoutError(
                f"The job was {where}, and cancelling it failed ({exc.message}). It may still run and be "
                "billed: check https://fal.ai/dashboard.",
                request_id=handle.request_id,
            ) from exc
        if outcome is CancelOutcome.ALREADY_COMPLETED:
            clock.state = "COMPLETED"  # it finished meanwhile: keep waiting for that status
            return
        charged = (
            "it never started, so nothing was charged"
            if queued
            else "fal may bill the processing time already used"
        )
        raise FalTimeoutError(
            f"The job was {where}; it was cancelled ({charged}). Try again later or raise the limit.",
            error_type=QUEUE_LIMIT if queued else PROCESSING_LIMIT,
            request_id=handle.request_id,
        )


def _minutes(seconds: float | None) -> str:
    seconds = seconds or 0.0
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
