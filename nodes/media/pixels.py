"""IMAGE batches (``[B,H,W,C]`` float 0..1, torch or numpy) checked and turned into 8-bit RGB frames.

Channels: 3 is RGB; 1 (grey) is repeated to RGB; 4 (RGBA) is composited over a white background,
because fal's models take RGB and whatever colour hides under transparent pixels is arbitrary.
Values are rounded to the nearest 8-bit level; values outside 0..1 are clipped (reported).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

_HALF_STEP = 0.5 / 255  # beyond this, clipping changes the 8-bit value


@dataclass
class PixelNotes:
    """What converting a batch changed, counted in frames, for one warning per kind."""

    clipped: int = 0
    translucent: int = 0

    def warnings(self, field: str, what: str) -> list[str]:
        notes = []
        if self.clipped:
            notes.append(f"{field}: values outside 0..1 in {self.clipped} {what} were clipped.")
        if self.translucent:
            notes.append(
                f"{field}: {self.translucent} {what} had transparent pixels; they were composited over white "
                "(fal's models take RGB)."
            )
        return notes


def check_images(images, *, field: str, empty: str) -> tuple[int, int, int, int]:
    """Validate an IMAGE batch's shape and dtype; return ``(B, H, W, C)``. ``empty`` says what B=0 means."""
    shape = getattr(images, "shape", None)
    if shape is None:
        raise InputError(
            f"expected an IMAGE tensor [batch, height, width, channels], got {type(images).__name__}",
            field=field,
        )
    if len(shape) != 4:
        raise InputError(
            f"expected an IMAGE [batch, height, width, channels] (4 dimensions), got shape {tuple(shape)}",
            field=field,
        )
    batch, height, width, channels = (int(d) for d in shape)
    if batch == 0:
        raise InputError(empty, field=field)
    if height == 0 or width == 0:
        raise InputError(f"the image has zero size ({width}x{height}); connect a real image", field=field)
    if channels not in (1, 3, 4):
        raise InputError(
            f"the image has {channels} channels; expected 3 (RGB), 1 (grey) or 4 (RGBA)", field=field
        )
    if not _is_float(images):
        raise InputError(
            f"expected float pixel values 0..1 (ComfyUI IMAGE), got dtype {images.dtype}", field=field
        )
    return batch, height, width, channels


def _is_float(images) -> bool:
    if hasattr(images, "is_floating_point"):  # torch.Tensor
        return bool(images.is_floating_point())
    return np.dtype(images.dtype).kind == "f"


def frame_array(images, index: int) -> np.ndarray:
    """One frame as a float32 numpy array ``[H,W,C]`` (a view of CPU float32 tensors, no copy)."""
    frame = images[index]
    if hasattr(frame, "detach"):  # torch.Tensor: converted per frame, never the whole batch at once
        frame = frame.detach().float().cpu().numpy()
    return np.asarray(frame, dtype=np.float32)


def to_rgb8(frame: np.ndarray, notes: PixelNotes, *, field: str) -> np.ndarray:
    """``[H,W,C]`` float → contiguous ``[H,W,3]`` uint8 (rounded). Raises InputError on NaN/inf."""
    low, high = float(frame.min()), float(frame.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(
            "contains NaN or infinite pixel values; check the node that produced this image", field=field
        )
    if low < -_HALF_STEP or high > 1 + _HALF_STEP:
        notes.clipped += 1
    channels = frame.shape[2]
    rgb = frame
    if channels == 4:
        rgb, alpha = frame[..., :3], np.clip(frame[..., 3:], 0.0, 1.0)
        if float(alpha.min()) < 1.0:
            notes.translucent += 1
            rgb = rgb * alpha + (1.0 - alpha)
    scaled = rgb * np.float32(255.0)
    scaled += np.float32(0.5)
    out = np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
    if channels == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out)
