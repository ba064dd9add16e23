"""IMAGE → PNG (lossless, default) or JPEG q95 bytes for upload.

PNG uses zlib level 1: encoding runs on every execution (the hash decides whether to upload), so speed
matters more than the ~15 % larger file (a textured 1024×1024 image: ≈0.10 s at level 1, ≈0.22 s at
Pillow's default level 6). Pillow writes no timestamps, so the same pixels always give the same bytes and
hash.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..errors import InputError
from .payload import Payload, payload_from_bytes
from .pixels import PixelNotes, check_images, frame_array, to_rgb8

_FORMATS = {
    "png": ("PNG", "image/png", "png"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "jpg": ("JPEG", "image/jpeg", "jpg"),
}
_SAVE_OPTIONS = {"PNG": {"compress_level": 1}, "JPEG": {"quality": 95}}


def validate_image(image, *, field: str = "image") -> tuple[int, int, int, int]:
    """Shape/dtype checks without encoding (pixel values are checked by :func:`encode_image`)."""
    return check_images(image, field=field, empty="the image batch is empty; connect an image")


def fitted_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The size :func:`encode_image` uploads a ``width`` x ``height`` image at: downscaled (aspect kept) so
    that no side exceeds ``max_side``, never upscaled."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_image(image, *, fmt: str = "png", max_side: int | None = None, field: str = "image") -> Payload:
    """Encode an IMAGE batch's first image ``[B,H,W,C]``; downscale (LANCZOS) if a side > ``max_side``."""
    if fmt.lower() not in _FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; use 'png' or 'jpeg'")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be at least 1 (got {max_side})")
    pil_format, content_type, ext = _FORMATS[fmt.lower()]
    batch, height, width, _ = validate_image(image, field=field)
    warnings = []
    if batch > 1:
        warnings.append(f"{field}: got a batch of {batch} images; only the first one is used.")
    notes = PixelNotes()
    picture = Image.fromarray(to_rgb8(frame_array(image, 0), notes, field=field), "RGB")
    warnings += notes.warnings(field, "image")
    size = fitted_size(width, height, max_side)
    if size != (width, height):
        picture = picture.resize(size, Image.LANCZOS)
        warnings.append(
            f"{field}: downscaled from {width}x{height} to {size[0]}x{size[1]} (limit {max_side} px)."
        )
    buffer = io.BytesIO()
    picture.save(buffer, pil_format, **_SAVE_OPTIONS[pil_format])
    info = {
        "width": picture.width,
        "height": picture.height,
        "source_width": width,
        "source_height": height,
        "format": pil_format.lower(),
    }
    return payload_from_bytes(buffer.getvalue(), content_type, ext, warnings=warnings, info=info)


def mask_as_image(mask, *, field: str = "mask"):
    """A MASK (``[B,H,W]`` or ``[H,W]``, 1 = white) as a one-image black-and-white IMAGE batch ``[1,H,W,3]``
    (float32), so it is checked, hashed and encoded as the image it is uploaded as (OmniHuman's ``mask_url``:
    only the person in the white area speaks). A soft mask is cut at 0.5, so no grey reaches fal."""
    array = np.asarray(mask, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[0] < 1:
        raise InputError(f"expected a MASK of shape [B,H,W], got shape {tuple(array.shape)}", field=field)
    white = (array[:1, :, :, None] >= 0.5).astype(np.float32)
    return np.repeat(white, 3, axis=3)
