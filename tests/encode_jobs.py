"""Every media encode path as a job that returns a Payload, on small inputs made without torch.

Used by test_media_determinism.py in the test process and, run as a script, in child processes:
``python encode_jobs.py SOURCE_DIR`` prints ``{job: sha256}`` as JSON for every job, encoded once.
The video sources in SOURCE_DIR are written by the test (see ``SOURCES`` there).

Sizes are chosen to hit x264's AVX-512 misread (nodes/media/x264.py): it needs a picture whose width in
16-pixel macroblocks is not a multiple of 8; 144 pixels is 9 macroblocks, which leaves 7 lanes unmasked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from comfyui_fal_avatar.nodes.media import encode_audio, encode_frames, encode_image, encode_video_file

WIDTH, HEIGHT = 144, 64
COUNT = 24
# video sources (file name → kind); the test writes them into SOURCE_DIR
SOURCE_FILES = ("mov.mov", "vp8.webm", "vp9.webm", "recording.webm", "yuv444p.mp4", "rotated.mp4", "vfr.mkv")


def frames(count: int, height: int, width: int) -> np.ndarray:
    """IMAGE frames [N,H,W,3] float32: a moving texture with texture, so x264 finds motion to propagate."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((count, height, width, 3), np.float32)
    for i in range(count):
        luma = (
            0.5 + 0.2 * np.sin(xx / 5 + i / 2) + 0.15 * np.cos(yy / 7 - i / 3) + 0.1 * np.sin((xx * yy) / 97)
        )
        out[i] = np.clip(np.stack([luma + 0.05, luma, luma - 0.05], axis=-1), 0, 1)
    return out


def tone(seconds: float, sample_rate: int, channels: int) -> dict:
    """AUDIO dict (numpy waveform [1,C,T]): a different sine per channel."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    wave = np.stack([0.5 * np.sin(2 * np.pi * 440 * (1 + c / 2) * t) for c in range(channels)])
    return {"waveform": wave.astype(np.float32)[None], "sample_rate": sample_rate}


def jobs(sources: Path) -> dict:
    image, clip = frames(1, 67, 93), frames(COUNT, HEIGHT, WIDTH)
    odd = frames(COUNT, HEIGHT - 1, WIDTH - 1)
    sound = tone(1.0, 44100, 2)
    made = {
        "png": lambda: encode_image(image),
        "jpeg": lambda: encode_image(image, fmt="jpeg"),
        "png-downscaled": lambda: encode_image(image, max_side=40),
        "wav": lambda: encode_audio(sound),
        "flac": lambda: encode_audio(sound, fmt="flac"),
        "frames-mp4": lambda: encode_frames(clip, 25.0),
        "frames-mp4-audio": lambda: encode_frames(clip, 25.0, audio=sound),
        "frames-mp4-odd-resampled-audio": lambda: encode_frames(odd, 24.0, audio=tone(1.0, 16001, 1)),
    }
    for name in SOURCE_FILES:
        made[f"file-{name}"] = lambda path=sources / name: encode_video_file(path)
    return made


if __name__ == "__main__":
    print(json.dumps({name: job().sha256 for name, job in jobs(Path(sys.argv[1])).items()}))
