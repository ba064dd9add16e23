"""A generation request (widget values + media) and its pre-money checks and encodings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..avatar.endpoints import EndpointSpec, MediaSlot
from ..avatar.plan import CheckedParams, RunPlan, checked, make_plan
from ..errors import InputError
from ..media import audio as audio_media
from ..media import image as image_media
from ..media import video_encode
from ..media.payload import Payload
from .media_kinds import KINDS, connected, kind_of, slot_value


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
    audio2: dict | None = None  # the second speaker's AUDIO (two-person rows)
    mask: Any | None = None  # MASK [B,H,W]: who speaks (OmniHuman's mask_url)
    video_path: Path | None = None  # source video file (video-to-video)
    frames: Any | None = None  # IMAGE batch instead of a video file (video-to-video)
    want_frames: bool = True
    video_window: tuple[int, int] | None = None  # (start frame, frames) of the source on the 25 fps timeline
    take: int = 0  # >0: an identical copy of another node in the same graph, meant as another generation
    resubmit: bool = False  # the user accepts paying again after a submit whose outcome is unknown
    origin: JobOrigin | None = None  # set for a job started ahead of the run that uses it (never in the key)
    frames_fps: float | None = None  # the frame rate of ``frames`` taken from a VIDEO made of tensors

    @property
    def frames_rate(self) -> float:
        """The frame rate of ``frames``: a tensor VIDEO's own, else the 'fps' field's (25 without one)."""
        return self.frames_fps if self.frames_fps is not None else float(self.values.get("fps", 25.0))


def _missing(slot: MediaSlot) -> InputError:
    return InputError(f"nothing connected; connect {KINDS[slot.kind].connect}", field=slot.name)


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


def _check_media(request: GenerationRequest) -> None:
    """Every required input is connected (a VIDEO or frames where the row takes either) and well-formed."""
    spec = request.spec
    if (
        spec.has_slot("video")
        and spec.has_slot("frames")
        and request.video_path is None
        and request.frames is None
    ):
        raise InputError(
            "nothing connected; connect a VIDEO (LoadVideo) or an IMAGE batch to 'frames'", field="video"
        )
    for slot in spec.media:
        value = slot_value(request, slot)
        if value is not None:
            KINDS[slot.kind].check(request, slot, value)
        elif not slot.optional:
            raise _missing(slot)


def plan_request(request: GenerationRequest, params: CheckedParams | None = None) -> RunPlan:
    """All checks that need no upload: widgets (unless ``params``: the request's values as the run's planning
    checked them), media presence, audio length, frames, cost."""
    params = checked(request.spec, params if params is not None else request.values)
    _check_media(request)
    audio_s = audio_media.audio_duration_s(request.audio) if request.audio is not None else None
    audio2_s = (
        audio_media.audio_duration_s(request.audio2, field="audio2") if request.audio2 is not None else None
    )
    return make_plan(
        request.spec,
        params,
        audio_s=audio_s,
        audio2_s=audio2_s,
        source_frames=_source_frames(request),
    )


def check_image_limits(request: GenerationRequest, max_side: int) -> None:
    """Refuse a portrait the row's model does not accept, as it will be uploaded (after the downscale to
    ``max_side``, which fixes what a downscale can); checked before anything is uploaded."""
    limits, image = request.spec.image_limits, request.image
    if limits is None or image is None:
        return
    _, height, width, _ = image_media.validate_image(image, field="image")
    fitted = image_media.fitted_size(width, height, max_side)
    problem = limits.problem(*fitted)
    if problem is None:
        return
    size = f"{width}x{height}" + (
        f" (uploaded at {fitted[0]}x{fitted[1]})" if fitted != (width, height) else ""
    )
    shrunk = limits.problem(width, height) is None  # only the run's own downscale breaks the limit
    hint = f" Raise FAL_AVATAR_MAX_IMAGE_SIDE (now {max_side} px)." if shrunk else ""
    raise InputError(
        f"the portrait is {size}; {request.spec.display_name} {problem} ({limits.source}).{hint}",
        field="image",
    )


def encode_media(request: GenerationRequest, max_image_side: int | None = None) -> dict[str, Payload]:
    """Encode every connected media input. Returns ``{fal_field: payload}`` (``max_image_side``: the run's
    setting, default the endpoint's own; CPU work: run in a thread)."""
    kinds = connected(request)
    return {
        slot.fal_field: kind_of(request, slot).encode(request, slot, value, max_image_side)
        for slot, value in kinds
    }
