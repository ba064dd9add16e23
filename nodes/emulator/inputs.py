"""How the emulated models fetch and decode their inputs (data: URIs, the emulator's own files, loopback
URLs).

Failures become fal-style field errors (422 ``detail`` items with ``loc: ["body", <field>]``). Only loopback
hosts are fetched over the network, so the emulator never touches the internet.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from fractions import Fraction
from urllib.parse import unquote_to_bytes, urlsplit

import av
import httpx
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .schemas import error_item

SAMPLE_RATE = 16000  # both InfiniTalk and StableAvatar resample audio to 16 kHz mono
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LocalResolver = Callable[[str], "bytes | None"]


class InputFault(Exception):
    """An input could not be fetched or decoded; ``item`` is the 422 detail entry."""

    def __init__(self, field: str, type_: str, msg: str, value: object):
        super().__init__(msg)
        self.item = error_item(field, type_, msg, value)
        self.item["url"] = f"https://docs.fal.ai/errors#{type_}"


def fetch(url: str, field: str, resolve_local: LocalResolver) -> bytes:
    """Bytes behind ``url``.

    ``resolve_local(url)`` answers the emulator's own URLs: the bytes, None when the URL is not the
    emulator's, KeyError when it is but no such file exists.
    """
    shown = short_url(url)
    if url.startswith("data:"):
        return _data_uri(url, field, shown)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputFault(field, "file_download_error", "The URL must be an http(s) URL or a data URI.", shown)
    try:
        local = resolve_local(url)
    except KeyError:
        raise InputFault(field, "file_download_error", _download_msg("HTTP 404"), shown) from None
    if local is not None:
        return local
    if parts.hostname not in _LOOPBACK:
        raise InputFault(
            field, "file_download_error", _download_msg("the emulator only fetches loopback URLs"), shown
        )
    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise InputFault(field, "file_download_error", _download_msg(type(exc).__name__), shown) from None
    if response.status_code != 200:
        raise InputFault(field, "file_download_error", _download_msg(f"HTTP {response.status_code}"), shown)
    return response.content


def _download_msg(reason: str) -> str:
    return f"Failed to download the file ({reason}). Please check if the URL is accessible and try again."


def _data_uri(url: str, field: str, shown: str) -> bytes:
    header, sep, payload = url.partition(",")
    if not sep:
        raise InputFault(field, "file_download_error", "Malformed data URI (no ',' separator).", shown)
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise InputFault(field, "file_download_error", "Malformed base64 data URI.", shown) from None


def decode_image(data: bytes, field: str, url: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InputFault(
            field,
            "image_load_error",
            "Failed to load the image. Please ensure the image is valid.",
            short_url(url),
        ) from None


def decode_audio(data: bytes, field: str, url: str) -> np.ndarray:
    """Mono float32 samples at SAMPLE_RATE."""
    chunks: list[np.ndarray] = []
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise ValueError("no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    except (av.FFmpegError, ValueError, IndexError, EOFError):
        chunks = []
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise InputFault(
            field,
            "audio_load_error",
            "Failed to load the audio. Please ensure the audio file is valid.",
            short_url(url),
        )
    return np.concatenate(chunks).astype(np.float32)


def video_size(data: bytes, field: str, url: str) -> tuple[int, int]:
    """(width, height) of the first video stream."""
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            return stream.codec_context.width, stream.codec_context.height
    except (av.FFmpegError, IndexError, ValueError, EOFError):
        raise InputFault(
            field,
            "video_load_error",
            "Failed to load the video. Please ensure the video file is valid.",
            short_url(url),
        ) from None


def video_timing(data: bytes, field: str, url: str) -> tuple[Fraction, int]:
    """The first video stream's frame rate (average, else guessed; 25 when the file states none) and its
    number of frames (packets counted, nothing decoded)."""
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            count = sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, IndexError, ValueError, EOFError):
        raise InputFault(
            field,
            "video_load_error",
            "Failed to load the video. Please ensure the video file is valid.",
            short_url(url),
        ) from None
    if not count:
        raise InputFault(
            field,
            "video_load_error",
            "Failed to load the video. Please ensure the video file is valid.",
            short_url(url),
        )
    return (Fraction(rate) if rate else Fraction(25)), count


def decode_video(
    data: bytes, field: str, url: str, size: tuple[int, int], max_frames: int
) -> list[np.ndarray]:
    """Up to ``max_frames`` RGB frames, each resized and center-cropped to ``size`` (w, h)."""
    frames: list[np.ndarray] = []
    try:
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                frames.append(fit_image(frame.to_image(), size))
                if len(frames) >= max_frames:
                    break
    except (av.FFmpegError, IndexError, ValueError, EOFError):
        pass  # keep the frames decoded before a corrupt tail
    if not frames:
        raise InputFault(
            field,
            "video_load_error",
            "Failed to load the video. Please ensure the video file is valid.",
            short_url(url),
        )
    return frames


def fit_image(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Resize + center-crop to ``size`` (w, h); RGB uint8 array."""
    return np.asarray(ImageOps.fit(img.convert("RGB"), size, Image.Resampling.BILINEAR), dtype=np.uint8)


def short_url(url: str) -> str:
    """The URL as echoed in error items (data URIs can be megabytes)."""
    return url if len(url) <= 200 else url[:200] + "..."
