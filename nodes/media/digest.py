"""Content digests of inputs as the user gave them (tensors, samples, files), for request keys.

A request key must not depend on what an encoder produced: a free re-run then needs no encoding at all,
and nothing an encoder does (library versions, threads, padding) can make an identical request look new.
Each digest covers the values, the shape and the dtype class of exactly what the upload is made from
(the first image of an IMAGE batch, the first clip of an AUDIO batch, the frames of a frames batch).
Large tensors are hashed frame by frame on several threads (hashlib releases the GIL), then combined.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .payload import file_sha256

_PARALLEL_BYTES = 64 << 20  # below this, one thread is as fast


def _as_float32(value) -> np.ndarray:
    """A C-contiguous float32 numpy array of a torch tensor or array-like (no copy when it already is one)."""
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach()
        if str(value.dtype) != "torch.float32":
            value = value.float()
        value = value.cpu().contiguous().numpy()
    return np.ascontiguousarray(value, dtype=np.float32)


def _header(kind: str, shape: tuple[int, ...], extra: str = "") -> bytes:
    return f"fal-avatar/{kind}/v1|{'x'.join(str(d) for d in shape)}|{extra}|".encode()


def _array_digest(kind: str, array: np.ndarray, extra: str = "") -> str:
    """sha256 of a header and the array's bytes; frame-parallel for big arrays."""
    digest = hashlib.sha256(_header(kind, array.shape, extra))
    if array.nbytes < _PARALLEL_BYTES or array.ndim < 2 or array.shape[0] < 2:
        digest.update(memoryview(array).cast("B"))
        return digest.hexdigest()
    workers = min(os.cpu_count() or 1, 8, array.shape[0])

    def one(index: int) -> bytes:
        return hashlib.sha256(memoryview(array[index]).cast("B")).digest()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(one, range(array.shape[0])):
            digest.update(part)
    return digest.hexdigest()


def image_digest(image) -> str:
    """The first image of an IMAGE batch ``[B,H,W,C]`` (the only one uploaded)."""
    return _array_digest("image", _as_float32(image[0]))


def frames_digest(frames, fps: float, pick: Sequence[int] | None = None) -> str:
    """An IMAGE batch used as a video at ``fps``: every frame, or the frames ``pick`` names, in that order."""
    order = list(range(int(frames.shape[0]))) if pick is None else list(pick)
    digest = hashlib.sha256(
        _header("frames", tuple(frames.shape[1:]), f"fps={float(fps)!r}|count={len(order)}")
    )

    def one(index: int) -> bytes:
        return hashlib.sha256(memoryview(_as_float32(frames[index])).cast("B")).digest()

    workers = min(os.cpu_count() or 1, 8, max(len(order), 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(one, order):
            digest.update(part)
    return digest.hexdigest()


def audio_digest(audio: dict) -> str:
    """The first clip of an AUDIO batch: samples ``[C,T]`` and the sample rate."""
    return _array_digest("audio", _as_float32(audio["waveform"][0]), f"rate={int(audio['sample_rate'])}")


def file_digest(path) -> str:
    """A source file's bytes."""
    return file_sha256(path)
