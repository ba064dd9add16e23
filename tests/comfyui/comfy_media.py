"""Inputs written into a test server's input folder (speech WAVs, source clips) and facts about what it
saved, for the real-ComfyUI checks of long runs and request keys."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

from comfyui_fal_avatar.nodes.media.video_decode import read_audio
from comfyui_fal_avatar.nodes.media.video_probe import VideoInfo, probe_video

PORTRAIT = "fal_avatar_sample_portrait.png"  # copied into the input folder by the pack at start-up
UPLOAD_ROUTES = ("cdn_upload", "storage_initiate", "multipart_create")  # one per uploaded file


def talking_node(seed) -> dict:
    """The real-ComfyUI checks' generation node: InfiniTalk image + audio of nodes "1" (LoadImage) and "2"
    (LoadAudio), 41 frames at 480p (``seed``: a value or a link)."""
    return {
        "class_type": "FalInfiniTalkImageToVideo",
        "inputs": {
            "image": ["1", 0],
            "audio": ["2", 0],
            "prompt": "A person talking to the camera.",
            "num_frames": 41,
            "resolution": "480p",
            "acceleration": "regular",
            "seed": seed,
        },
    }


def write_wav(folder: Path, name: str, samples: np.ndarray, rate: int) -> str:
    """Mono float samples as a 16-bit PCM WAV in ``folder`` (LoadAudio reads it); returns the name."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2")
    with wave.open(str(folder / name), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return name


def write_clip(folder: Path, name: str, seconds: float, *, fps: int = 25, size=(160, 120)) -> str:
    """A silent H.264 clip (MP4 or MOV by the name's suffix) of flat greys that change every frame."""
    with av.open(str(folder / name), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(round(seconds * fps)):
            grey = np.full((size[1], size[0], 3), 40 + 8 * (index % 24), np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")))
        out.mux(stream.encode(None))
    return name


def saved_video(client, entry: dict, node: str) -> Path:
    """The file a SaveVideo node wrote, from its history entry."""
    saved = entry["outputs"][node]["images"][0]
    return client.base_dir / saved["type"] / saved.get("subfolder", "") / saved["filename"]


def video_facts(path: Path) -> tuple[VideoInfo, np.ndarray | None, int | None]:
    """The video's header facts and its first audio channel (samples, rate), or ``(info, None, None)``."""
    info = probe_video(path)
    sound = read_audio(path)
    if sound is None:
        return info, None, None
    return info, sound[0][0], sound[1]


def upload_count(emulator) -> int:
    return sum(emulator.count(route) for route in UPLOAD_ROUTES)
