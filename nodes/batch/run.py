"""A batch: many whole runs (rows) in one event loop, through the fan-out engine, with one set of services.

Flow: :meth:`Batch.check` prepares every row (inputs read, checks, plan, estimate, request keys: nothing is
uploaded or paid), collects every bad row, and lets the engine mark identical rows (the same request keys:
they run once and share the result). :meth:`Batch.run` then runs the rows through
:class:`~..longform.run.AvatarRunner`; their fal jobs (long rows' segments included) share the event loop's
one limit of ``max_parallel``. Each row's inputs are read again when it starts (and must still give the same
request keys), and at most ``max_parallel`` rows hold their decoded inputs at once. What the engine does for
every fan-out (prepare gate, dedup, limit, failure isolation, cancel-all on the user's interrupt only, the
combined status) is in ``fanout/engine.py``; this module keeps what is a batch's own: its rows, re-reading
their inputs, delivering their videos, and timestamps. Every generation is an ordinary journaled one, so
running the same batch again pays only for the rows not generated yet and re-attaches to jobs still running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..concurrency import Limit
from ..errors import InputError
from ..fanout.engine import Engine, loop_limit
from ..fanout.status import FanOutSnapshot, ItemState
from ..longform.run import AvatarRun, AvatarRunner, RunEstimate, materialize_run
from ..pipeline.inputs import GenerationRequest
from ..pipeline.interrupt import UserInterrupt
from ..pipeline.spend import Spend, total
from ..pipeline.status import RunStatus
from ..services import Services
from ..states import Outcome, Stage


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
    started_at: float | None = None
    finished_at: float | None = None
    runner: AvatarRunner | None = field(default=None, repr=False)  # its run (its spend, live)

    @property
    def spend(self) -> Spend:
        """What this process submitted for the row, and what it reused (failed rows included)."""
        return self.runner.spend if self.runner is not None else Spend()

    @property
    def error(self) -> BaseException | None:
        return self.state.error

    @error.setter
    def error(self, error: BaseException | None) -> None:
        self.state.error = error

    @property
    def same_as(self) -> int | None:
        """The index of the identical row that runs for this one (it takes that row's result)."""
        return self.state.shared_with

    @property
    def request_ids(self) -> tuple[str, ...]:
        """Its fal requests: the run's, else the one its error or latest status names (to recover it)."""
        if self.run is not None:
            return self.run.request_ids
        known = getattr(self.error, "request_id", None) or (
            self.state.status.request_id if self.state.status else None
        )
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
        self.engine: Engine[AvatarRun] = Engine(
            [row.state for row in self.rows], noun="row", on_change=self._changed
        )
        self._deliver = deliver
        self._on_change = on_change
        self._started: float | None = None
        self._pinned: dict[int, Services] = {}  # rows' pinned views of the media store, until run() ends

    # --- checking (nothing is uploaded or paid) -------------------------------------------------------------

    async def check(self) -> BatchEstimate:
        """Prepare every row (at most a few at once: reading inputs is CPU work). Bad rows are returned, all
        of them, never raised; identical rows are marked (``same_as``) and counted once."""

        async def one(index: int) -> RunEstimate:
            row = self.rows[index]

            def note(status: RunStatus) -> None:
                if status.detail.startswith("note: ") and status.detail[6:] not in row.notes:
                    row.notes.append(status.detail[6:])

            request = await asyncio.to_thread(row.item.load)
            return await AvatarRunner(request, services=self.services, sink=note).prepare()

        results = await self.engine.prepare(one)
        problems = [(i, r) for i, r in enumerate(results) if isinstance(r, InputError)]
        for row, result in zip(self.rows, results, strict=True):
            if not isinstance(result, InputError):
                row.estimate = result
                row.state.cost_usd = result.to_pay_usd
        self.engine.share_identical([row.estimate.keys if row.estimate else None for row in self.rows])
        leaders = [row.estimate for row in self.rows if row.estimate is not None and row.same_as is None]
        return BatchEstimate(
            rows=len(self.rows),
            jobs=sum(e.jobs for e in leaders),
            estimate_usd=round(sum(e.estimate_usd for e in leaders), 4),
            to_pay_usd=round(sum(e.to_pay_usd for e in leaders), 4),
            problems=tuple(problems),
        )

    # --- running --------------------------------------------------------------------------------------------

    async def run(self, interrupt: UserInterrupt | None = None) -> list[BatchRow]:
        """Run every checked row (identical ones once); each ends done, failed or cancelled. Cancelling this
        call cancels the rows (their fal jobs only when ``interrupt`` is set: the user's own interrupt)."""
        if any(row.estimate is None for row in self.rows):
            raise RuntimeError("check() every row (without problems) before run()")
        self.engine.interrupt = interrupt or UserInterrupt()
        self._started = time.monotonic()
        jobs = loop_limit(self.max_parallel)  # fal jobs in flight, across all rows
        open_rows = Limit(self.max_parallel)  # rows whose inputs are in memory
        try:
            await self.engine.run(
                lambda index: self._run_row(index, jobs, open_rows), limit=None, finish=self._finish
            )
        finally:
            for services in self._pinned.values():
                services.media.release()
            self._pinned.clear()
        return self.rows

    @property
    def spend(self) -> Spend:
        """The batch's jobs: submitted by this process, and reused (an identical row's counted as reused)."""
        shared = [
            row.estimate for row in self.rows if row.same_as is not None and row.outcome is Outcome.DONE
        ]
        reused = Spend.reused(round(sum(e.estimate_usd for e in shared), 4), jobs=sum(e.jobs for e in shared))
        return total(row.spend for row in self.rows if row.same_as is None) + reused

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
        return self.engine.followers(index)

    async def _run_row(self, index: int, jobs: Limit, open_rows: Limit) -> AvatarRun:
        # The row's own view of the media store: its files stay pinned (never evicted, by any process) until
        # the batch has delivered them (released when run() ends).
        services = self._pinned[index] = replace(self.services, media=self.services.media.pinning())
        async with open_rows:
            run = await self._generate(index, jobs, services)
        await materialize_run(
            run,
            want_frames=False,
            want_audio=False,
            thorough=True,
            services=services,
            sink=self.engine.sink(index),
        )
        return run

    async def _generate(self, index: int, jobs: Limit, services: Services) -> AvatarRun:
        """The row's run; its inputs are released when this returns."""
        row = self.rows[index]
        request = await asyncio.to_thread(row.item.load)
        runner = row.runner = AvatarRunner(
            request,
            services=services,
            sink=self.engine.sink(index),
            interrupt=self.engine.interrupt,
            limit=jobs,
        )
        with self.engine.muted(index):  # its checks: the row waits for a free slot until its first status
            estimate = await runner.prepare()
        if estimate.keys != row.estimate.keys:
            raise InputError(
                "its inputs changed after the batch was checked (a file was edited meanwhile); nothing was "
                "submitted for it. Run the batch again: rows already done cost nothing."
            )
        return await runner.run()

    async def _finish(self, index: int, run: AvatarRun) -> None:
        self.rows[index].run = run
        if self._deliver is not None:
            await asyncio.to_thread(self._deliver, index, run)

    def _changed(self, index: int) -> None:
        row = self.rows[index]
        now = time.monotonic()
        if row.started_at is None and row.state.stage is not Stage.PENDING:
            row.started_at = now
        if row.finished_at is None and row.state.stage.final:
            row.finished_at = now
        if self._on_change is not None:
            self._on_change(index)
