"""TEST DOUBLE of how ComfyUI v0.28.1's executor (execution.py) runs the async nodes of one prompt.

`PromptExecutor.execute` is `asyncio.run(execute_async(...))`. Every async node runs as a task, so the
nodes of a prompt run concurrently, and the executor stops at the first node that raised (an error, or
InterruptProcessingException after Cancel). `asyncio.run`'s shutdown then cancels every task still pending
(the other nodes and every task they created) and waits for them. That order is a set's, so any order can
happen; this double cancels the newest tasks first, the order in which a task that is already cleaning up
after its own cancel is cancelled a second time by the task awaiting it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable

CANCELLED = "cancelled"


def run_prompt(nodes: dict[str, Callable[[], Awaitable]]) -> dict[str, object]:
    """Run each node's coroutine as a task until one raises or all are done; then cancel the rest as
    `asyncio.run` would. Returns node id -> its result, its exception, or CANCELLED."""

    async def execute() -> dict[str, object]:
        created: weakref.WeakKeyDictionary[asyncio.Task, int] = weakref.WeakKeyDictionary()

        def factory(loop, coro, **kwargs):
            task = asyncio.Task(coro, loop=loop, **kwargs)
            created[task] = len(created)
            return task

        asyncio.get_running_loop().set_task_factory(factory)
        tasks = {node_id: asyncio.ensure_future(make()) for node_id, make in nodes.items()}
        pending = set(tasks.values())
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(not t.cancelled() and t.exception() is not None for t in done):
                break
        current = asyncio.current_task()
        rest = sorted((t for t in asyncio.all_tasks() if t is not current), key=lambda t: -created.get(t, -1))
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        return {
            node_id: CANCELLED if t.cancelled() else (t.exception() or t.result())
            for node_id, t in tasks.items()
        }

    return asyncio.run(execute())


class PromptQueue:
    """TEST DOUBLE of execution.PromptQueue (v0.28.1): the same attributes and methods the pack's
    queue-ahead watcher reads or hooks. Items are (number, prompt_id, prompt, extra_data, outputs,
    sensitive)."""

    def __init__(self, server) -> None:
        import threading

        self.server = server
        self.mutex = threading.RLock()
        self.queue: list[tuple] = []
        self.currently_running: dict[int, tuple] = {}
        self.history: dict[str, dict] = {}
        self.task_counter = 0

    def put(self, item: tuple) -> None:
        with self.mutex:
            self.queue.append(item)
            self.queue.sort(key=lambda queued: queued[0])

    def get(self, timeout=None):
        with self.mutex:
            if not self.queue:
                return None
            item = self.queue.pop(0)
            self.currently_running[self.task_counter] = item
            self.task_counter += 1
            return item, self.task_counter - 1

    def task_done(self, item_id: int, history_result: dict, status=None, process_item=None) -> None:
        with self.mutex:
            item = self.currently_running.pop(item_id)
            self.history[item[1]] = {"prompt": item, "outputs": {}, "status": status, **history_result}

    def get_current_queue(self):
        with self.mutex:
            return list(self.currently_running.values()), list(self.queue)

    def wipe_queue(self) -> None:
        with self.mutex:
            self.queue = []

    def delete_queue_item(self, function) -> bool:
        with self.mutex:
            for index, item in enumerate(self.queue):
                if function(item):
                    self.queue.pop(index)
                    return True
        return False
