"""The one fan-out engine: many items at once (long-form segments, batch rows, fetch rebuilds, and the runs of
a ComfyUI list input, which ComfyUI executes concurrently in one event loop).

:class:`Engine` owns what every such caller needs, written once:
- the prepare gate (checks and estimates, a few at once; their status lines muted);
- identical-key dedup (the first item with a key runs, the others take its result);
- one concurrency limit (the pack's one limiter, ``concurrency.Limit``; :func:`loop_limit` is the one shared
  by every fan-out of a loop);
- cancel-all: cancelling :meth:`Engine.run` cancels every item, and their fal jobs only when the user
  interrupted (``pipeline/interrupt.py``); any other cancel leaves them running for the next run;
- failure isolation: one item's failure never stops the others;
- the combined status (:class:`~.status.FanOutSnapshot`).

:class:`FanOut` is the engine over generations (long-form segments): every item is an ordinary
:class:`Generation` (journaled, claimed, re-attachable), so a re-run reuses each finished item and re-attaches
to running ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..concurrency import Limit, PerLoop
from ..errors import InputError
from ..pipeline.generate import Generation, GenerationOutcome, PreparedGeneration
from ..pipeline.inputs import GenerationRequest
from ..pipeline.interrupt import UserInterrupt
from ..pipeline.status import RunStatus
from ..services import Services
from ..settings import MAX_PARALLEL_CAP
from ..states import STAGE_OF_PHASE, Stage
from .status import FanOutSnapshot, ItemState

T = TypeVar("T")
P = TypeVar("P")
PREPARE_AT_ONCE = 4  # preparing is CPU work (checks, digests of big tensors) plus one journal read


# Process-wide: {event loop: {size: the limit every fan-out of that loop shares}}. ComfyUI runs a prompt's
# nodes (and each item of a list input) in one loop, a CLI command is one loop: their fal jobs share it.
LIMITS: PerLoop[dict[int, Limit]] = PerLoop(dict)


def loop_limit(size: int) -> Limit:
    """The limit of ``size`` shared by every fan-out running in this event loop."""
    if not 1 <= size <= MAX_PARALLEL_CAP:
        raise ValueError(f"a fan-out limit must be from 1 to {MAX_PARALLEL_CAP} (got {size})")
    limits = LIMITS.get()
    if size not in limits:
        limits[size] = Limit(size)
    return limits[size]


@dataclass(frozen=True)
class ItemResult(Generic[T]):
    """How one item ended: an outcome, or the error that stopped it (never both)."""

    label: str
    outcome: T | None
    error: BaseException | None

    @property
    def ok(self) -> bool:
        return self.error is None


class Engine(Generic[T]):
    """Items by index, each with an :class:`ItemState` (the list is the caller's and may grow before
    :meth:`run`). ``on_change(index)`` is called on every change of an item (keep it cheap)."""

    def __init__(
        self,
        items: list[ItemState],
        *,
        noun: str,
        interrupt: UserInterrupt | None = None,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.items = items
        self.noun = noun
        self.interrupt = interrupt or UserInterrupt()
        self._on_change = on_change
        self._muted: set[int] = set()
        self._started = time.monotonic()

    def snapshot(self) -> FanOutSnapshot:
        return FanOutSnapshot(self.noun, tuple(self.items), time.monotonic() - self._started)

    def restart_clock(self) -> None:
        self._started = time.monotonic()

    # --- preparing (nothing is uploaded or paid) --------------------------------------------------------

    async def prepare(self, prepare_one: Callable[[int], Awaitable[P]]) -> list[P | InputError]:
        """``prepare_one(index)`` for every item, a few at once, their statuses muted. Bad input is returned
        per item (so that a caller can report all of them), never raised."""
        gate = Limit(PREPARE_AT_ONCE)

        async def one(index: int) -> P | InputError:
            async with gate:
                with self.muted(index):
                    try:
                        return await prepare_one(index)
                    except InputError as exc:
                        return exc

        return list(await asyncio.gather(*(one(i) for i in range(len(self.items)))))

    @contextlib.contextmanager
    def muted(self, index: int) -> Iterator[None]:
        """While checking: the item's statuses are not shown (the caller says what it is doing)."""
        self._muted.add(index)
        try:
            yield
        finally:
            self._muted.discard(index)

    def share_identical(self, keys: list[Hashable | None]) -> None:
        """The identical-key dedup: the first item with a key runs; each later one takes its result
        (``shared_with``) and costs nothing itself. ``None``: an item that is not run (bad input)."""
        first: dict[Hashable, int] = {}
        for index, key in enumerate(keys):
            if key is None:
                continue
            leader = first.setdefault(key, index)
            self.items[index].shared_with = None if leader == index else leader
            if leader != index:
                self.items[index].cost_usd = 0.0
        self._changed(None)

    def followers(self, index: int) -> list[int]:
        """The items identical to item ``index`` (which runs for them)."""
        return [i for i, item in enumerate(self.items) if item.shared_with == index]

    # --- running --------------------------------------------------------------------------------------

    async def run(
        self,
        run_one: Callable[[int], Awaitable[T]],
        *,
        limit: Limit | None,
        finish: Callable[[int, T], Awaitable[None]] | None = None,
    ) -> list[ItemResult[T]]:
        """Run every leading item (``run_one(index)``, holding ``limit`` if given); an identical item takes
        its leader's result. ``finish(index, result)`` then hands each item's result over (a failure there
        fails that item only). Items end done, failed or cancelled; cancelling this call cancels them all."""
        self.restart_clock()
        leaders = [i for i, item in enumerate(self.items) if item.shared_with is None]
        values: dict[int, T] = {}
        tasks = [asyncio.ensure_future(self._lead(i, run_one, limit, finish, values)) for i in leaders]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for index, item in enumerate(self.items):
                if not item.stage.final:
                    self.end(index, Stage.CANCELLED, item.error)
            raise
        return [
            ItemResult(
                label=item.label,
                outcome=values.get(i if item.shared_with is None else item.shared_with),
                error=None,
            )
            if item.stage is Stage.DONE
            else ItemResult(
                label=item.label, outcome=None, error=item.error or RuntimeError(f"{self.noun} {item.stage}")
            )
            for i, item in enumerate(self.items)
        ]

    async def _lead(
        self,
        index: int,
        run_one: Callable[[int], Awaitable[T]],
        limit: Limit | None,
        finish: Callable[[int, T], Awaitable[None]] | None,
        values: dict[int, T],
    ) -> None:
        group = [index, *self.followers(index)]
        try:
            async with limit if limit is not None else contextlib.nullcontext():
                value = await run_one(index)
        except asyncio.CancelledError:
            for i in group:
                self.end(i, Stage.CANCELLED, None)
            raise
        except Exception as exc:  # noqa: BLE001 - one item's failure, whatever it is, never stops the others
            for i in group:
                self.end(i, Stage.CANCELLED if self.interrupt.is_set() else Stage.FAILED, exc)
            return
        values[index] = value
        for i in group:
            try:
                if finish is not None:
                    await finish(i, value)
            except Exception as exc:  # noqa: BLE001 - e.g. a full disk: this item failed, the others go on
                self.end(i, Stage.FAILED, exc)
            else:
                self.end(i, Stage.DONE, None)

    def end(self, index: int, stage: Stage, error: BaseException | None) -> None:
        item = self.items[index]
        item.stage, item.error = stage, error
        self._changed(index)

    # --- the combined status --------------------------------------------------------------------------

    def sink(self, index: int) -> Callable[[RunStatus], None]:
        """Where item ``index`` sends its statuses: they set its stage (and its followers')."""

        def sink(status: RunStatus) -> None:
            item = self.items[index]
            if index in self._muted or item.stage.final:
                return
            item.status = status
            item.stage = STAGE_OF_PHASE.get(status.phase, item.stage)
            for follower in self.followers(index):
                self.items[follower].stage, self.items[follower].status = item.stage, status
            self._changed(index)

        return sink

    def _changed(self, index: int | None) -> None:
        if self._on_change is not None:
            for i in range(len(self.items)) if index is None else [index, *self.followers(index)]:
                self._on_change(i)


