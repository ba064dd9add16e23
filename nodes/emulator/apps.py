"""The emulated apps: validate like FastAPI, fetch + decode inputs, render a real MP4, return fal's output
JSON.

One runner serves every endpoint; what differs (inputs, length rule, fps, size, output fields, limits) is data
in ``models.MODELS``. App-level failures (422 validation / undecodable inputs / inputs longer than fal
allows, 404 unknown path) are raised as AppError and answered by the result route; the queue status of such a
request is a plain COMPLETED, as on real fal, where "invalid jobs go IN_PROGRESS → COMPLETED and the error
only surfaces when fetching the result".
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image

from . import render
from .inputs import (
    SAMPLE_RATE,
    InputFault,
    LocalResolver,
    decode_audio,
    decode_image,
    decode_video,
    fetch,
    fit_image,
    short_url,
    video_size,
    video_timing,
)
from .models import BY_ID, STABLE_AVATAR_SIZES, Model
from .render_cache import RenderCache
from .schemas import Schema, ValidationFailed
from .speech import synthesize

SILENT_VOICE = (
    "Aria"  # the voice of a text row without a voice field (Fabric derives its voice from the image)
)
LONGCAT_FIRST_SEGMENT_S, LONGCAT_SEGMENT_S = 5.8, 5.0
MAX_OWN_SIDE = 1280  # an output sized after its image keeps the image's size, its long side at most this


class AppError(Exception):
    """The app answered with an error: ``status`` and JSON ``body`` (``{"detail": ...}``)."""

    def __init__(self, status: int, detail: Any):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body: dict[str, Any] = {"detail": detail}


@dataclass
class RunContext:
    """What a running app can use: input resolution, output storage, progress and cancellation."""

    resolve_local: LocalResolver
    store_output: Callable[[bytes, str, str], dict[str, Any]]  # (data, content_type, file_name) -> File JSON
    progress: Callable[[int, int], None] = lambda done, total: None
    should_stop: Callable[[], bool] = lambda: False
    corrupt_output: bool = False
    max_output_side: int | None = None  # tests: shrink the output video (see FalEmulator)
    render_cache: RenderCache | None = None  # tests: renders shared between emulators (see FalEmulator)
    billable_units: float = 0.0  # set by the app: seconds of video billed


@dataclass(frozen=True)
class _Footage:
    """Source footage: its bytes, frame size, frame rate and number of frames (decoded on demand)."""

    url: str
    data: bytes
    size: tuple[int, int]
    fps: Fraction
    frames: int

    @property
    def seconds(self) -> float:
        return float(self.frames / self.fps)

    def decode(self, size: tuple[int, int], most: int | None = None) -> list[np.ndarray]:
        (frames,) = _load(lambda: decode_video(self.data, "video_url", self.url, size, most or self.frames))
        return frames


@dataclass
class _Media:
    """The decoded inputs: the image or the footage, the audio of each audio field, and the sound the video
    carries (audio fields mixed, or the texts spoken)."""

    image: Image.Image | None
    footage: _Footage | None
    audio: dict[str, np.ndarray]
    sound: np.ndarray


def run_app(endpoint_id: str, body: Any, schemas: dict[str, Schema], ctx: RunContext) -> dict[str, Any]:
    """Run one request; returns the output JSON or raises AppError / render.Cancelled."""
    model = BY_ID.get(endpoint_id)
    schema = schemas.get(endpoint_id)
    if model is None or schema is None:
        sub_path = endpoint_id.split("/", 2)[2] if endpoint_id.count("/") >= 2 else ""
        raise AppError(404, f"Path /{sub_path} not found")
    try:
        args = schema.validate(body)
    except ValidationFailed as exc:
        raise AppError(422, exc.items) from None
    media = _gather(model, args, ctx)
    _check_limits(model, args, media)
    return _render(model, args, media, ctx)


# --- inputs -------------------------------------------------------------------------------------------------


def _load(*loaders: Callable[[], Any]) -> list[Any]:
    """Run every loader; all their input faults are reported together as one 422."""
    results: list[Any] = []
    errors: list[dict] = []
    for loader in loaders:
        try:
            results.append(loader())
        except InputFault as exc:
            errors.append(exc.item)
    if errors:
        raise AppError(422, errors)
    return results


def _fetched(args: dict, ctx: RunContext, name: str, decode: Callable[[bytes, str, str], Any]):
    url = args[name]
    return lambda: decode(fetch(url, name, ctx.resolve_local), name, url)


def _footage(data: bytes, name: str, url: str) -> _Footage:
    fps, frames = video_timing(data, name, url)
    return _Footage(url, data, video_size(data, name, url), fps, frames)


def _audio_fields(model: Model, args: dict) -> list[str]:
    names = [name for name in model.audios if args.get(name)]
    if args.get("use_only_first_audio"):
        names = names[:1]
    return names


def _gather(model: Model, args: dict, ctx: RunContext) -> _Media:
    visual_decoder = decode_image if model.visual == "image_url" else _footage
    audio_names = _audio_fields(model, args)
    loaders = [_fetched(args, ctx, model.visual, visual_decoder)]
    loaders += [_fetched(args, ctx, name, decode_audio) for name in audio_names]
    if args.get("mask_url"):  # OmniHuman: only the person in the mask's white area speaks
        loaders.append(_fetched(args, ctx, "mask_url", decode_image))
    visual, *rest = _load(*loaders)
    audio = dict(zip(audio_names, rest, strict=False))
    if model.texts:
        sound = np.concatenate(
            [synthesize(args[text], args[voice] if voice else SILENT_VOICE) for text, voice in model.texts]
        )
    else:
        sound = _mix(list(audio.values()))
    if model.visual == "image_url":
        return _Media(visual, None, audio, sound)
    return _Media(None, visual, audio, sound)


def _mix(tracks: list[np.ndarray]) -> np.ndarray:
    """Speakers' tracks on one timeline (each starts at 0), summed."""
    out = np.zeros(max(len(t) for t in tracks), np.float32)
    for track in tracks:
        out[: len(track)] += track
    return np.clip(out, -1.0, 1.0)


