"""A submit whose outcome is unknown: the run died, or lost fal's answer, while the submit was on the way.

fal may or may not have created (and billed) the job. Nothing is submitted again on the pack's own
initiative: the user decides, knowing how to check (fal's request history) and the two ways on — pay for
a new generation (``--resubmit`` in the CLI, a new seed in ComfyUI) or recover the job by its request id
(``fal-avatar fetch``, the Fetch Result node).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..errors import UnknownSubmitError
from ..fal.models import QueueHandle
from ..store.journal import SUBMITTING, JournalEntry

if TYPE_CHECKING:
    from .generate import Generation

DASHBOARD = "https://fal.ai/dashboard"


def unknown_submit_hint(endpoint_id: str) -> str:
    return (
        f"fal may or may not have this job (and may bill it): check your request history at {DASHBOARD} "
        f"(endpoint {endpoint_id}). The next run of this exact request will not submit it again on its own."
    )


def _when(entry: JournalEntry) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created_at))


async def settle_unknown_submit(generation: Generation, entry: JournalEntry) -> QueueHandle | None:
    """Decide what happens to a request whose last submit's outcome is unknown: raise
    :class:`UnknownSubmitError` with the ways on, or return ``None`` when the user asked to submit again."""
    journal, endpoint_id = generation.services.journal, generation.spec.endpoint_id
    if entry.state == SUBMITTING:  # left by a run that stopped while submitting: keep the record, never reuse it
        await asyncio.to_thread(
            journal.fail_submitting, entry.row_id, "submit outcome unknown: the run stopped while submitting"
        )
    if generation.request.resubmit:
        generation.warnings.append(
            f"Submitting again as asked, although an earlier submit of this exact request ({_when(entry)}) got no "
            f"answer: if fal had created that job, both are billed ({DASHBOARD})."
        )
        return None
    raise UnknownSubmitError(
        f"An earlier run of this exact request stopped while its submit was on the way to fal ({_when(entry)}), "
        f"so fal may or may not have a job for it (and may bill it). Nothing was submitted again. Check your "
        f"request history at {DASHBOARD} (endpoint {endpoint_id}, around that time). If the job is there, "
        f"recover it at no cost: `fal-avatar fetch <REQUEST_ID> --endpoint {endpoint_id}`, or the "
        "'fal Avatar: Fetch Result' node. To pay for a new generation instead, run again with --resubmit "
        "(command line) or change the seed (ComfyUI)."
    )
