"""Polling for a condition in tests, with a deadline against hangs."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(what: str, check: Callable[[], object], timeout: float = 240.0):
    """``check()``'s first truthy value, polled every 50 ms; TimeoutError naming ``what`` after ``timeout``
    seconds (a deadline against hangs, never a measurement)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout} s: {what}")
        time.sleep(0.05)
    return value
