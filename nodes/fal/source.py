"""Bytes to upload, from memory or streamed from disk in chunks (a file is never read whole)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024

ProgressCallback = Callable[
    [int, "int | None"], Any
]  # on_progress(done_bytes, total_bytes): a plain function


@dataclass(frozen=True)
class UploadSource:
    data: bytes | None
    path: Path | None
    size: int

    @classmethod
    def of(cls, data: bytes | Path) -> UploadSource:
        if isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
            return cls(data=raw, path=None, size=len(raw))
        path = Path(data)
        return cls(data=None, path=path, size=path.stat().st_size)

    def body(
        self, offset: int = 0, length: int | None = None, *, progress: Progress | None = None, part: Any = 0
    ) -> Callable[[], AsyncIterator[bytes]]:
        """Makes fresh streams over ``[offset, offset + length)``; each call restarts the part's progress."""
        length = self.size - offset if length is None else length

        def stream() -> AsyncIterator[bytes]:
            return self._chunks(offset, length, progress.counter(part) if progress else None)

        return stream

    async def _chunks(
        self, offset: int, length: int, sent: Callable[[int], None] | None
    ) -> AsyncIterator[bytes]:
        async for chunk in self._read(offset, length):
            if sent is not None:
                sent(len(chunk))
            yield chunk

    async def _read(self, offset: int, length: int) -> AsyncIterator[bytes]:
        end = offset + length
        if self.data is not None:
            for start in range(offset, end, CHUNK):
                yield self.data[start : min(start + CHUNK, end)]
            return
        assert self.path is not None
        handle = await asyncio.to_thread(open, self.path, "rb")
        try:
            await asyncio.to_thread(handle.seek, offset)
            left = length
            while left > 0:
                chunk = await asyncio.to_thread(handle.read, min(CHUNK, left))
                if not chunk:
                    raise OSError(f"{self.path} got shorter while it was being uploaded")
                left -= len(chunk)
                yield chunk
        finally:
            handle.close()


class Progress:
    """Adds up bytes moved (per part, so a retried part does not count twice) and reports them."""

    def __init__(self, total: int | None, callback: ProgressCallback | None) -> None:
        self.total = total
        self._callback = callback
        self._parts: dict[Any, int] = {}

    def counter(self, part: Any = 0) -> Callable[[int], None]:
        """A per-attempt counter: it restarts the part at zero, then adds what is sent."""
        self._parts[part] = 0

        def add(count: int) -> None:
            self._parts[part] += count
            self.report()

        return add

    def report(self) -> None:
        if self._callback is not None:
            self._callback(sum(self._parts.values()), self.total)
