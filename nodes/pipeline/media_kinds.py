"""One table of media kinds: where a slot's input sits in the request, how it is checked before money,
hashed into the request key, and encoded for upload. A new kind (a second audio, a mask) is one entry here;
``inputs.py``, ``keys.py`` and long runs read the table instead of switching on kinds themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..avatar.row import MediaSlot
from ..errors import InputError
from ..media import audio as audio_media
from ..media import digest, video_encode, video_excerpt
from ..media import image as image_media
from ..media.payload import Payload

if TYPE_CHECKING:
    from .inputs import GenerationRequest


def _keeps_rate(request: GenerationRequest) -> bool:
    """A row without num_frames (sync, VEED) follows the footage: its excerpts keep the source's frame rate;
    InfiniTalk's are re-timed to its 25 fps."""
    return request.spec.frames is None


def _window(request: GenerationRequest) -> str:
    """An excerpt's source window (and its rate) is part of what is uploaded."""
    if request.video_window is None:
        return ""
    start, count = request.video_window
    return f"|excerpt={start}+{count}@{'source-fps' if _keeps_rate(request) else '25fps'}"


# --- per kind: check, digest, encode -----------------------------------------------------------------


def _check_image(request, slot: MediaSlot, value) -> None:
    image_media.validate_image(value, field=slot.name)


def _image_side(request, side: int | None) -> int:
    return request.spec.image_side(side)


def _digest_image(request, slot: MediaSlot, value, side: int | None) -> str:
    return f"{digest.image_digest(value)}|max_side={_image_side(request, side)}"


def _encode_image(request, slot: MediaSlot, value, side: int | None) -> Payload:
    payload = image_media.encode_image(value, max_side=_image_side(request, side), field=slot.name)
    limits = request.spec.image_limits
    if limits and limits.max_bytes and len(payload.data) > limits.max_bytes:  # refused before the upload
        size = f"{payload.info['width']}x{payload.info['height']}"
        raise InputError(
            f"encodes to {len(payload.data) / 1e6:.1f} MB at {size}; {request.spec.display_name} takes at "
            f"most {limits.max_bytes / 1e6:g} MB ({limits.source}). Set FAL_AVATAR_MAX_IMAGE_SIDE lower (or "
            "remove it: the row's own side fits), or use a simpler picture",
            field=slot.name,
        )
    return payload


def _check_mask(request, slot: MediaSlot, value) -> None:
    image_media.validate_image(image_media.mask_as_image(value, field=slot.name), field=slot.name)


def _digest_mask(request, slot: MediaSlot, value, side: int | None) -> str:
    return (
        f"mask:{digest.image_digest(image_media.mask_as_image(value))}|max_side={_image_side(request, side)}"
    )


def _encode_mask(request, slot: MediaSlot, value, side: int | None) -> Payload:
    picture = image_media.mask_as_image(value, field=slot.name)
    return image_media.encode_image(picture, max_side=_image_side(request, side), field=slot.name)


def _check_audio(request, slot: MediaSlot, value) -> None:
    audio_media.audio_duration_s(value, field=slot.name)


def _digest_audio(request, slot: MediaSlot, value, side: int | None) -> str:
    return digest.audio_digest(value)


def _encode_audio(request, slot: MediaSlot, value, side: int | None) -> Payload:
    return audio_media.encode_audio(value, min_seconds=request.spec.min_audio_s, field=slot.name)


def _check_nothing(request, slot: MediaSlot, value) -> None:
    return None  # a video file is probed when the plan needs its length (video_encode.validate_video_file)


def _digest_video(request, slot: MediaSlot, value, side: int | None) -> str:
    return f"file:{digest.file_digest(value)}{_window(request)}"


def _encode_video(request, slot: MediaSlot, value, side: int | None) -> Payload:
    if request.video_window is not None:
        start, count = request.video_window
        return video_excerpt.encode_video_excerpt(
            value, start, count, field=slot.name, keep_rate=_keeps_rate(request)
        )
    return video_encode.encode_video_file(value, field=slot.name)


def _digest_frames(request, slot: MediaSlot, value, side: int | None) -> str:
    fps, pick = request.frames_rate, None
    if request.video_window is not None:
        pick = video_excerpt.excerpt_indices(fps, int(value.shape[0]), *request.video_window)
    return digest.frames_digest(value, fps, pick) + _window(request)


def _encode_frames(request, slot: MediaSlot, value, side: int | None) -> Payload:
    fps = request.frames_rate
    if request.video_window is not None:
        start, count = request.video_window
        return video_excerpt.encode_frames_excerpt(value, fps, start, count, field=slot.name)
    return video_encode.encode_frames(value, fps, field=slot.name)


@dataclass(frozen=True)
class MediaKind:
    """What the pipeline does with one kind of media input."""

    connect: str  # what to connect, for "nothing connected"
    check: Callable[[Any, MediaSlot, Any], None]  # cheap pre-money checks (no encoding)
    # the input as given, with the encoder options (the last argument: the run's image-side limit, or None)
    digest: Callable[[Any, MediaSlot, Any, int | None], str]
    encode: Callable[[Any, MediaSlot, Any, int | None], Payload]  # CPU work: run in a thread


KINDS: dict[str, MediaKind] = {
    "image": MediaKind("a LoadImage (or other IMAGE) output", _check_image, _digest_image, _encode_image),
    "mask": MediaKind("a MASK (white: the person who speaks)", _check_mask, _digest_mask, _encode_mask),
    "audio": MediaKind("a LoadAudio (or other AUDIO) output", _check_audio, _digest_audio, _encode_audio),
    "video": MediaKind("a VIDEO (LoadVideo)", _check_nothing, _digest_video, _encode_video),
    "frames": MediaKind("an IMAGE batch of video frames", _check_nothing, _digest_frames, _encode_frames),
}


def slot_value(request: GenerationRequest, slot: MediaSlot) -> Any | None:
    """The input connected to ``slot`` (``None``: nothing); a video file wins over frames for one field."""
    if slot.kind == "video":
        if request.video_path is not None or any(s.kind == "frames" for s in request.spec.media):
            return request.video_path
        return request.frames  # a VIDEO made of tensors, on a row without a frames input of its own
    if slot.kind == "frames":
        return request.frames if request.video_path is None else None
    return getattr(request, slot.name)


def kind_of(request: GenerationRequest, slot: MediaSlot) -> MediaKind:
    """The slot's kind; a video slot given frames (a VIDEO made of tensors) takes them as frames."""
    if slot.kind == "video" and request.video_path is None:
        return KINDS["frames"]
    return KINDS[slot.kind]


def connected(request: GenerationRequest) -> list[tuple[MediaSlot, Any]]:
    """``(slot, input)`` of every connected media input of the request's row."""
    pairs = [(slot, slot_value(request, slot)) for slot in request.spec.media]
    return [(slot, value) for slot, value in pairs if value is not None]