class FanOut:
    """The engine over generations (a long run's segments). Add requests with :meth:`add`, then
    :meth:`prepare` (no money spent) and :meth:`run`. ``limit``: a size, or a :class:`Limit` shared with
    other fan-outs."""

    def __init__(
        self,
        *,
        limit: int | Limit,
        services: Services,
        interrupt: UserInterrupt | None = None,
        on_change: Callable[[FanOutSnapshot], None] | None = None,
        noun: str = "segment",
    ) -> None:
        self.limit = limit if isinstance(limit, Limit) else Limit(limit)
        self.services = services
        self.items: list[ItemState] = []
        self.engine: Engine[GenerationOutcome] = Engine(
            self.items, noun=noun, interrupt=interrupt, on_change=self._changed if on_change else None
        )
        self.interrupt = self.engine.interrupt
        self._show = on_change
        self.generations: list[Generation] = []
        self.prepared: list[PreparedGeneration | None] = []

    def add(self, label: str, request: GenerationRequest) -> int:
        """Queue one request; returns its index."""
        index = len(self.items)
        self.items.append(ItemState(label))
        sink = self.engine.sink(index)
        self.generations.append(
            Generation(request, services=self.services, sink=sink, interrupt=self.interrupt)
        )
        self.prepared.append(None)
        return index

    def snapshot(self) -> FanOutSnapshot:
        return self.engine.snapshot()

    async def prepare(self) -> list[PreparedGeneration | InputError]:
        """Check every item, estimate it and compute its request key (nothing is uploaded or paid). Bad
        input is returned per item (its label prefixed); identical items are marked to run once."""
        results = await self.engine.prepare(lambda i: self.generations[i].prepare())
        for index, result in enumerate(results):
            if isinstance(result, InputError):
                results[index] = InputError(f"{self.items[index].label}: {result}")
            else:
                self.prepared[index] = result
                self.items[index].cost_usd = 0.0 if result.stored else result.plan.cost_usd
        self.engine.share_identical([p.key if p is not None else None for p in self.prepared])
        return results

    async def run(self) -> list[ItemResult[GenerationOutcome]]:
        """Run every prepared item (identical ones once), at most ``limit`` at a time. Failures are kept per
        item; cancelling this call cancels the items (their fal jobs only on the user's interrupt)."""
        if any(p is None for p in self.prepared):
            raise RuntimeError("prepare() every item (without errors) before run()")
        return await self.engine.run(lambda i: self.generations[i].run(), limit=self.limit)

    def _changed(self, index: int) -> None:
        if self._show is not None:
            self._show(self.snapshot())
