"""ComfyUI values in and out: VIDEO → file for upload; a finished MP4 → the node's seven outputs."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..pipeline.outputs import AvatarOutputs
from . import api

PREVIEW_SUBFOLDER = "fal-avatar"
SILENT_RATE = 16000


def video_to_path(video) -> Path:
    """A file for a ComfyUI VIDEO: its own file when untrimmed, else a fresh MP4 written by core."""
    source = video.get_stream_source()
    trim_window = getattr(video, "get_active_trim_window", None)
    trimmed = trim_window is not None and tuple(trim_window()) != (0.0, 0.0)
    if isinstance(source, str | os.PathLike) and not trimmed:
        return Path(source)
    workdir = api.temp_directory() / PREVIEW_SUBFOLDER
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"source-{uuid.uuid4().hex}.mp4"
    if trimmed or not hasattr(source, "read"):
        video.save_to(str(out), format=api.Types.VideoContainer.MP4, codec=api.Types.VideoCodec.H264)
    else:
        with open(out, "wb") as fh:
            shutil.copyfileobj(source, fh)
    return out


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
