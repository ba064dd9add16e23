"""Server-sent events: turn a line stream into ``data`` payloads (comments are keep-alives)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from .bounded import SSE_EVENT_BYTES, AnswerTooLarge, json_value

log = logging.getLogger(__name__)


class SSEParser:
    """Incremental parser of the ``text/event-stream`` format (only ``data`` matters to fal)."""

    def __init__(self, max_bytes: int = SSE_EVENT_BYTES) -> None:
        self._data: list[str] = []
        self._size = 0
        self._max_bytes = max_bytes

    def feed(self, line: str) -> str | None:
        """Feed one line (without its newline). Returns an event's data when a blank line ends it."""
        if not line:
            if not self._data:
                return None
            data, self._data, self._size = "\n".join(self._data), [], 0
            return data
        if line.startswith(":"):
            return None  # comment: keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._size += len(value)
            if self._size > self._max_bytes:
                raise AnswerTooLarge(self._max_bytes)
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None  # event / id / retry fields carry nothing fal relies on


async def json_events(lines: AsyncIterator[str]) -> AsyncIterator[Any]:
    """Yield each event's data parsed as JSON; undecodable events are skipped (and logged). AnswerTooLarge
    for an event larger than ``SSE_EVENT_BYTES``."""
    parser = SSEParser()
    async for line in lines:
        data = parser.feed(line.rstrip("\r"))
        if data is None:
            continue
        try:
            yield json_value(data)
        except ValueError:
            log.debug("fal status stream: ignoring a non-JSON event (%d chars)", len(data))
