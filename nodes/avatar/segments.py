"""Cut plan for talking videos longer than one fal job: segments that overlap inside speech pauses.

Timeline: output frames at 25 fps, ``t = 0..N-1``. Segment ``i`` renders frames ``[S_i, S_i + F_i)``
from the original audio over ``[S_i/25, (S_i+F_i)/25)`` s (zero-padded past the end). Every ``F_i`` is
4n+1 within ``[rule.min_frames, rule.max_frames - margin]``. The join after segment ``i`` is centred on
the cut frame ``c_i``: ``S_{i+1} = c_i - overlap // 2`` and ``F_i = round_up_4n1(c_i + overlap -
overlap // 2 - S_i)``, so consecutive segments overlap by ``overlap`` to ``overlap + 3`` frames (the
4n+1 rounding). ``S_0 = 0``; the last segment ends at or after N (the stitcher drops the padded frames).

Choosing the cuts (:func:`plan_segments`): ``k`` is the smallest count whose segments can cover N, or
up to two more when that puts more joins in pauses (the first count with the fewest joins outside
pauses; each extra segment bills about ``overlap`` frames more). Candidate cuts are each pause's
quietest point (moved just enough to keep the whole overlap, with its up to 3 rounding frames, inside
the pause; a pause too short for that gets the overlap centred on it), the quietest 100 ms of every
0.5 s of audio (of every 1/100 of the longest segment when that is longer), and the equal-length
cuts. :mod:`.partition` then picks the ``k - 1`` cuts that minimise

    sum over segments   8 × ((length − mean length) / mean length)²          (balance)
  + sum over joins      in a pause:  0.5 × (1 − min(pause s, 1))             (prefers long pauses)
                                   + 0.5 × (1 − min(depth dB / 30, 1))        (and deep ones)
                                   + 0.5 × share of the overlap outside the pause
                        elsewhere:   2 + 2 × clip((level − (speech − 40 dB)) / 40 dB, 0, 1)

where depth is the speech level minus the pause's mean level, and level is that of the join's 100 ms.
A join in a pause long enough for the overlap, but placed so that the overlap spills out of it, costs
as if it were outside (only the equal-length cuts can be placed so).
A join in any pause costs less than one outside (at most 1.5 against at least 2); outside pauses, 10 dB
quieter is worth 0.5, as much as making two segments 18 % longer or shorter than the mean.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .endpoints import EndpointSpec
from .frames import FPS, FrameRule, frames_covering, round_down_4n1, round_up_4n1
from .partition import Line, best_joins

OVERLAP_FRAMES = 8
MARGIN_FRAMES = 24
_CELL_S, _CELLS_PER_SEGMENT = 0.5, 100  # fallback candidates: the quietest 100 ms of every cell
_WINDOW_S = 0.1
_BALANCE_WEIGHT = 8.0
EXTRA_SEGMENTS = 2  # at most this many more than the minimum, to move joins into pauses
_SILENCE_DB = -120.0  # the level of the time past the end of the audio


class PauseLike(Protocol):
    """A pause as :class:`nodes.media.pauses.Pause` describes it."""

    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def quietest_s(self) -> float: ...
    @property
    def level_db(self) -> float: ...


class ProfileLike(Protocol):
    """What the planner reads from :class:`nodes.media.pauses.SpeechProfile`. ``level`` and
    ``quietest`` must accept times past ``duration_s`` (silence there)."""

    @property
    def duration_s(self) -> float: ...
    @property
    def speech_db(self) -> float: ...
    @property
    def pauses(self) -> Sequence[PauseLike]: ...
    def level(self, start_s: float, end_s: float) -> float: ...
    def quietest(self, start_s: float, end_s: float, window_s: float = 0.1) -> float: ...


@dataclass(frozen=True)
class Segment:
    """One fal job: output frames ``[start_frame, start_frame + frames)``; ``cut_s``: the centre of the
    join with the next segment (``None`` for the last)."""

    index: int
    start_frame: int
    frames: int
    cut_s: float | None

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.frames


@dataclass(frozen=True)
class SegmentPlan:
    total_frames: int
    overlap: int
    segments: tuple[Segment, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Pause:
    start_s: float
    end_s: float
    quietest_s: float
    level_db: float


def frame_rule(spec: EndpointSpec, resolution: str | None = None) -> FrameRule:
    """The row's frame limits on the planning timeline (25 per second). For a row without ``num_frames``,
    its per-job seconds at ``resolution`` (StableAvatar: 300 s → 7500 frames; OmniHuman at 1080p: 30 s → 750);
    where fal's limit is unknown, the row's planning limit."""
    if spec.frames is not None:
        return spec.frames
    seconds = spec.job_seconds(resolution if resolution is not None else spec.default_resolution)
    if seconds is None:
        raise ValueError(f"{spec.endpoint_id} has neither num_frames limits nor a per-job limit")
    low = round_up_4n1(frames_covering(spec.min_audio_s))
    return FrameRule(min_frames=low, max_frames=math.floor(round(seconds * FPS, 6)), default_frames=low)


def plan_segments(
    total_frames: int,
    rule: FrameRule,
    profile: ProfileLike | None = None,
    *,
    overlap: int = OVERLAP_FRAMES,
    margin: int = MARGIN_FRAMES,
) -> SegmentPlan:
    """Cut ``total_frames`` output frames (N = :func:`frames_covering` of the audio, or of the source
    video for dubbing) into segments that ``rule`` accepts, joined in the pauses of ``profile``.
    Without a profile the segments are of equal length."""
    usable = round_down_4n1(rule.max_frames - margin)
    if total_frames < 1 or overlap < 1 or margin < 0:
        raise ValueError(f"bad plan request: {total_frames} frames, overlap {overlap}, margin {margin}")
    if usable < rule.min_frames or usable <= 2 * overlap + 3:
        raise ValueError(
            f"frame limits {rule.min_frames}..{rule.max_frames} leave no room with margin {margin}"
        )
    if round_up_4n1(total_frames) <= usable:
        frames = round_up_4n1(max(total_frames, rule.min_frames))
        return SegmentPlan(total_frames, overlap, (Segment(0, 0, frames, None),), ())

    half = overlap // 2
    min_len = max(round_up_4n1(rule.min_frames) - 3, overlap + 1)
    least = max(2, math.ceil((total_frames - overlap) / (usable - overlap)))
    pauses = _pauses(profile, total_frames) if profile is not None else ()
    cell_s = max(_CELL_S, usable / FPS / _CELLS_PER_SEGMENT)
    base = _base_candidates(profile, pauses, total_frames, overlap, cell_s) if profile is not None else {}
    plans = []  # (segment count, joins outside pauses, cuts) of the smallest counts that fit
    for count in range(least, least + EXTRA_SEGMENTS + 2):
        cuts = _cuts(base, profile, pauses, total_frames, count, overlap, usable, min_len)
        if cuts is not None:
            plans.append((count, sum(_pause_at(pauses, c / FPS) is None for c in cuts), cuts))
        if plans and (profile is None or plans[0][1] == 0 or len(plans) > EXTRA_SEGMENTS):
            break
    if not plans:
        raise ValueError(f"no plan for {total_frames} frames within {rule.min_frames}..{usable}")
    count, outside, cuts = min(plans, key=lambda plan: plan[1])  # the first of the fewest
    segments, start = [], 0
    for index, cut in enumerate(cuts):
        segments.append(Segment(index, start, round_up_4n1(cut + overlap - half - start), cut / FPS))
        start = cut - half
    segments.append(Segment(len(cuts), start, round_up_4n1(max(total_frames - start, rule.min_frames)), None))
    plan = SegmentPlan(total_frames, overlap, tuple(segments), ())
    notes = [_summary(plan, usable)]
    if count > plans[0][0]:
        notes.append(
            f"{count} segments rather than {plans[0][0]}, so that "
            + ("every join falls in a pause" if outside == 0 else "fewer joins fall outside pauses")
        )
    if profile is not None:
        notes += _join_notes(plan, pauses, min(profile.duration_s, total_frames / FPS))
    return SegmentPlan(total_frames, overlap, tuple(segments), tuple(notes))


def _pauses(profile: ProfileLike, total_frames: int) -> tuple[_Pause, ...]:
    """The profile's pauses, plus the silence between the end of the audio and frame N (dubbing)."""
    pauses = [_Pause(p.start_s, p.end_s, p.quietest_s, p.level_db) for p in profile.pauses]
    end_s = total_frames / FPS
    if end_s > profile.duration_s:
        if pauses and pauses[-1].end_s >= profile.duration_s - 1e-9:
            last = pauses.pop()
            pauses.append(_Pause(last.start_s, end_s, (last.start_s + end_s) / 2, _SILENCE_DB))
        else:
            pauses.append(_Pause(profile.duration_s, end_s, (profile.duration_s + end_s) / 2, _SILENCE_DB))
    return tuple(pauses)


