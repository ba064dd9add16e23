"""Read image and audio files into the values ComfyUI's LoadImage / LoadAudio give a graph (v0.28.1).

Images. LoadImage decodes with PyAV (Pillow for what PyAV cannot read) and returns every frame as a batch;
the node then uploads the first frame only. Here: Pillow, the first frame (a warning says so when there are
more), EXIF orientation applied (as FFmpeg's JPEG decoder and ``ImageOps.exif_transpose`` do), and every
mode scaled by its own range:

- 8-bit modes (``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ...) → RGB / 255; greyscale becomes three
  equal channels;
- 16-bit greyscale (``I;16``, ``I;16B``, ``I;16L``, and ``I``, which Pillow uses for 16-bit PGM/PPM)
  → / 65535;
- float (``F``) → as is (0..1);
- anything with transparency (``RGBA``, ``LA``, ``PA``, ``P`` or ``RGB``/``L`` with a transparent colour)
  → four channels, so the node's own compositing over white and its warning apply. (LoadImage splits alpha
  into a separate MASK and hands the node the colours under transparent pixels; the CLI has no MASK.)

Values outside 0..1 (a 32-bit ``I`` or ``F`` image beyond its nominal range) are kept: the node clips them
and says so.

Audio. LoadAudio's own algorithm: the first audio stream, decoded in its native sample format, every channel
kept in order, the sample rate kept (no resampling), integers scaled to ±1 (16-bit / 2^15; 24- and 32-bit,
which FFmpeg delivers as 32-bit, / 2^31), floats as they are. Two deliberate differences: unsigned 8-bit PCM
is read (LoadAudio refuses it), and the rate is the decoded frames' own (LoadAudio reads the stream header's).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputError, os_error_reason

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_FLOAT = ("F",)
_ALPHA_BANDS = ("A", "a")
_INT_SCALE = {"int16": 2.0**15, "int32": 2.0**31, "int64": 2.0**63}


def load_image(path: Path, *, warn: Callable[[str], None] | None = None) -> np.ndarray:
    """An image file as IMAGE: float32 ``[1, H, W, C]`` in 0..1, C = 3 (RGB) or 4 (RGBA: transparency).

    ``warn`` receives what the file's reading changed (only the first of several frames is used).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below, with the size
            with Image.open(path) as img:
                _check_size(path, img.width, img.height, Image.MAX_IMAGE_PIXELS)
                frames = getattr(img, "n_frames", 1)
                img.load()
                pixels = _pixels(ImageOps.exif_transpose(img))
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise _too_large(path, _pixel_count(str(exc)), Image.MAX_IMAGE_PIXELS) from None
    except UnidentifiedImageError:
        raise InputError(
            f"{path} is not an image Pillow can read (PNG, JPEG, WebP, ...)", field="image"
        ) from None
    except OSError as exc:
        # Pillow reports a truncated or corrupt file as a plain OSError without errno. LoadImage would load a
        # truncated file anyway (grey where data is missing); a portrait that is paid for is refused instead.
        reason = os_error_reason(exc) if exc.errno is not None else str(exc)
        raise InputError(f"cannot read {path}: {reason}", field="image") from None
    except (ValueError, EOFError, SyntaxError) as exc:
        raise InputError(f"cannot read {path}: the file is damaged ({exc})", field="image") from None
    if frames > 1 and warn is not None:
        warn(f"image: {path.name} has {frames} frames; only the first one is used.")
    return pixels[None]


def _check_size(path: Path, width: int, height: int, limit: int | None) -> None:
    if limit and width * height > limit:
        raise _too_large(path, width * height, limit, f"{width}x{height}, ")


def _pixel_count(message: str) -> int | None:
    match = re.search(r"\((\d+) pixels\)", message)  # Pillow: "Image size (N pixels) exceeds limit of ..."
    return int(match.group(1)) if match else None


def _too_large(path: Path, pixels: int | None, limit: int, size: str = "") -> InputError:
    count = f"{pixels / 1e6:.1f} megapixels" if pixels else "more than twice the limit"
    return InputError(
        f"{path} is too large to read safely ({size}{count}; the limit is {limit / 1e6:.1f} megapixels, "
        "Pillow's guard against decompression bombs). Downscale it first: the endpoints take at most "
        "1280 px per side anyway.",
        field="image",
    )


def _pixels(img) -> np.ndarray:
    """One Pillow frame as float32 ``[H, W, 3 or 4]``."""
    if img.mode in _SIXTEEN_BIT:
        # Pillow's convert("RGB") clamps 16-bit values to 0..255, so anything above 255/65535 turns white
        # (what LoadImage's Pillow fallback does with 16-bit greyscale); scale by the real range instead.
        grey = np.asarray(img).astype(np.float32) / np.float32(65535.0)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode in _FLOAT:
        # convert("RGB") would clamp 0..1 floats to 0..255 as well (all black); keep them as they are.
        return np.repeat(np.asarray(img, dtype=np.float32)[..., None], 3, axis=2)
    has_alpha = any(band in _ALPHA_BANDS for band in img.getbands()) or "transparency" in img.info
    eight_bit = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    return eight_bit.astype(np.float32) / np.float32(255.0)


def load_audio(path: Path) -> dict:
    """An audio file as AUDIO: ``{"waveform": float32 [1, C, T], "sample_rate": int}`` (module doc)."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputError(f"{path} has no audio stream", field="audio")
            stream = container.streams.audio[0]
            channels = stream.channels
            rate = None
            chunks = []
            for frame in container.decode(stream):
                frame_rate = frame.sample_rate or stream.codec_context.sample_rate
                rate = rate or frame_rate
                if frame_rate != rate:
                    raise InputError(
                        f"{path} changes its sample rate mid-stream ({rate} → {frame_rate} Hz); "
                        "convert it to one rate first (e.g. a WAV export)",
                        field="audio",
                    )
                chunks.append(_float_samples(frame.to_ndarray(), channels))
    except av.FFmpegError as exc:  # also covers a missing or unreadable file (PyAV's errors are OSErrors too)
        reason = os_error_reason(exc) if isinstance(exc, OSError) and exc.errno else str(exc)
        raise InputError(f"cannot read audio from {path}: {reason}", field="audio") from None
    except OSError as exc:
        raise InputError(f"cannot read audio from {path}: {os_error_reason(exc)}", field="audio") from None
    if not chunks or not rate:
        raise InputError(f"{path} contains no audio samples", field="audio")
    return {"waveform": np.concatenate(chunks, axis=1)[None], "sample_rate": int(rate)}


def _float_samples(buffer: np.ndarray, channels: int) -> np.ndarray:
    """One decoded frame → float32 ``[C, T]``: packed formats come as ``[1, T*C]`` (interleaved)."""
    if buffer.shape[0] != channels:
        buffer = buffer.reshape(-1, channels).T
    kind = buffer.dtype
    if kind.kind == "f":
        return buffer.astype(np.float32, copy=False)
    if kind == np.uint8:
        # LoadAudio refuses unsigned 8-bit PCM (its converter knows int16 and int32 only); its zero is 128.
        return (buffer.astype(np.float32) - np.float32(128.0)) / np.float32(128.0)
    if kind.name in _INT_SCALE:
        return buffer.astype(np.float32) / np.float32(_INT_SCALE[kind.name])
    raise InputError(f"unsupported audio sample format {kind}", field="audio")


def load_mask(path: Path) -> np.ndarray:
    """An image file as MASK: float32 ``[1, H, W]`` in 0..1 (luminance; white = 1), as ComfyUI's masks are."""
    pixels = load_image(path)
    return pixels[..., :3].mean(axis=3).astype(np.float32)
