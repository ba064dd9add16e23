"""A batch: many whole runs (rows) in one event loop, sharing one concurrency limit and one set of services.

Flow: :meth:`Batch.check` prepares every row (inputs read, checks, plan, estimate, request keys: nothing is
uploaded or paid), collects every bad row, and finds identical rows (the same request keys: they run once and
share the result). :meth:`Batch.run` then runs the rows through :class:`~..longform.run.AvatarRunner` with one
shared ``slots`` semaphore: at most ``max_parallel`` fal jobs in flight across all rows, long rows' segments
included. Each row's inputs are read again when it starts (and must still give the same request keys), so the
batch holds the decoded inputs of the rows in flight only. One row's failure never stops the others; only the
user's interrupt cancels fal jobs. Every generation is an ordinary journaled one, so running the same batch
again pays only for the rows not generated yet and re-attaches to jobs still running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import InputError
from ..fanout.engine import PREPARE_AT_ONCE
from ..fanout.status import FanOutSnapshot, ItemState
from ..longform.run import AvatarRun, AvatarRunner, RunEstimate, materialize_run
from ..pipeline.inputs import GenerationRequest
from ..pipeline.interrupt import UserInterrupt
from ..pipeline.status import RunStatus
from ..services import Services
from ..states import STAGE_OF_PHASE, Outcome, Stage


@dataclass(frozen=True)
class BatchItem:
    """One row: a label for the user, its endpoint, and how to read its request (called in a thread, once when
    the batch is checked and once when the row starts; raises InputError)."""

    label: str
    endpoint_id: str
    load: Callable[[], GenerationRequest]


@dataclass
class BatchRow:
    """A row's state: its estimate, where it stands (``state.stage``, the latest status) and how it ended."""

    item: BatchItem
    state: ItemState
    estimate: RunEstimate | None = None
    notes: list[str] = field(default_factory=list)  # what its checks said (audio cut, segments, ...)
    run: AvatarRun | None = None
    error: BaseException | None = None
    started_at: float | None = None
    finished_at: float | None = None
    preparing: bool = field(default=False, repr=False)

    @property
    def same_as(self) -> int | None:
        """The index of the identical row that runs for this one (it takes that row's result)."""
        return self.state.shared_with

    @property
    def request_ids(self) -> tuple[str, ...]:
        """Its fal requests: the run's, else the one its error or latest status names (to recover it)."""
        if self.run is not None:
            return self.run.request_ids
        known = getattr(self.error, "request_id", None) or (self.state.status.request_id if self.state.status else None)
        return (known,) if known else ()

    @property
    def outcome(self) -> Outcome:
        """``pending``, ``running``, ``done``, ``failed`` or ``cancelled``."""
        return self.state.stage.outcome


@dataclass(frozen=True)
class BatchEstimate:
    """The checked batch: its rows' problems, fal jobs and money (identical rows counted once)."""

    rows: int
    jobs: int
    estimate_usd: float
    to_pay_usd: float
    problems: tuple[tuple[int, InputError], ...]  # (row index, what is wrong)

    @property
    def reused_usd(self) -> float:
        return round(self.estimate_usd - self.to_pay_usd, 4)


