"""A contact sheet: evenly spaced frames of a clip in one PNG, to see motion at a glance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LocalStorageError


def contact_sheet(frames, out: Path, *, count: int = 12, columns: int = 4, thumb_width: int = 240) -> Path:
    """Write ``count`` evenly spaced frames of IMAGE ``frames`` ``[N,H,W,3]`` (0..1) as a labelled grid."""
    from PIL import Image, ImageDraw

    total = int(frames.shape[0])
    if total == 0:
        raise ValueError("no frames to show")
    picks = np.unique(np.linspace(0, total - 1, num=min(count, total)).round().astype(int))
    height, width = int(frames.shape[1]), int(frames.shape[2])
    thumb = (thumb_width, max(1, round(height * thumb_width / width)))
    rows = -(-len(picks) // columns)
    sheet = Image.new("RGB", (columns * thumb[0], rows * (thumb[1] + 16)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for slot, index in enumerate(picks):
        frame = np.asarray(frames[int(index)], dtype=np.float32)
        img = Image.fromarray((np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)).resize(
            thumb, Image.LANCZOS
        )
        x, y = (slot % columns) * thumb[0], (slot // columns) * (thumb[1] + 16)
        sheet.paste(img, (x, y + 16))
        draw.text((x + 4, y + 2), f"frame {index}", fill=(230, 230, 230))
    try:
        sheet.save(out)
    except OSError as exc:
        raise LocalStorageError.from_os_error(
            exc, action="Writing the contact sheet", path=Path(out), then="run again."
        ) from None
    return out
