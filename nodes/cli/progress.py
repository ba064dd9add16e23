"""Status lines on stderr: rewritten in place on a terminal, one line per change otherwise."""

from __future__ import annotations

import sys

from ..pipeline.status import RunStatus


class StderrStatus:
    def __init__(self, stream=None) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._last_key: tuple | None = None

    def __call__(self, status: RunStatus) -> None:
        key = (status.phase, status.detail, status.queue_position, status.request_id)
        if self._tty:
            self._stream.write("\r\033[K" + status.text)
        elif key != self._last_key:
            self._stream.write(status.text + "\n")
        self._last_key = key
        self._stream.flush()

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
