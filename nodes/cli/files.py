"""Read image and audio files into the same values ComfyUI's LoadImage / LoadAudio produce."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError


def load_image(path: Path) -> np.ndarray:
    """An image file as IMAGE: float32 ``[1, H, W, 3]`` in 0..1."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"cannot read {path}: {exc}", field="image") from None
    return (np.asarray(rgb, dtype=np.float32) / 255.0)[None]


def load_audio(path: Path) -> dict:
    """An audio file as AUDIO: ``{"waveform": float32 [1, C, T], "sample_rate": int}``."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            chunks = []
            resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=rate)
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise InputError(f"cannot read audio from {path}: {exc}", field="audio") from None
    if not chunks:
        raise InputError(f"{path} contains no audio samples", field="audio")
    return {"waveform": np.concatenate(chunks, axis=1)[None].astype(np.float32), "sample_rate": int(rate)}
