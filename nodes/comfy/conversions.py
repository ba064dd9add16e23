"""ComfyUI values in and out: VIDEO → request fields; a finished MP4 → the node's seven outputs."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..avatar.frames import FPS, frames_covering
from ..pipeline.outputs import AvatarOutputs
from . import api

PREVIEW_SUBFOLDER = "fal-avatar"
SILENT_RATE = 16000


def video_fields(video) -> dict:
    """A ComfyUI VIDEO as GenerationRequest fields, so that the same video always gives the same request key
    without anything being re-encoded just to compute it: a file video is its file (plus its trim window,
    on the 25 fps timeline); an in-memory file is copied out byte for byte; a video made of tensors
    (VideoFromComponents) is its frames and frame rate."""
    if not hasattr(video, "get_active_trim_window"):  # tensors, not a file
        components = video.get_components()
        return {"frames": components.images, "frames_fps": float(components.frame_rate)}
    source = video.get_stream_source()
    start, duration = video.get_active_trim_window()
    if not isinstance(source, str | os.PathLike):
        workdir = api.temp_directory() / PREVIEW_SUBFOLDER
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / f"source-{uuid.uuid4().hex}.mp4"
        with open(path, "wb") as fh:
            shutil.copyfileobj(source, fh)
        source = path
    fields: dict = {"video_path": Path(source)}
    if (start, duration) != (0.0, 0.0):
        frames = frames_covering(duration if duration > 0 else max(video.get_duration(), 1 / FPS))
        fields["video_window"] = (round(start * FPS), frames)
    return fields


def publish_preview(path: Path, name: str) -> Path:
    """Expose the stored MP4 in ComfyUI's temp folder (hard link when possible) for preview and VIDEO."""
    folder = api.temp_directory() / PREVIEW_SUBFOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.mp4"
    if not target.exists():
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
    return target


def silent_audio(seconds: float) -> dict:
    import torch

    return {"waveform": torch.zeros((1, 1, max(1, round(seconds * SILENT_RATE)))), "sample_rate": SILENT_RATE}


def node_output(outputs: AvatarOutputs):
    """The seven outputs in schema order, with the video preview."""
    import torch

    info = outputs.info
    preview = publish_preview(outputs.path, outputs.path.stem)
    frames = outputs.frames
    if frames is None:  # not linked: an empty but valid IMAGE batch, so nothing is decoded or held
        frames = torch.zeros((0, info.height, info.width, 3), dtype=torch.float32)
    audio = outputs.audio if outputs.audio is not None else silent_audio(info.duration_s)
    return api.io.NodeOutput(
        api.InputImpl.VideoFromFile(str(preview)),
        frames,
        audio,
        float(info.fps),
        int(outputs.frame_count),
        outputs.video_url,
        outputs.request_id,
        ui=api.ui.PreviewVideo([api.ui.SavedResult(preview.name, PREVIEW_SUBFOLDER, api.io.FolderType.temp)]),
    )
