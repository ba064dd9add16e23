"""Queue-ahead: start the fal jobs of queued ComfyUI prompts before ComfyUI reaches them.

ComfyUI runs one prompt at a time (one worker thread), so ten queued avatar prompts would wait for ten fal
jobs one after another, although fal runs them side by side. This watcher lives in the ComfyUI server
process, on a daemon thread with its own event loop. It sees the prompts ComfyUI accepted (its queue holds
only prompts that passed validation) through hooks on the queue's ``put``, ``get``, ``delete_queue_item``,
``wipe_queue`` and ``task_done`` plus a reconcile every ``RECONCILE_S``. For the first N queued prompts
(the setting, ``queue_ahead_settings``) it starts every fal generation node whose inputs are all known now
(``early_rules``): the same request (``node_request``), the same key, the same spend guard and the ordinary
journaled generation path, stopped after the submit. When ComfyUI reaches the prompt, the node finds the job
in the journal and re-attaches at no new cost, as after a crash.

A prompt that leaves the queue without running (deleted, queue cleared) gets its early jobs cancelled: fal
does not bill a job cancelled while still queued on fal; one already generating may be billed, which the
server log and the settings panel say. A prompt that starts running takes its jobs over, and its nodes cancel
those they re-attached to when the user interrupts it. A node interrupted before it re-attached (a Cancel
pressed as the prompt starts) cancels nothing: when ComfyUI records the prompt as interrupted, the watcher
cancels the prompt's early jobs that are still running. An interrupt never reaches the early jobs of prompts
still queued.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError, FalAvatarError
from ..fal.models import CancelOutcome, QueueHandle
from ..longform.run import start_avatar_ahead
from ..pipeline.inputs import JobOrigin
from ..pipeline.status import RunStatus
from ..services import Services, build_services
from ..store.journal import QUEUE_AHEAD, SUBMITTED
from .early_rules import EarlyNode, node_inputs, sort_nodes
from .node_request import node_request
from .queue_ahead_settings import prompts_ahead

log = logging.getLogger("comfyui-fal-avatar")

RECONCILE_S = 2.0
HOOKED = ("put", "get", "delete_queue_item", "wipe_queue", "task_done")  # task_done: a prompt ended
LEFT_QUEUE = "left the queue"
INTERRUPTED = "was interrupted"

NOTES_KEPT = 512  # node notes of recent prompts (what a node says when its prompt runs)
MESSAGES_KEPT = 20  # recent cancel messages for the settings panel


def _interrupted(item: dict) -> bool:
    """Whether a history item of ComfyUI's queue is a prompt the user interrupted (its status messages hold
    ``execution_interrupted``)."""
    messages = (item.get("status") or {}).get("messages") or ()
    return any(message and message[0] == "execution_interrupted" for message in messages)


@dataclass
class EarlyJob:
    """One generation node of a queued prompt, started early (or examined and left alone)."""

    prompt_id: str
    node_id: str
    endpoint: str
    task: asyncio.Task | None = None
    phase: str = "preparing"
    estimate_usd: float | None = None
    handles: tuple[QueueHandle, ...] = ()
    started_at: float | None = None

    def to_json(self) -> dict:
        return {
            "prompt_id": self.prompt_id,
            "node": self.node_id,
            "endpoint": self.endpoint,
            "phase": self.phase,
            "estimate_usd": self.estimate_usd,
            "request_ids": [h.request_id for h in self.handles],
            "started_at": self.started_at,
        }


class QueueAhead:
    """Watches one ComfyUI ``PromptQueue``. ``run_loader`` runs ComfyUI's own loader nodes; ``limit`` gives
    the number of prompts ahead (0: off); ``services`` builds a run's services (once per early start)."""

    def __init__(
        self,
        queue,
        *,
        run_loader: Callable[[str, dict], tuple],
        limit: Callable[[], int] = lambda: prompts_ahead()[0],
        services: Callable[[], Services] = build_services,
    ) -> None:
        self.queue = queue
        self._run_loader = run_loader
        self._limit = limit
        self._services = services
        self._jobs: dict[str, list[EarlyJob]] = {}  # queued prompt id -> its early jobs (owned by the loop)
        self._taken: dict[str, list[EarlyJob]] = {}  # the same, of prompts running (their nodes took them)
        self._busy: set[asyncio.Task] = (
            set()
        )  # tasks of prompts handed over or cancelled, kept alive to the end
        self._notes: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._notes_lock = threading.Lock()
        self.messages: deque[str] = deque(maxlen=MESSAGES_KEPT)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._limit_error: str | None = None

    # -- life cycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Hook the queue and run the watcher's loop on a daemon thread."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="fal-avatar-queue-ahead", daemon=True)
        self._thread.start()
        for name in HOOKED:
            self._hook(name)

    def stop(self) -> None:
        """Cancel the watcher's tasks and end its loop (its jobs keep running on fal, journaled)."""
        if self._thread is None or not self._thread.is_alive():
            return

        async def shut() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            asyncio.get_running_loop().stop()

        asyncio.run_coroutine_threadsafe(shut(), self.loop)
        self._thread.join(timeout=30)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.create_task(self._reconcile_forever())
        self.loop.run_forever()

    def _hook(self, name: str) -> None:
        original = getattr(self.queue, name)

        def hooked(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            finally:
                self.poke()

        setattr(self.queue, name, hooked)

    def poke(self) -> None:
        """The queue changed: look at it soon (thread-safe)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.reconcile)

    async def _reconcile_forever(self) -> None:
        while True:
            self.reconcile()
            await asyncio.sleep(RECONCILE_S)

    def call(self, fn: Callable[[], object]):
        """Run ``fn`` on the watcher's loop and return its result (from another thread)."""

        async def run():
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    # -- the queue ----------------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Compare the queue with the prompts being started early (on the watcher's loop)."""
        try:
            self._reconcile()
        except Exception:  # noqa: BLE001 - the watcher must outlive any surprise in one look at the queue
            log.exception("comfyui-fal-avatar: queue-ahead could not read ComfyUI's queue")

    def _reconcile(self) -> None:
        limit = self._read_limit()
        with self.queue.mutex:
            pending = sorted(self.queue.queue, key=lambda item: item[0])
            running = {item[1] for item in self.queue.currently_running.values()}
            history = self.queue.history
            ended = {p: history[p] for p in [*self._jobs, *self._taken] if p in history}
        queued = {item[1] for item in pending}
        for prompt_id in [p for p in self._jobs if p not in queued]:
            jobs = self._jobs.pop(prompt_id)
            if prompt_id in running or prompt_id in ended:
                self._keep_alive(job.task for job in jobs)  # the prompt's nodes take the jobs over
                self._taken[prompt_id] = jobs
            elif jobs:
                self._keep_alive([self.loop.create_task(self._cancel_prompt(prompt_id, jobs, LEFT_QUEUE))])
        # ended (or gone from the history, which a user can clear)
        for prompt_id in [p for p in self._taken if p in ended or p not in running]:
            jobs = self._taken.pop(prompt_id)
            if prompt_id in ended and _interrupted(ended[prompt_id]):
                self._keep_alive([self.loop.create_task(self._cancel_prompt(prompt_id, jobs, INTERRUPTED))])
        for item in pending[:limit]:
            if item[1] not in self._jobs:
                self._examine(item[1], item[2], item[4])

    def _read_limit(self) -> int:
        try:
            limit = self._limit()
        except ConfigError as exc:
            if exc.message != self._limit_error:
                log.warning("comfyui-fal-avatar: queue-ahead is off: %s", exc.message)
            self._limit_error = exc.message
            return 0
        self._limit_error = None
        return limit

    def _keep_alive(self, tasks) -> None:
        for task in tasks:
            if task is not None and not task.done():
                self._busy.add(task)
                task.add_done_callback(self._busy.discard)

    def _examine(self, prompt_id: str, prompt: dict, outputs) -> None:
        early, late = sort_nodes(prompt, outputs)
        for node in late:
            self._note(prompt_id, node.node_id, f"not started early: {node.reason}")
        jobs = []
        for node in early:
            job = EarlyJob(prompt_id, node.node_id, node.spec.endpoint_id)
            job.task = self.loop.create_task(self._start(job, prompt, node))
            jobs.append(job)
        self._jobs[prompt_id] = jobs

    async def _start(self, job: EarlyJob, prompt: dict, node: EarlyNode) -> None:
        def sink(status: RunStatus) -> None:
            job.phase = status.phase
            if status.cost_usd is not None and job.started_at is None:
                job.estimate_usd = status.cost_usd

        try:
            inputs = await asyncio.to_thread(node_inputs, prompt, node.node_id, self._run_loader)
            origin = JobOrigin(QUEUE_AHEAD, job.prompt_id)
            request = node_request(node.spec, inputs, prompt, node.node_id, origin)
            estimate, handles = await start_avatar_ahead(request, services=self._services(), sink=sink)
        except FalAvatarError as exc:
            job.phase = "not started"
            self._note(job.prompt_id, job.node_id, f"not started early: {exc}")
            log.info(
                "comfyui-fal-avatar: prompt %s node %s not started early: %s", job.prompt_id, job.node_id, exc
            )
            return
        except Exception as exc:  # noqa: BLE001 - the node runs as usual and reports the error itself
            job.phase = "not started"
            log.exception(
                "comfyui-fal-avatar: prompt %s node %s not started early", job.prompt_id, job.node_id
            )
            self._note(job.prompt_id, job.node_id, f"not started early: {exc}")
            return
        job.handles, job.estimate_usd = handles, estimate.to_pay_usd
        if not handles:
            job.phase = "journaled"  # running or done already: the node takes it at no new cost
            return
        job.phase, job.started_at = "started", time.time()
        ids = ", ".join(h.request_id for h in handles)
        log.info(
            "comfyui-fal-avatar: queued prompt %s node %s: started %d fal job(s) early (%s), est. $%.2f",
            job.prompt_id,
            job.node_id,
            len(handles),
            ids,
            estimate.to_pay_usd,
        )

    async def _cancel_prompt(self, prompt_id: str, jobs: list[EarlyJob], why: str) -> None:
        """The prompt left the queue without running, or was interrupted: stop its early starts and cancel
        its fal jobs still running (``why`` says which, in the messages)."""
        for job in jobs:
            if job.task is not None and not job.task.done():
                job.task.cancel()  # a start cut short still journals a submit that was on the way
        await asyncio.gather(*(job.task for job in jobs if job.task is not None), return_exceptions=True)
        services = self._services()
        # The journal knows every job started for the prompt, those of a start cut short included.
        for entry in await asyncio.to_thread(services.journal.of_prompt, prompt_id):
            if entry.state == SUBMITTED:
                handle = QueueHandle.from_dict(entry.handle)
                self._say(await self._cancel_job(services, f"prompt {prompt_id} {why}", handle))

    async def _cancel_job(self, services: Services, what: str, handle: QueueHandle) -> str:
        rid, outcome = handle.request_id, None
        try:
            status = await services.client.status(handle, logs=False)
            if not status.done:
                outcome = await services.client.cancel(handle)
        except FalAvatarError as exc:
            return (
                f"{what}, but its early fal job {rid} could not be cancelled "
                f"({exc}); it stays in the journal (fal-avatar jobs) and may be billed"
            )
        if status.done or outcome is CancelOutcome.ALREADY_COMPLETED:
            return (
                f"{what} after its early fal job {rid} had finished (billed): "
                "the result is kept (fal-avatar jobs, Fetch Result) and costs nothing to fetch"
            )
        await asyncio.to_thread(services.journal.mark_cancelled, rid)
        if status.state == "IN_PROGRESS":
            return f"{what}: its early fal job {rid} was cancelled while already generating; fal may bill it"
        return f"{what}: its early fal job {rid} was cancelled while queued on fal (not billed)"

    def _say(self, message: str) -> None:
        (log.warning if "bill" in message and "not billed" not in message else log.info)(
            "comfyui-fal-avatar: %s", message
        )
        self.messages.append(message)

    # -- what the node and the panel read ------------------------------------------------------------------
    def _note(self, prompt_id: str, node_id: str, text: str) -> None:
        with self._notes_lock:
            self._notes[(prompt_id, node_id)] = text
            while len(self._notes) > NOTES_KEPT:
                self._notes.popitem(last=False)

    def note_for(self, prompt_id: str | None, node_id: str | None) -> str | None:
        """Why the node of this prompt was not started early (None: it was, or there is nothing to say)."""
        with self._notes_lock:
            return self._notes.get((str(prompt_id), str(node_id)))

    def jobs(self) -> list[EarlyJob]:
        """The early jobs of the prompts still queued (read on the watcher's loop)."""
        return [job for jobs in self._jobs.values() for job in jobs]

    def status(self) -> dict:
        """For the settings panel: the early jobs of queued prompts, their estimates' sum, recent cancels."""
        jobs, messages = self.call(lambda: ([job.to_json() for job in self.jobs()], list(self.messages)))
        live = [job for job in jobs if job["phase"] not in ("not started", "journaled")]
        return {
            "jobs": live,
            "early_usd": round(sum(job["estimate_usd"] or 0.0 for job in live), 4),
            "messages": messages,
        }


WATCHER: QueueAhead | None = None


def install(server, run_loader: Callable[[str, dict], tuple]) -> QueueAhead | None:
    """Start watching ``server.prompt_queue`` (once per process)."""
    global WATCHER
    if WATCHER is None and getattr(server, "prompt_queue", None) is not None:
        WATCHER = QueueAhead(server.prompt_queue, run_loader=run_loader)
        WATCHER.start()
        log.info("comfyui-fal-avatar: queue-ahead watching ComfyUI's queue")
    return WATCHER


def note_for(prompt_id: str | None, node_id: str | None, prompt: dict | None) -> str | None:
    """What a running node says about queue-ahead: why its job was not started early (the watcher's note, or
    the rule that keeps a node fed by another node from starting early), or None."""
    note = WATCHER.note_for(prompt_id, node_id) if WATCHER is not None else None
    if note is not None or not isinstance(prompt, dict):
        return note
    try:
        if prompts_ahead()[0] == 0:
            return None
    except ConfigError:
        return None
    late = {node.node_id: node.reason for node in sort_nodes(prompt)[1]}
    return f"not started early: {late[str(node_id)]}" if str(node_id) in late else None
