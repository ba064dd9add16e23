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
        return {node_id: CANCELLED if t.cancelled() else (t.exception() or t.result()) for node_id, t in tasks.items()}

    return asyncio.run(execute())
