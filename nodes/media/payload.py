"""An encoded input ready to upload, with the content hash that keys upload de-duplication and caching."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Payload:
    """Bytes to upload: in memory (``data``) or a file uploaded as is (``path``); exactly one is set.

    ``file_name`` is derived from the hash (no local names leave the machine). ``warnings`` are
    user-facing notes (batch reduced, values clipped, image downscaled, ...); ``info`` holds facts
    such as sizes and durations.
    """

    data: bytes | None
    path: Path | None
    content_type: str
    file_name: str
    sha256: str
    size: int
    warnings: tuple[str, ...] = ()
    info: dict = field(default_factory=dict, hash=False)

    def read_bytes(self) -> bytes:
        return self.data if self.data is not None else Path(self.path).read_bytes()


def _payload(digest: str, size: int, content_type: str, ext: str, warnings, info, **source) -> Payload:
    """A payload named by its content hash (no local file names are sent to fal)."""
    return Payload(
        **source,
        content_type=content_type,
        file_name=f"{digest[:16]}.{ext}",
        sha256=digest,
        size=size,
        warnings=tuple(warnings),
        info=dict(info or {}),
    )


def payload_from_bytes(data: bytes, content_type: str, ext: str, *, warnings=(), info=None) -> Payload:
    digest = hashlib.sha256(data).hexdigest()
    return _payload(digest, len(data), content_type, ext, warnings, info, data=data, path=None)


def file_sha256(path: Path) -> str:
    """sha256 of a file, streamed from disk (the file is never fully in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def payload_from_file(path: Path, content_type: str, ext: str, *, warnings=(), info=None) -> Payload:
    path = Path(path)
    digest = file_sha256(path)
    return _payload(digest, path.stat().st_size, content_type, ext, warnings, info, data=None, path=path)
