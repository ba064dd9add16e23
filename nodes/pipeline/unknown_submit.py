"""A submit whose outcome is unknown: the run died, or lost fal's answer, while the submit was on the way.

fal may or may not have created (and billed) the job. The run first asks fal's request history for a
request to this endpoint, sent around that time with exactly these arguments: if fal has it, the run
re-attaches to it (no new charge). Otherwise nothing is submitted again on the pack's own initiative —
"not listed" is not proof (fal's docs do not say whether unfinished requests are listed) — and the user
decides, knowing how to check (fal's request history) and the two ways on: pay for a new generation
(``--resubmit`` in the CLI, a new seed in ComfyUI) or recover the job by its request id
(``fal-avatar fetch``, the Fetch Result node).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from ..errors import RequestLookupUnavailableError, UnknownSubmitError
from ..fal.models import QueueHandle
from ..fal.request_history import RequestRecord, match_by_arguments
from ..services import Services
from ..states import Phase
from ..store.journal import SUBMITTING, JournalEntry
from .status import StatusBoard

DASHBOARD = "https://fal.ai/dashboard"
WINDOW_SLACK = timedelta(minutes=5)  # clock differences between this machine and fal
MAX_CANDIDATES = 5


def unknown_submit_hint(endpoint_id: str) -> str:
    return (
        f"fal may or may not have this job (and may bill it): check your request history at {DASHBOARD} "
        f"(endpoint {endpoint_id}). The next run of this exact request will not submit it again on its own."
    )


def _when(entry: JournalEntry) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created_at))


async def settle_unknown_submit(
    entry: JournalEntry,
    *,
    endpoint_id: str,
    services: Services,
    board: StatusBoard,
    resubmit: bool,
    new_generation_hint: str,
    warn: Callable[[str], None],
) -> QueueHandle | None:
    """Decide what happens to a request whose last submit's outcome is unknown: the job fal has for it
    (found in its request history), ``None`` when the user asked to submit again (``resubmit``; ``warn``
    says what that risks), or :class:`UnknownSubmitError` with the ways on (``new_generation_hint``: how
    the node asks for a new generation)."""
    journal = services.journal
    if (
        entry.state == SUBMITTING
    ):  # left by a run that stopped while submitting: keep the record, never reuse it
        await asyncio.to_thread(
            journal.fail_submitting, entry.row_id, "submit outcome unknown: the run stopped while submitting"
        )
    if resubmit:
        warn(
            f"Submitting again as asked, although an earlier submit of this exact request ({_when(entry)}) "
            f"got no answer: if fal had created that job, both are billed ({DASHBOARD})."
        )
        return None
    board.update(Phase.VALIDATING, detail="an earlier submit got no answer: asking fal's request history")
    client = services.client
    since = datetime.fromtimestamp(entry.created_at, timezone.utc) - WINDOW_SLACK
    try:
        records = await client.find_requests(
            endpoint_id, since=since, until=datetime.now(timezone.utc) + WINDOW_SLACK
        )
    except RequestLookupUnavailableError as exc:
        finding = f"fal's request history could not be read ({exc.message})"
    else:
        match = match_by_arguments(records, entry.arguments) if entry.arguments is not None else None
        if match is not None and match.best is not None:
            handle = QueueHandle.for_request(endpoint_id, match.best.request_id, client.urls.queue)
            await asyncio.to_thread(journal.record_submit, entry.row_id, handle.to_dict())
            board.update(
                Phase.REATTACHED,
                request_id=handle.request_id,
                detail="found in fal's request history; no new submit",
            )
            return handle
        finding = _finding(records, match is not None and match.conclusive)
    raise UnknownSubmitError(
        "An earlier run of this exact request stopped while its submit was on the way to fal "
        f"({_when(entry)}), so fal may or may not have a job for it (and may bill it). {finding} Nothing was "
        f"submitted again. Check your request history at {DASHBOARD} (endpoint {endpoint_id}, around that "
        "time). If the job is there, recover it at no cost: `fal-avatar fetch <REQUEST_ID> --endpoint "
        f"{endpoint_id}`, or the 'fal Avatar: Fetch Result' node. To pay for a new generation instead, run "
        f"again with --resubmit (command line) or {new_generation_hint} (ComfyUI)."
    )


def _finding(records: list[RequestRecord], compared_all: bool) -> str:
    """What fal's request history said, for the error message."""
    if not records:
        return (
            "fal's request history lists no request to this endpoint around then (yet: a job still queued "
            "or running may not be listed)."
        )
    if compared_all:
        return (
            "fal's request history lists no request with these inputs (yet: a job still queued or running "
            "may not be listed)."
        )
    ids = ", ".join(r.request_id for r in records[:MAX_CANDIDATES]) + (
        " …" if len(records) > MAX_CANDIDATES else ""
    )
    return (
        f"fal's request history lists {len(records)} request(s) to this endpoint around then ({ids}) but not "
        "their inputs, so which one (if any) is this run's cannot be told."
    )
