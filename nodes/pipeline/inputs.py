"""A generation request (widget values + media) and its pre-money checks and encodings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..avatar.endpoints import EndpointSpec
from ..avatar.plan import RunPlan, check_params, make_plan
from ..errors import InputError
from ..media import audio as audio_media
from ..media import image as image_media
from ..media import video_encode, video_excerpt
from ..media.payload import Payload


@dataclass(frozen=True)
class JobOrigin:
    """Who starts a job when it is not the run that will use it, journaled with the job: ``kind`` is
    ``journal.QUEUE_AHEAD`` for a queued ComfyUI prompt's job, ``prompt_id`` that prompt."""

    kind: str
    prompt_id: str


@dataclass
class GenerationRequest:
    """Everything a node (or the CLI) gives the pipeline."""

    spec: EndpointSpec
    values: dict
    image: Any | None = None  # IMAGE [B,H,W,C]
    audio: dict | None = None  # AUDIO {"waveform": [B,C,T], "sample_rate": int}
    video_path: Path | None = None  # source video file (video-to-video)
    frames: Any | None = None  # IMAGE batch instead of a video file (video-to-video)
    want_frames: bool = True
    video_window: tuple[int, int] | None = None  # (start frame, frames) of the source on the 25 fps timeline
    take: int = 0  # >0: an identical copy of another node in the same graph, meant as another generation
    resubmit: bool = False  # the user accepts paying again after a submit whose outcome is unknown
    origin: JobOrigin | None = None  # set for a job started ahead of the run that uses it (never in the key)


def _missing(slot_name: str, what: str) -> InputError:
    return InputError(f"nothing connected; connect {what}", field=slot_name)


def _source_frames(request: GenerationRequest) -> int | None:
    if request.video_window is not None:
        return request.video_window[1]
    if request.video_path is not None:
        return video_encode.validate_video_file(request.video_path, field="video").frame_count
    if request.frames is not None:
        count = int(request.frames.shape[0]) if getattr(request.frames, "ndim", 0) == 4 else 0
        if count < 1:
            raise InputError("the frames input is empty", field="frames")
        return count
    return None


def plan_request(request: GenerationRequest) -> RunPlan:
    """All checks that need no upload: widgets, media presence, audio length, frames, cost."""
    spec = request.spec
    check_params(spec, request.values)
    slots = {s.name for s in spec.media}
    if "image" in slots and request.image is None:
        raise _missing("image", "a LoadImage (or other IMAGE) output")
    if "audio" in slots and request.audio is None:
        raise _missing("audio", "a LoadAudio (or other AUDIO) output")
    if "video" in slots and request.video_path is None and request.frames is None:
        raise _missing("video", "a VIDEO (LoadVideo) or an IMAGE batch to 'frames'")
    if "image" in slots:
        image_media.validate_image(request.image, field="image")
    audio_s = audio_media.audio_duration_s(request.audio) if request.audio is not None else None
    return make_plan(spec, request.values, audio_s=audio_s, source_frames=_source_frames(request))


def encode_media(request: GenerationRequest, plan: RunPlan, max_image_side: int | None = None) -> dict[str, Payload]:
    """Encode every connected media input. Returns ``{fal_field: payload}`` (``max_image_side``: the run's
    setting, default the endpoint's own; CPU work: run in a thread)."""
    spec = request.spec
    payloads: dict[str, Payload] = {}
    for slot in spec.media:
        if slot.kind == "image":
            payloads[slot.fal_field] = image_media.encode_image(
                request.image, max_side=max_image_side or spec.max_image_side, field=slot.name
            )
        elif slot.kind == "audio":
            payloads[slot.fal_field] = audio_media.encode_audio(
                request.audio, min_seconds=spec.min_audio_s, field=slot.name
            )
        elif slot.kind == "video" and request.video_path is not None:
            if request.video_window is not None:
                start, count = request.video_window
                payloads[slot.fal_field] = video_excerpt.encode_video_excerpt(
                    request.video_path, start, count, field=slot.name
                )
            else:
                payloads[slot.fal_field] = video_encode.encode_video_file(request.video_path, field=slot.name)
        elif slot.kind == "frames" and request.video_path is None and request.frames is not None:
            fps = float(request.values.get("fps", 25.0))
            if request.video_window is not None:
                start, count = request.video_window
                payloads[slot.fal_field] = video_excerpt.encode_frames_excerpt(
                    request.frames, fps, start, count, field=slot.name
                )
            else:
                payloads[slot.fal_field] = video_encode.encode_frames(request.frames, fps, field=slot.name)
    return payloads
