"""The emulated fal apps: validate like FastAPI, fetch + decode inputs, render a real MP4, return fal's output JSON.

App-level failures (422 validation / undecodable inputs, 404 unknown path) are raised as AppError and
answered by the result route; the queue status of such a request is a plain COMPLETED, as on real fal, where
"invalid jobs go IN_PROGRESS → COMPLETED and the error only surfaces when fetching the result".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

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
)
from .schemas import Schema, ValidationFailed
from .speech import synthesize

STABLE_AVATAR_MAX_SECONDS = 300.0


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
    billable_units: float = 0.0  # set by the app: seconds of video billed


def run_app(endpoint_id: str, body: Any, schemas: dict[str, Schema], ctx: RunContext) -> dict[str, Any]:
    """Run one request; returns the output JSON or raises AppError / render.Cancelled."""
    app = _APPS.get(endpoint_id)
    schema = schemas.get(endpoint_id)
    if app is None or schema is None:
        sub_path = endpoint_id.split("/", 2)[2] if endpoint_id.count("/") >= 2 else ""
        raise AppError(404, f"Path /{sub_path} not found")
    try:
        args = schema.validate(body)
    except ValidationFailed as exc:
        raise AppError(422, exc.items) from None
    return app(args, ctx)


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


def _image(args: dict, ctx: RunContext):
    url = args["image_url"]
    return lambda: decode_image(fetch(url, "image_url", ctx.resolve_local), "image_url", url)


def _audio(args: dict, ctx: RunContext):
    url = args["audio_url"]
    return lambda: decode_audio(fetch(url, "audio_url", ctx.resolve_local), "audio_url", url)


def _finish(ctx: RunContext, backgrounds: list[np.ndarray], samples: np.ndarray, num_frames: int) -> dict[str, Any]:
    data = render.render_mp4(backgrounds, samples, num_frames, progress=ctx.progress, should_stop=ctx.should_stop)
    if ctx.corrupt_output:
        data = os.urandom(max(len(data) // 4, 4096))
    ctx.billable_units = round(num_frames / render.FPS, 2)
    return ctx.store_output(data, "video/mp4", "output.mp4")


def _infinitalk(args: dict, ctx: RunContext) -> dict[str, Any]:
    image, samples = _load(_image(args, ctx), _audio(args, ctx))
    return _infinitalk_output(args, ctx, image, samples)


def _single_text(args: dict, ctx: RunContext) -> dict[str, Any]:
    (image,) = _load(_image(args, ctx))
    return _infinitalk_output(args, ctx, image, synthesize(args["text_input"], args["voice"]))


def _infinitalk_output(args: dict, ctx: RunContext, image, samples: np.ndarray) -> dict[str, Any]:
    size = render.nearest_bucket(image.width, image.height, render.INFINITALK_BUCKETS[args["resolution"]])
    video = _finish(ctx, [fit_image(image, size)], samples, args["num_frames"])
    return {"video": video, "seed": args["seed"]}


def _video_to_video(args: dict, ctx: RunContext) -> dict[str, Any]:
    url = args["video_url"]
    data, samples = _load(lambda: fetch(url, "video_url", ctx.resolve_local), _audio(args, ctx))
    ((width, height),) = _load(lambda: video_size(data, "video_url", url))
    size = render.nearest_bucket(width, height, render.INFINITALK_BUCKETS[args["resolution"]])
    (frames,) = _load(lambda: decode_video(data, "video_url", url, size, args["num_frames"]))
    return {"video": _finish(ctx, frames, samples, args["num_frames"]), "seed": args["seed"]}


def _stable_avatar(args: dict, ctx: RunContext) -> dict[str, Any]:
    image, samples = _load(_image(args, ctx), _audio(args, ctx))
    seconds = len(samples) / SAMPLE_RATE
    if seconds > STABLE_AVATAR_MAX_SECONDS:
        fault = InputFault("audio_url", "audio_duration_too_long", "Audio must be at most 5 minutes long.", short_url(args["audio_url"]))
        raise AppError(422, [fault.item])
    if args["aspect_ratio"] == "auto":
        size = render.nearest_bucket(image.width, image.height, tuple(render.STABLE_AVATAR_SIZES.values()))
    else:
        size = render.STABLE_AVATAR_SIZES[args["aspect_ratio"]]
    num_frames = render.frames_for_audio(seconds)
    video = _finish(ctx, [fit_image(image, size)], samples, num_frames)
    ctx.billable_units = max(ctx.billable_units, 4.0)  # "$0.10 per generated second, minimum 4 seconds"
    return {"video": video}


_APPS: dict[str, Callable[[dict, RunContext], dict[str, Any]]] = {
    "fal-ai/infinitalk": _infinitalk,
    "fal-ai/infinitalk/single-text": _single_text,
    "fal-ai/infinitalk/video-to-video": _video_to_video,
    "fal-ai/stable-avatar": _stable_avatar,
}
KNOWN_APPS = frozenset("/".join(endpoint.split("/")[:2]) for endpoint in _APPS)  # owner/alias
