"""Many generations at once: a concurrency limit, one combined status, isolated failures.

Its users are long-form segments, batch rows and a ComfyUI node's parallel work. Every item is an ordinary
:class:`Generation` (journaled, claimed, re-attachable), so a re-run reuses each finished item and
re-attaches to running ones. Identical requests (the same request key) run once and share the result.
One item's failure never stops the others. Only the user's interrupt cancels fal jobs: cancelling the
fan-out for any other reason leaves its jobs running for the next run (see ``pipeline/interrupt.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InputError
from ..pipeline.generate import Generation, GenerationOutcome, PreparedGeneration
from ..pipeline.inputs import GenerationRequest
from ..pipeline.interrupt import UserInterrupt
from ..pipeline.status import RunStatus
from ..services import Services
from ..states import STAGE_OF_PHASE, Stage
from .status import FanOutSnapshot, ItemState

PREPARE_AT_ONCE = 4  # preparing is CPU work (checks, digests of big tensors) plus one journal read


@dataclass(frozen=True)
class ItemResult:
    """How one item ended: an outcome, or the error that stopped it (never both)."""

    label: str
    outcome: GenerationOutcome | None
    error: BaseException | None

    @property
    def ok(self) -> bool:
        return self.outcome is not None


class FanOut:
    """Add requests with :meth:`add`, then :meth:`prepare` (no money spent) and :meth:`run`."""

    def __init__(
        self,
        *,
        limit: int,
        slots: asyncio.Semaphore | None = None,
        interrupt: UserInterrupt | None = None,
        services: Services,
        on_change: Callable[[FanOutSnapshot], None] | None = None,
        noun: str = "segment",
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._slots = slots  # shared with other fan-outs (a batch's rows), else one of ``limit`` per run()
        self.interrupt = interrupt or UserInterrupt()
        self.services = services
        self.noun = noun
        self._on_change = on_change
        self._started = time.monotonic()
        self.items: list[ItemState] = []
        self.generations: list[Generation] = []
        self.prepared: list[PreparedGeneration | None] = []
        self._preparing = False

    def add(self, label: str, request: GenerationRequest) -> int:
        """Queue one request; returns its index."""
        index = len(self.items)
        self.items.append(ItemState(label))
        self.generations.append(
            Generation(request, services=self.services, sink=self._sink(index), interrupt=self.interrupt)
        )
        self.prepared.append(None)
        return index

    def snapshot(self) -> FanOutSnapshot:
        return FanOutSnapshot(self.noun, tuple(self.items), time.monotonic() - self._started)

    async def prepare(self) -> list[PreparedGeneration | InputError]:
        """Check every item, estimate it and compute its request key (nothing is uploaded or paid).
        Bad input is returned per item (its label prefixed), so a caller can report all of them."""
        gate = asyncio.Semaphore(PREPARE_AT_ONCE)
        self._preparing = True

        async def one(index: int) -> PreparedGeneration | InputError:
            async with gate:
                try:
                    prepared = await self.generations[index].prepare()
                except InputError as exc:
                    return InputError(f"{self.items[index].label}: {exc}")
            self.prepared[index] = prepared
            self.items[index].cost_usd = 0.0 if prepared.stored else prepared.plan.cost_usd
            return prepared

        try:
            results = await asyncio.gather(*(one(i) for i in range(len(self.items))))
        finally:
            self._preparing = False
        seen: dict[str, int] = {}
        for index, prepared in enumerate(self.prepared):
            if prepared is not None:
                first = seen.setdefault(prepared.key, index)
                if first != index:
                    self.items[index].shared_with = first
        self._changed()
        return results

    async def run(self) -> list[ItemResult]:
        """Run every prepared item (identical ones once), at most ``limit`` at a time. Failures are kept per
        item; cancelling this call cancels the items (their fal jobs only on the user's interrupt)."""
        if any(p is None for p in self.prepared):
            raise RuntimeError("prepare() every item (without errors) before run()")
        slots = self._slots or asyncio.Semaphore(self.limit)
        leaders = [i for i, item in enumerate(self.items) if item.shared_with is None]
        tasks = {i: asyncio.ensure_future(self._run_one(i, slots)) for i in leaders}
        try:
            done = dict(zip(tasks, await asyncio.gather(*tasks.values()), strict=True))
        except asyncio.CancelledError:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        results = []
        for index, item in enumerate(self.items):
            leader = done[item.shared_with if item.shared_with is not None else index]
            if item.shared_with is not None:
                item.stage, item.status = self.items[item.shared_with].stage, self.items[item.shared_with].status
            results.append(ItemResult(item.label, leader.outcome, leader.error))
        self._changed()
        return results

    async def _run_one(self, index: int, slots: asyncio.Semaphore) -> ItemResult:
        item = self.items[index]
        try:
            async with slots:
                outcome = await self.generations[index].run()
        except Exception as exc:  # noqa: BLE001 - one item's failure, whatever it is, must not stop the others
            item.stage = Stage.CANCELLED if self.interrupt.is_set() else Stage.FAILED
            self._changed()
            return ItemResult(item.label, None, exc)
        item.stage = Stage.DONE
        self._changed()
        return ItemResult(item.label, outcome, None)

    def _sink(self, index: int) -> Callable[[RunStatus], None]:
        def sink(status: RunStatus) -> None:
            if self._preparing:  # checks and estimates: the caller says what it is doing
                return
            item = self.items[index]
            item.status = status
            if item.stage not in (Stage.DONE, Stage.FAILED, Stage.CANCELLED):
                item.stage = STAGE_OF_PHASE.get(status.phase, item.stage)
            self._changed()

        return sink

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.snapshot())
