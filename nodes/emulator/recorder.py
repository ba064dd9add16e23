"""The emulator's request log: one RecordedRequest per HTTP request it received."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

ROUTES = (
    "submit", "status", "status_stream", "result", "cancel", "token", "cdn_upload", "multipart_create",
    "multipart_part", "multipart_complete", "storage_initiate", "signed_put", "file_get", "openapi",
    "request_history", "models", "other",
)  # fmt: skip


@dataclass(frozen=True)
class RecordedRequest:
    """A request as received; ``status`` is None when the connection was dropped without a response."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)  # lower-case names (incl. authorization)
    route: str
    status: int | None
    body: bytes = field(repr=False)  # can be megabytes: kept out of reprs and assertion diffs


class RequestLog:
    """Thread-safe, append-only (until cleared) list of RecordedRequest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def add(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
