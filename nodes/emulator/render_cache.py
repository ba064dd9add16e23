"""Output videos kept by what they are made of, so emulators that render the same job encode it once.

For test sessions: a session starts hundreds of emulators, and many of their jobs render the same picture,
sound and frame count. A render is a pure function of its inputs, so it is stored under a digest of them and
read back. Each file is written whole under a temporary name and then renamed, so emulators in several
processes can share one folder. A folder belongs to one session: the digest does not cover the renderer's
own code.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np


def render_digest(
    backgrounds: Sequence[np.ndarray], samples: np.ndarray, fps: Fraction, picks: np.ndarray
) -> str:
    """SHA-256 of every input of a render: the pictures, the sound, the frame rate and which picture each
    frame shows (its length is the frame count)."""
    digest = hashlib.sha256(f"{fps}|{samples.dtype}|{samples.shape}|".encode())
    digest.update(picks.astype(np.int64).data)
    for picture in backgrounds:
        digest.update(f"|{picture.dtype}|{picture.shape}|".encode())
        digest.update(np.ascontiguousarray(picture).data)
    digest.update(np.ascontiguousarray(samples).data)
    return digest.hexdigest()


class RenderCache:
    """Renders in ``folder``, one file per digest (created when missing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def get_or_make(self, digest: str, make: Callable[[], bytes]) -> bytes:
        """The stored render of ``digest``, else ``make()``'s, stored."""
        path = self.folder / f"{digest}.mp4"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        data = make()
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".part")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
        return data
