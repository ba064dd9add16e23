"""AUDIO ``{'waveform': [B,C,T], 'sample_rate'}`` → WAV PCM16 (default) or FLAC bytes for upload.

Channels and sample rate are kept. Samples are quantised once to 16 bit (``round(x·32768)``, clipped to
the int16 range) for both formats, so WAV and FLAC carry the same samples; FLAC is lossless and smaller.
"""

from __future__ import annotations

import io
import wave

import av
import numpy as np

from ..errors import InputError
from .payload import Payload, payload_from_bytes

MAX_CHANNELS = 8
_FORMATS = {"wav": ("audio/wav", "wav"), "flac": ("audio/flac", "flac")}


def _audio_shape(audio, field: str) -> tuple[int, int, int, int]:
    """Validate an AUDIO dict; return ``(batch, channels, samples, sample_rate)``."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise InputError(
            "expected an AUDIO value {'waveform': [batch, channels, samples], 'sample_rate': int}",
            field=field,
        )
    shape = getattr(audio["waveform"], "shape", None)
    if shape is None or len(shape) != 3:
        got = tuple(shape) if shape is not None else type(audio["waveform"]).__name__
        raise InputError(f"expected a waveform [batch, channels, samples], got {got}", field=field)
    batch, channels, samples = (int(d) for d in shape)
    if batch == 0 or samples == 0:
        raise InputError("the audio is empty; connect audio that contains sound", field=field)
    if not 1 <= channels <= MAX_CHANNELS:
        raise InputError(f"the audio has {channels} channels; expected 1 to {MAX_CHANNELS}", field=field)
    rate = audio["sample_rate"]
    try:
        sample_rate = int(rate)
    except (TypeError, ValueError):
        sample_rate = 0
    if sample_rate <= 0 or sample_rate != rate:
        raise InputError(f"the sample rate must be a positive whole number of Hz (got {rate!r})", field=field)
    return batch, channels, samples, sample_rate


def audio_duration_s(audio: dict, *, field: str = "audio") -> float:
    """Length of the first batch item in seconds (validates the AUDIO dict, reads no samples)."""
    _, _, samples, sample_rate = _audio_shape(audio, field)
    return samples / sample_rate


def _first_item(waveform) -> np.ndarray:
    item = waveform[0]
    if hasattr(item, "detach"):  # torch.Tensor
        item = item.detach().float().cpu().numpy()
    return np.asarray(item, dtype=np.float32)


def first_samples(audio: dict, *, field: str = "audio") -> tuple[np.ndarray, int, list[str]]:
    """Validated float32 ``[C,T]`` samples of the first batch item (clipped to ±1), its rate and warnings."""
    batch, _, _, sample_rate = _audio_shape(audio, field)
    samples = _first_item(audio["waveform"])
    low, high = float(samples.min()), float(samples.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputError(
            "contains NaN or infinite samples; check the node that produced this audio", field=field
        )
    warnings = []
    if batch > 1:
        warnings.append(f"{field}: got a batch of {batch} audio clips; only the first one is used.")
    if low < -1.0 or high > 1.0:
        warnings.append(f"{field}: samples beyond ±1 were clipped (the audio is too loud; lower its volume).")
        samples = np.clip(samples, -1.0, 1.0)
    return samples, sample_rate, warnings


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """float ``[C,T]`` within ±1 → int16 ``[C,T]`` (``round(x·32768)``; +1.0 becomes 32767)."""
    scaled = np.rint(samples * np.float32(32768.0))
    return np.clip(scaled, -32768, 32767, out=scaled).astype(np.int16)


def _wav(pcm: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(pcm.shape[0])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(pcm.T).astype("<i2").tobytes())
    return buffer.getvalue()


def _flac(pcm: np.ndarray, sample_rate: int, field: str) -> bytes:
    layout = f"{pcm.shape[0]}c"  # FFmpeg's default layout for that many channels (mono, stereo, ...)
    buffer = io.BytesIO()
    try:
        with av.open(buffer, "w", format="flac", options={"fflags": "+bitexact"}) as out:
            stream = out.add_stream("flac", rate=sample_rate, layout=layout)
            stream.format = "s16"
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm.T).reshape(1, -1), format="s16", layout=layout
            )
            frame.sample_rate = sample_rate
            frame.pts = 0
            out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    except av.FFmpegError as exc:
        raise InputError(
            f"could not encode the audio as FLAC ({exc}); use WAV instead", field=field
        ) from None
    return buffer.getvalue()


def encode_audio(
    audio: dict, *, fmt: str = "wav", min_seconds: float | None = None, field: str = "audio"
) -> Payload:
    """Encode batch item 0. ``info``: duration_s, sample_rate, channels, samples, pcm16_bytes, format."""
    if fmt.lower() not in _FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; use 'wav' or 'flac'")
    fmt = fmt.lower()
    _, channels, length, sample_rate = _audio_shape(audio, field)
    duration = length / sample_rate
    if min_seconds is not None and duration < min_seconds:
        raise InputError(
            f"the audio is {duration:.2f} s long; this endpoint needs at least {min_seconds:g} s. "
            "Connect a longer clip.",
            field=field,
        )
    samples, _, warnings = first_samples(audio, field=field)
    pcm = to_pcm16(samples)
    if not pcm.any():
        warnings.append(f"{field}: the audio is silent; the avatar will not speak.")
    data = _wav(pcm, sample_rate) if fmt == "wav" else _flac(pcm, sample_rate, field)
    content_type, ext = _FORMATS[fmt]
    info = {
        "duration_s": duration,
        "sample_rate": sample_rate,
        "channels": channels,
        "samples": length,
        "pcm16_bytes": channels * length * 2,
        "format": fmt,
    }
    return payload_from_bytes(data, content_type, ext, warnings=warnings, info=info)
