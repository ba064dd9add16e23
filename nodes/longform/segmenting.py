"""One request → the segment requests that cover its whole input (or the request itself when one fal job
is enough). Nothing is uploaded here.

With ``num_frames`` 0 (auto), or on a row without it, a run covers the entire input: the audio, the text or
the source video (lip-sync on footage). One job's limit is the row's at the chosen resolution
(``EndpointSpec.job_seconds``: fal's, or the row's stated planning length where fal's is unknown). When the
input is longer, the audio's pauses decide where the segments join (``avatar/segments.py``); with two
speakers, the pauses of both tracks together (where both are quiet). Each segment gets the audio of its own
stretch (both speakers' tracks cut at the same instants, and for footage the same stretch of the video,
re-timed to 25 fps). A text on a num_frames row is split at sentence and clause ends
(``avatar/text_pieces.py``) and every piece becomes one segment; a text row without num_frames, and two
speakers' texts, are one job. An explicit ``num_frames`` keeps its meaning: exactly one job. Segment frames
count on the planning timeline (25 per second); the stitcher places them at the model's own fps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..avatar.frames import CHARS_PER_SECOND, FPS, frames_covering, round_up_4n1, speech_seconds
from ..avatar.plan import CheckedParams, check_params
from ..avatar.segments import MARGIN_FRAMES, OVERLAP_FRAMES, frame_rule, plan_segments
from ..avatar.text_pieces import TEXT_SLACK, TEXT_TAIL_S, split_text, text_frames
from ..errors import InputError
from ..media.audio import first_samples
from ..media.pauses import speech_profile
from ..media.video_encode import validate_video_file
from ..pipeline.inputs import GenerationRequest


@dataclass(frozen=True)
class SegmentJob:
    """One segment: its request and where its frames sit on the output timeline (25 fps)."""

    label: str
    request: GenerationRequest
    start_frame: int
    frames: int


@dataclass(frozen=True)
class LongPlan:
    """``jobs`` empty: the request runs as it is (one job, whose checked values are ``params``).
    ``own_audio``: the final sound track is the user's audio (else the segments' own speech). ``summary``
    says how the run is cut; ``notes`` are what the user should know about the result (a join outside a
    pause, audio longer than the video, ...)."""

    request: GenerationRequest
    params: CheckedParams
    jobs: tuple[SegmentJob, ...]
    total_frames: int
    own_audio: bool
    summary: str = ""
    notes: tuple[str, ...] = ()

    @property
    def single(self) -> bool:
        return not self.jobs


def plan_long_run(request: GenerationRequest) -> LongPlan:
    """Decide how ``request`` is run (CPU work on the audio: run in a thread). Raises InputError."""
    spec = request.spec
    values = check_params(spec, request.values)
    one = LongPlan(
        request=request, params=values, jobs=(), total_frames=0, own_audio=spec.length_from == "audio"
    )
    if spec.frames is not None and values["num_frames"] != 0:
        return one
    if spec.length_from == "text":
        return _text_plan(request, values) or one
    if request.audio is None:
        return one  # plan_request says what is missing
    samples, rate, notes = first_samples(request.audio)
    second = _second_track(request, rate, notes)
    rule = frame_rule(spec, values.get("resolution"))
    if spec.has_slot("video") or spec.has_slot("frames"):
        source_s = _source_seconds(request)
        if source_s is None:
            return one
        total = frames_covering(source_s)
        notes += _dubbing_notes(samples.shape[1] / rate, source_s)
    else:
        longest = max(samples.shape[1], second.shape[1] if second is not None else 0)
        total = frames_covering(longest / rate)
    if round_up_4n1(max(total, rule.min_frames)) <= rule.max_frames:
        return one
    plan = plan_segments(total, rule, speech_profile(_mix(samples, second), rate))
    count = len(plan.segments)
    jobs = []
    for segment in plan.segments:
        start, frames = segment.start_frame, segment.frames
        part = dataclasses.replace(
            request,
            values=_with_frames(spec, values, frames),
            audio=_audio_piece(samples, rate, start, frames),
            audio2=_audio_piece(second, rate, start, frames) if second is not None else None,
            video_window=_window(request, start, frames),
            want_frames=False,
        )
        jobs.append(SegmentJob(f"segment {segment.index + 1}/{count}", part, start, frames))
    summary, *joins = plan.notes  # the planner's first note summarises the cut
    return LongPlan(
        request=request,
        params=values,
        jobs=tuple(jobs),
        total_frames=total,
        own_audio=True,
        summary=summary,
        notes=(*notes, *joins),
    )


def _second_track(request: GenerationRequest, rate: int, notes: list[str]) -> np.ndarray | None:
    """The second speaker's samples at the first track's rate (two-person rows), else ``None``."""
    if request.audio2 is None:
        return None
    samples, rate2, more = first_samples(request.audio2, field="audio2")
    notes += more
    if rate2 != rate:
        raise InputError(
            f"is at {rate2} Hz but the first speaker's audio is at {rate} Hz; give both tracks the same "
            "sample rate so a long run can cut them at the same instants",
            field="audio2",
        )
    return samples


def _mix(samples: np.ndarray, second: np.ndarray | None) -> np.ndarray:
    """Both speakers' tracks summed (mono each): its pauses are where both are quiet."""
    if second is None:
        return samples
    length = max(samples.shape[1], second.shape[1])
    mixed = np.zeros((1, length), dtype=np.float32)
    mixed[0, : samples.shape[1]] += samples.mean(axis=0)
    mixed[0, : second.shape[1]] += second.mean(axis=0)
    return mixed