def _seconds(samples: np.ndarray) -> float:
    return len(samples) / SAMPLE_RATE


def _check_limits(model: Model, args: dict, media: _Media) -> None:
    faults = []
    for limit in model.limits:
        most = limit.seconds_for(args.get("resolution"))
        if limit.media_field == "video_url":
            seconds = media.footage.seconds
        else:
            seconds = _seconds(media.audio[limit.media_field]) if limit.media_field in media.audio else 0.0
        if most is not None and seconds > most + 1e-6:
            kind = "video" if limit.media_field == "video_url" else "audio"
            faults.append(
                InputFault(
                    limit.media_field,
                    f"{kind}_duration_too_long",
                    limit.message,
                    short_url(args[limit.media_field]),
                ).item
            )
    if faults:
        raise AppError(422, faults)


# --- the output ---------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    backgrounds: list[np.ndarray]
    num_frames: int
    fps: Fraction
    order: Callable[[int], int] | None = None


def _size(model: Model, args: dict, media: _Media) -> tuple[int, int]:
    width, height = media.image.size if media.image is not None else media.footage.size
    if model.sizes == "footage":
        return _even(width), _even(height)
    if model.sizes == "image":
        scale = min(1.0, MAX_OWN_SIDE / max(width, height))
        return _even(round(width * scale)), _even(round(height * scale))
    if model.sizes == "aspect_ratio":
        if args["aspect_ratio"] == "auto":
            return render.nearest_bucket(width, height, tuple(STABLE_AVATAR_SIZES.values()))
        return STABLE_AVATAR_SIZES[args["aspect_ratio"]]
    return render.nearest_bucket(width, height, model.sizes[args.get("resolution") or "*"])


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _shrunk(size: tuple[int, int], most: int | None) -> tuple[int, int]:
    """``size`` with its long side at most ``most`` (aspect ratio kept, even sides for yuv420p)."""
    width, height = size
    if most is None or max(width, height) <= most:
        return size
    scale = most / max(width, height)
    return _even(round(width * scale)), _even(round(height * scale))


