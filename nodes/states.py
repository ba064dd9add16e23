"""The state words: a fal job's (the journal), a run's (its status line) and a row's (an item of a fan-out or
a batch), with the one mapping between them.

Each is a ``str`` enum whose value is the word users, the JSON summaries and the journal have always seen
(a contract: ``"failed"`` stays ``"failed"``). A member prints, formats and compares as its word.
"""

from __future__ import annotations

from enum import Enum


class Word(str, Enum):
    """A state word: ``str(x)``, ``f"{x}"`` and ``json.dumps`` give its value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class JobState(Word):
    """A journaled fal job."""

    SUBMITTING = "submitting"  # written right before submit: the outcome of the submit is not known yet
    SUBMITTED = "submitted"
    COMPLETED = "completed"  # fal finished it; its result JSON is stored
    DOWNLOADED = "downloaded"  # its video is in the media store
    FAILED = "failed"
    CANCELLED = "cancelled"


class Phase(Word):
    """Where one run stands (``RunStatus.phase``)."""

    VALIDATING = "validating"
    UPLOADING = "uploading"
    CACHED = "cached"
    WAITING = "waiting"
    SUBMITTING = "submitting"
    REATTACHED = "reattached"
    QUEUED = "queued"
    GENERATING = "generating"
    DOWNLOADING = "downloading"
    SEGMENTS = "segments"  # a long run's combined status
    STITCHING = "stitching"
    DECODING = "decoding"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"
    STOPPED = "stopped"  # the run stopped without cancelling its fal job (the next run re-attaches)


class Stage(Word):
    """Where one item of a fan-out (a segment, a batch row) stands."""

    PENDING = "pending"
    STARTING = "starting"
    QUEUED = "queued"
    GENERATING = "generating"
    DOWNLOADING = "downloading"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"

    @property
    def final(self) -> bool:
        return self in FINAL_STAGES

    @property
    def outcome(self) -> Outcome:
        """The row's outcome as a batch reports it (a stopped row counts as cancelled)."""
        if self in (Stage.DONE, Stage.FAILED, Stage.CANCELLED):
            return Outcome(self.value)
        if self is Stage.STOPPED:
            return Outcome.CANCELLED
        return Outcome.PENDING if self is Stage.PENDING else Outcome.RUNNING


class Outcome(Word):
    """How a batch row ended (or that it has not yet)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STAGES = frozenset({Stage.DONE, Stage.FAILED, Stage.CANCELLED, Stage.STOPPED})
ENDED = (Outcome.DONE, Outcome.FAILED, Outcome.CANCELLED)

# The one mapping: a run's phase → the stage of the item it is.
STAGE_OF_PHASE: dict[Phase, Stage] = {
    Phase.VALIDATING: Stage.STARTING,
    Phase.WAITING: Stage.STARTING,
    Phase.UPLOADING: Stage.STARTING,
    Phase.SUBMITTING: Stage.STARTING,
    Phase.CACHED: Stage.DOWNLOADING,
    Phase.REATTACHED: Stage.QUEUED,
    Phase.QUEUED: Stage.QUEUED,
    Phase.GENERATING: Stage.GENERATING,
    Phase.DOWNLOADING: Stage.DOWNLOADING,
    Phase.DECODING: Stage.DOWNLOADING,
    Phase.DONE: Stage.DONE,
    Phase.ERROR: Stage.FAILED,
    Phase.CANCELLED: Stage.CANCELLED,
    Phase.STOPPED: Stage.STOPPED,
    Phase.SEGMENTS: Stage.GENERATING,  # a long run's combined status (a batch row made of segments)
    Phase.STITCHING: Stage.DOWNLOADING,
}