def _audio_piece(samples: np.ndarray, rate: int, start_frame: int, frames: int) -> dict:
    return {"waveform": _audio_slice(samples, rate, start_frame, frames)[None], "sample_rate": rate}


def _text_plan(request: GenerationRequest, values: CheckedParams) -> LongPlan | None:
    rule = frame_rule(request.spec, values.get("resolution"))
    if request.spec.frames is None or request.spec.role_param("text2") is not None:
        # One job: without num_frames fal's speech sets each piece's length, so pieces could not be placed on
        # the timeline before they are paid for; two speakers' texts share one job (make_plan checks them).
        return None
    name = request.spec.role_param("text").name
    text = values[name]
    if text_frames(text) <= rule.max_frames:
        return None
    max_seconds = ((rule.max_frames - MARGIN_FRAMES) / FPS - TEXT_TAIL_S) / TEXT_SLACK
    if request.spec.max_text_chars:  # every piece within one job's text limit
        max_seconds = min(max_seconds, request.spec.max_text_chars / CHARS_PER_SECOND)
    pieces = split_text(text, max_seconds)
    jobs, start = [], 0
    for index, piece in enumerate(pieces.pieces):
        frames = min(max(text_frames(piece), rule.min_frames), rule.max_frames)
        part = dataclasses.replace(
            request, values=_with_frames(request.spec, {**values, name: piece}, frames), want_frames=False
        )
        jobs.append(SegmentJob(f"segment {index + 1}/{len(pieces.pieces)}", part, start, frames))
        start += frames - OVERLAP_FRAMES
    total = jobs[-1].start_frame + jobs[-1].frames
    summary = f"{len(text)} characters (about {speech_seconds(text):.0f} s of speech) in {len(jobs)} segments"
    return LongPlan(
        request=request,
        params=values,
        jobs=tuple(jobs),
        total_frames=total,
        own_audio=False,
        summary=summary,
        notes=pieces.notes,
    )


def _with_frames(spec, values: dict, frames: int) -> dict:
    return {**values, "num_frames": frames} if spec.has_param("num_frames") else dict(values)


def _audio_slice(samples: np.ndarray, rate: int, start_frame: int, frames: int) -> np.ndarray:
    """The samples of timeline frames ``[start, start+frames)``, zero-padded past the end (a view when
    nothing needs padding)."""
    first = round(start_frame / FPS * rate)
    last = round((start_frame + frames) / FPS * rate)
    piece = samples[:, first : min(last, samples.shape[1])]
    if piece.shape[1] < last - first:
        piece = np.pad(piece, ((0, 0), (0, last - first - piece.shape[1])))
    return piece


def _window(request: GenerationRequest, start_frame: int, frames: int) -> tuple[int, int] | None:
    """A segment's stretch of the source video (inside the request's own trim window, if it has one)."""
    if request.video_path is None and request.frames is None:
        return None
    offset = request.video_window[0] if request.video_window is not None else 0
    return offset + start_frame, frames


def _source_seconds(request: GenerationRequest) -> float | None:
    if request.video_window is not None:
        return request.video_window[1] / FPS
    if request.video_path is not None:
        return validate_video_file(request.video_path, field="video").duration_s
    if request.frames is not None and getattr(request.frames, "ndim", 0) == 4:
        return int(request.frames.shape[0]) / request.frames_rate
    return None


def _dubbing_notes(audio_s: float, source_s: float) -> list[str]:
    gap = audio_s - source_s
    if gap > 0.5:
        return [f"the audio is {gap:.2f} s longer than the video: its last {gap:.2f} s are not used"]
    if gap < -0.5:
        return [f"the audio ends {-gap:.2f} s before the video: the video's last {-gap:.2f} s get silence"]
    return []