def _pause_at(pauses: Sequence[_Pause], time_s: float) -> _Pause | None:
    """The pause that contains ``time_s`` (pauses are sorted and disjoint)."""
    index = bisect.bisect_right(pauses, time_s + 1e-9, key=lambda p: p.start_s) - 1
    return pauses[index] if index >= 0 and time_s <= pauses[index].end_s + 1e-9 else None


def _fit_range(pause: _Pause, overlap: int) -> tuple[int, int]:
    """Cut frames whose overlap region (with the up to 3 rounding frames) lies inside ``pause``
    (empty when ``low > high``: the pause is too short)."""
    half = overlap // 2
    low = math.ceil(round(pause.start_s * FPS, 6)) + half
    return low, math.floor(round(pause.end_s * FPS, 6)) - (overlap + 3) + half


def _snap(pause: _Pause, cut: int, overlap: int) -> int:
    """``cut`` moved just enough to keep the overlap inside ``pause``; its middle if it is too short."""
    low, high = _fit_range(pause, overlap)
    return min(max(cut, low), high) if low <= high else round((pause.start_s + pause.end_s) / 2 * FPS)


def _join_cost(profile: ProfileLike, pauses: Sequence[_Pause], cut: int, overlap: int) -> float:
    """The cost of a join centred on frame ``cut`` (see the module docstring). A join in a pause that
    could hold its whole overlap, but not where it is, costs as much as one outside pauses."""
    pause = _pause_at(pauses, cut / FPS)
    if pause is not None:
        low, high = _fit_range(pause, overlap)
        if low > high or low <= cut <= high:
            first, region = cut - overlap // 2, overlap + 3
            outside = max(0.0, pause.start_s * FPS - first) + max(0.0, first + region - pause.end_s * FPS)
            depth = profile.speech_db - pause.level_db
            return (
                0.5 * (1.0 - min(pause.end_s - pause.start_s, 1.0))
                + 0.5 * (1.0 - float(np.clip(depth / 30.0, 0.0, 1.0)))
                + 0.5 * min(1.0, outside / region)
            )
    level = profile.level(cut / FPS - _WINDOW_S / 2, cut / FPS + _WINDOW_S / 2)
    return 2.0 + 2.0 * float(np.clip((level - profile.speech_db + 40.0) / 40.0, 0.0, 1.0))


