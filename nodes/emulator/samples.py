"""Small, valid sample inputs (PNG, WAV, MP4, data URIs) for tests and offline demos of the emulator."""

from __future__ import annotations

import base64
import io

import av
import numpy as np
from PIL import Image, ImageDraw


def data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def sample_png(width: int = 512, height: int = 512) -> bytes:
    """A face-ish picture: skin-coloured oval with eyes on a gradient background."""
    ramp = np.linspace(60, 200, width, dtype=np.float32)
    background = np.stack(
        [np.tile(ramp, (height, 1)), np.full((height, width), 120.0), np.tile(ramp[::-1], (height, 1))], -1
    )
    img = Image.fromarray(background.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    cx, cy, side = width / 2, height / 2, min(width, height)
    draw.ellipse((cx - side * 0.3, cy - side * 0.4, cx + side * 0.3, cy + side * 0.4), fill=(225, 180, 150))
    for dx in (-0.12, 0.12):
        draw.ellipse(
            (cx + side * (dx - 0.04), cy - side * 0.12, cx + side * (dx + 0.04), cy - side * 0.06),
            fill=(40, 40, 60),
        )
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def speech_like(seconds: float, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32: a 180 Hz tone switched on and off 3 times a second (syllable-like loudness changes)."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    gate = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (0.5 * np.sin(2 * np.pi * 180 * t) * gate).astype(np.float32)


def sample_wav(seconds: float = 2.0, sample_rate: int = 16000) -> bytes:
    """16-bit mono WAV of speech_like(seconds)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            speech_like(seconds, sample_rate)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = sample_rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def sample_mp4(width: int = 320, height: int = 240, frames: int = 10, fps: int = 25) -> bytes:
    """A short silent H.264 clip whose brightness ramps over time."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(frames):
            level = int(40 + 180 * index / max(frames - 1, 1))
            picture = av.VideoFrame.from_ndarray(np.full((height, width, 3), level, np.uint8), format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return buffer.getvalue()
