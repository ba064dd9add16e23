"""What a run's ``request_id`` output holds: one fal request id, or every segment's id with its place.

A long run's reference lists the segments in order as ``<request id>@<start frame>`` and ends with
``frames=<N>``, e.g. ``a1…@0,b2…@689,c3…@1380,frames=2125``. That is all the Fetch Result node and
``fal-avatar fetch`` need to rebuild the stitched video for free from the stored (or fal's) results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


@dataclass(frozen=True)
class SegmentRef:
    request_id: str
    start_frame: int


@dataclass(frozen=True)
class RunRef:
    """A single request (``total_frames`` None) or a long run's segments."""

    segments: tuple[SegmentRef, ...]
    total_frames: int | None = None

    @property
    def single(self) -> bool:
        return self.total_frames is None

    @property
    def request_ids(self) -> tuple[str, ...]:
        return tuple(s.request_id for s in self.segments)

    def __str__(self) -> str:
        if self.single:
            return self.segments[0].request_id
        return (
            ",".join(f"{s.request_id}@{s.start_frame}" for s in self.segments)
            + f",frames={self.total_frames}"
        )


def parse_ref(text: str, *, field: str = "request_id") -> RunRef:
    """Parse what a generation's ``request_id`` output showed (one id, or a long run's list)."""
    parts = [p.strip() for p in re.split(r"[,\s]+", text.strip()) if p.strip()]
    if not parts:
        raise InputError("is empty; paste the request id shown by the generation node", field=field)
    if len(parts) == 1 and "@" not in parts[0]:
        if not _ID.fullmatch(parts[0]):
            raise InputError(f"{parts[0]!r} is not a fal request id", field=field)
        return RunRef((SegmentRef(parts[0], 0),))
    total = None
    segments = []
    for part in parts:
        if part.startswith("frames="):
            total = _number(part[len("frames=") :], field)
            continue
        request_id, at, start = part.partition("@")
        if not at or not _ID.fullmatch(request_id):
            raise InputError(
                f"{part!r} is not '<request id>@<start frame>'; paste the whole value the node showed",
                field=field,
            )
        segments.append(SegmentRef(request_id, _number(start, field)))
    starts = [s.start_frame for s in segments]
    if (
        total is None
        or not segments
        or starts[0] != 0
        or starts != sorted(set(starts))
        or total <= starts[-1]
    ):
        raise InputError(
            "is not a complete segment list ('…@0,…@<start>,frames=<N>'); paste it whole", field=field
        )
    return RunRef(tuple(segments), total)


def _number(text: str, field: str) -> int:
    if not text.isdigit():
        raise InputError(
            f"{text!r} is not a frame number; paste the whole value the node showed", field=field
        )
    return int(text)