def _base_candidates(
    profile: ProfileLike, pauses: Sequence[_Pause], total_frames: int, overlap: int, cell_s: float
) -> dict[int, float]:
    """Cut frame → join cost for each pause's quietest point and the quietest 100 ms of every ``cell_s``
    (both moved to keep the overlap inside the pause they are in)."""
    cuts = [_snap(pause, round(pause.quietest_s * FPS), overlap) for pause in pauses]
    end_s = total_frames / FPS
    for cell in range(math.ceil(end_s / cell_s)):
        begin = cell * cell_s
        centre = profile.quietest(begin - _WINDOW_S / 2, min(begin + cell_s, end_s) + _WINDOW_S / 2)
        pause = _pause_at(pauses, centre)
        cuts.append(round(centre * FPS) if pause is None else _snap(pause, round(centre * FPS), overlap))
    return {cut: _join_cost(profile, pauses, cut, overlap) for cut in cuts}


def _cuts(
    base: dict[int, float],
    profile: ProfileLike | None,
    pauses: Sequence[_Pause],
    total_frames: int,
    count: int,
    overlap: int,
    usable: int,
    min_len: int,
) -> list[int] | None:
    """The ``count - 1`` cut frames of the cheapest plan with ``count`` segments (None: none fits)."""
    half = overlap // 2
    even = [half + round((i + 1) * (total_frames - overlap) / count) for i in range(count - 1)]
    if profile is None:
        starts = [0, *(c - half for c in even)]
        ends = [*(c + overlap - half for c in even), total_frames]
        lengths = [end - start for start, end in zip(starts, ends, strict=True)]
        fits = all(min_len <= n <= usable for n in lengths[:-1]) and overlap < lengths[-1] <= usable
        return even if fits else None
    candidates = dict(base)
    for cut in even:
        candidates.setdefault(cut, _join_cost(profile, pauses, cut, overlap))
    frames = np.array(sorted(c for c in candidates if half < c < total_frames + half - overlap))
    line = Line(
        starts=frames - half,
        ends=frames + overlap - half,
        join_cost=np.array([candidates[c] for c in frames]),
        begin=0,
        end=total_frames,
        min_len=min_len,
        max_len=usable,
        last_min_len=overlap + 1,
        balance_weight=_BALANCE_WEIGHT,
    )
    joins = best_joins(line, count, (total_frames + (count - 1) * overlap) / count)
    return None if joins is None else [int(frames[j]) for j in joins]


def _summary(plan: SegmentPlan, usable: int) -> str:
    seconds = [s.frames / FPS for s in plan.segments]
    joins = ", ".join(f"{s.cut_s:.2f}" for s in plan.segments[:-1])
    return (
        f"{len(seconds)} segments of {min(seconds):.2f}-{max(seconds):.2f} s (one job renders at most "
        f"{usable / FPS:.2f} s here), joined at {joins} s"
    )


def _join_notes(plan: SegmentPlan, pauses: Sequence[_Pause], audio_end_s: float) -> list[str]:
    """A note for every join not in a pause: where the pause-free stretch is and where the cut went."""
    notes = []
    for segment in plan.segments[:-1]:
        at = segment.cut_s
        if _pause_at(pauses, at) is None:
            before = max((p.end_s for p in pauses if p.end_s <= at), default=0.0)
            after = min((p.start_s for p in pauses if p.start_s >= at), default=audio_end_s)
            notes.append(
                f"no pause between {before:.2f} s and {after:.2f} s: cut at {at:.2f} s "
                "(the quietest 100 ms in reach)"
            )
    return notes