def _plan(model: Model, args: dict, media: _Media, max_side: int | None = None) -> _Plan:
    size = _shrunk(_size(model, args, media), max_side)
    seconds = _seconds(media.sound)
    if model.length == "sync_mode":
        return _footage_plan(model, args, media, size, seconds)
    fps = model.fps
    if model.length == "num_frames":
        frames = args["num_frames"]
    elif model.length == "audio_4n1":
        frames = render.frames_for_audio(seconds)
    elif model.length == "num_segments":
        most = LONGCAT_FIRST_SEGMENT_S + LONGCAT_SEGMENT_S * (args["num_segments"] - 1)
        frames = render.frames_for_seconds(min(seconds, most), fps)
    else:  # audio, text
        frames = render.frames_for_seconds(seconds, fps)
    if media.image is not None:
        return _Plan([fit_image(media.image, size)], frames, fps)
    return _Plan(media.footage.decode(size, frames), frames, fps)  # InfiniTalk video-to-video


def _footage_plan(model: Model, args: dict, media: _Media, size: tuple[int, int], audio_s: float) -> _Plan:
    """Lip-sync on footage: the footage's own rate; the length and frame order follow the sync mode."""
    mode = args.get(model.sync_field) if model.sync_field else "cut_off"
    options = args.get("options") or {}
    mode = options.get("sync_mode") or mode
    fps, video_s = media.footage.fps, media.footage.seconds
    seconds = {
        "cut_off": min(video_s, audio_s),
        "loop": max(video_s, audio_s),
        "bounce": max(video_s, audio_s),
        "silence": video_s,
        "remap": audio_s,
    }[mode]
    total = render.frames_for_seconds(seconds, fps)
    frames = media.footage.decode(size, total if mode == "cut_off" else None)  # only the frames shown
    count = len(frames)
    order = {
        "loop": lambda i: i % count,
        "bounce": lambda i: _bounce(i, count),
        "remap": lambda i: min(count - 1, i * count // total),
    }.get(mode, lambda i: min(i, count - 1))
    return _Plan(frames, total, fps, order)


def _bounce(index: int, count: int) -> int:
    if count == 1:
        return 0
    period = 2 * count - 2
    step = index % period
    return step if step < count else period - step


def _render(model: Model, args: dict, media: _Media, ctx: RunContext) -> dict[str, Any]:
    plan = _plan(model, args, media, ctx.max_output_side)
    started = time.monotonic()
    data = render.render_mp4(
        plan.backgrounds,
        media.sound,
        plan.num_frames,
        fps=plan.fps,
        order=plan.order,
        progress=ctx.progress,
        should_stop=ctx.should_stop,
        cache=ctx.render_cache,
    )
    if ctx.corrupt_output:
        data = os.urandom(max(len(data) // 4, 4096))
    seconds = plan.num_frames / plan.fps
    billed = math.ceil(seconds - 1e-9) if model.bill_whole_seconds else round(float(seconds), 2)
    ctx.billable_units = max(billed, model.min_billed_seconds)
    video = ctx.store_output(data, "video/mp4", "output.mp4")
    height, width = plan.backgrounds[0].shape[:2]
    if "video_file" in model.outputs:
        video.update(
            fps=float(plan.fps),
            width=width,
            height=height,
            num_frames=plan.num_frames,
            duration=round(float(seconds), 3),
        )
    output: dict[str, Any] = {"video": video}
    if "seed" in model.outputs:
        output["seed"] = args["seed"]
    if "duration" in model.outputs:
        output["duration"] = round(float(seconds), 3)
    if "timings" in model.outputs:
        output["timings"] = {"inference": round(time.monotonic() - started, 3)}
    return output


KNOWN_APPS = frozenset("/".join(endpoint.split("/")[:2]) for endpoint in BY_ID)  # owner/alias