class Batch:
    """Add rows as :class:`BatchItem`; :meth:`check`, then :meth:`run`. ``deliver(index, run)`` (called in a
    thread) hands a finished row's video over (a failure there fails that row); ``on_change(index)`` is
    called on every change of a row (keep it cheap: a download reports every chunk)."""

    def __init__(
        self,
        items: list[BatchItem],
        *,
        services: Services,
        deliver: Callable[[int, AvatarRun], None] | None = None,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.services = services
        self.max_parallel = services.settings.max_parallel
        self.rows = [BatchRow(item, ItemState(item.label)) for item in items]
        self._deliver = deliver
        self._on_change = on_change
        self._started: float | None = None
        self._followers: dict[int, list[int]] = {}

    # --- checking (nothing is uploaded or paid) ----------------------------------------------------------------

    async def check(self) -> BatchEstimate:
        """Prepare every row (at most a few at once: reading inputs is CPU work). Bad rows are returned, all
        of them, never raised; identical rows are marked (``same_as``) and counted once."""
        gate = asyncio.Semaphore(PREPARE_AT_ONCE)
        problems: list[tuple[int, InputError]] = []

        async def one(index: int) -> None:
            row = self.rows[index]

            def note(status: RunStatus) -> None:
                if status.detail.startswith("note: ") and status.detail[6:] not in row.notes:
                    row.notes.append(status.detail[6:])

            async with gate:
                try:
                    request = await asyncio.to_thread(row.item.load)
                    row.estimate = await AvatarRunner(
                        request, services=self.services, sink=note).prepare()
                except InputError as exc:
                    problems.append((index, exc))

        await asyncio.gather(*(one(i) for i in range(len(self.rows))))
        first: dict[tuple[str, ...], int] = {}
        for index, row in enumerate(self.rows):
            if row.estimate is None:
                continue
            leader = first.setdefault(row.estimate.keys, index)
            row.state.shared_with = None if leader == index else leader
            row.state.cost_usd = row.estimate.to_pay_usd if leader == index else 0.0
            if leader != index:
                self._followers.setdefault(leader, []).append(index)
        leaders = [row.estimate for row in self.rows if row.estimate is not None and row.same_as is None]
        return BatchEstimate(
            rows=len(self.rows),
            jobs=sum(e.jobs for e in leaders),
            estimate_usd=round(sum(e.estimate_usd for e in leaders), 4),
            to_pay_usd=round(sum(e.to_pay_usd for e in leaders), 4),
            problems=tuple(sorted(problems, key=lambda p: p[0])),
        )

    # --- running ---------------------------------------------------------------------------------------------

    async def run(self, interrupt: UserInterrupt | None = None) -> list[BatchRow]:
        """Run every checked row (identical ones once); each ends done, failed or cancelled. Cancelling this
        call cancels the rows (their fal jobs only when ``interrupt`` is set: the user's own interrupt)."""
        if any(row.estimate is None for row in self.rows):
            raise RuntimeError("check() every row (without problems) before run()")
        interrupt = interrupt or UserInterrupt()
        self._started = time.monotonic()
        slots = asyncio.Semaphore(self.max_parallel)  # fal jobs in flight, across all rows
        open_rows = asyncio.Semaphore(self.max_parallel)  # rows whose inputs are in memory
        leaders = [i for i, row in enumerate(self.rows) if row.same_as is None]
        tasks = [asyncio.ensure_future(self._run_row(i, slots, open_rows, interrupt)) for i in leaders]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for index, row in enumerate(self.rows):
                if row.state.stage not in (Stage.DONE, Stage.FAILED):
                    self._end(index, Stage.CANCELLED, row.error)
            raise
        return self.rows

    @property
    def started(self) -> bool:
        """Whether :meth:`run` has begun (rows may have uploaded or submitted)."""
        return self._started is not None

    def snapshot(self) -> FanOutSnapshot:
        """Every row now (counts per stage, the overall fraction, the money still to pay)."""
        elapsed = time.monotonic() - self._started if self._started is not None else 0.0
        return FanOutSnapshot("row", tuple(row.state for row in self.rows), elapsed)

    def followers(self, index: int) -> list[int]:
        """The rows identical to row ``index`` (which runs for them)."""
        return self._followers.get(index, [])

    async def _run_row(
        self, index: int, slots: asyncio.Semaphore, open_rows: asyncio.Semaphore, interrupt: UserInterrupt
    ) -> None:
        rows = [index, *self.followers(index)]
        try:
            async with open_rows:
                run = await self._generate(index, slots, interrupt)
            await materialize_run(
                run, want_frames=False, want_audio=False, thorough=True, services=self.services, sink=self._sink(index)
            )
        except asyncio.CancelledError:
            for i in rows:
                self._end(i, Stage.CANCELLED, None)
            raise
        except Exception as exc:  # noqa: BLE001 - one row's failure, whatever it is, must not stop the others
            for i in rows:
                self._end(i, Stage.CANCELLED if interrupt.is_set() else Stage.FAILED, exc)
            return
        for i in rows:
            self.rows[i].run = run
            try:
                if self._deliver is not None:
                    await asyncio.to_thread(self._deliver, i, run)
            except Exception as exc:  # noqa: BLE001 - e.g. a full disk: this row failed, the others go on
                self._end(i, Stage.FAILED, exc)
            else:
                self._end(i, Stage.DONE, None)

    async def _generate(self, index: int, slots: asyncio.Semaphore, interrupt: UserInterrupt) -> AvatarRun:
        """The row's run; its inputs are released when this returns."""
        row = self.rows[index]
        request = await asyncio.to_thread(row.item.load)
        runner = AvatarRunner(
            request, services=self.services, sink=self._sink(index), interrupt=interrupt,
            slots=slots,
        )
        row.preparing = True
        try:
            estimate = await runner.prepare()
        finally:
            row.preparing = False
        if estimate.keys != row.estimate.keys:
            raise InputError(
                "its inputs changed after the batch was checked (a file was edited meanwhile); nothing was "
                "submitted for it. Run the batch again: rows already done cost nothing."
            )
        return await runner.run()

    def _sink(self, index: int) -> Callable[[RunStatus], None]:
        def sink(status: RunStatus) -> None:
            row = self.rows[index]
            if row.preparing or row.state.stage.final:
                return  # its checks: the row waits for a free slot until its first status after them
            row.state.status = status
            row.state.stage = STAGE_OF_PHASE.get(status.phase, row.state.stage)
            now = time.monotonic()
            for i in (index, *self.followers(index)):
                if self.rows[i].started_at is None:
                    self.rows[i].started_at = now
                if i != index:
                    self.rows[i].state.stage, self.rows[i].state.status = row.state.stage, status
            self._changed(index)

        return sink

    def _end(self, index: int, outcome: Stage, error: BaseException | None) -> None:
        row = self.rows[index]
        row.state.stage = outcome
        row.error = error
        row.finished_at = time.monotonic()
        self._changed(index)

    def _changed(self, index: int) -> None:
        if self._on_change is not None:
            self._on_change(index)
