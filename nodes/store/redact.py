"""Make values safe to persist: never the fal key, no secret-named fields, no megabyte data URIs.

The secrets themselves are passed in (the store never imports the credentials)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
MAX_TEXT = 300
_SECRET_NAME = re.compile(
    r"(^|[_\-.])(api[_\-]?key|key|keys|token|secret|password|passwd|authorization|credentials?|cookie)($|[_\-.])",
    re.IGNORECASE,
)


def no_secrets() -> tuple[str, ...]:
    """No known secret (shape-based redaction still applies): for journals that only read."""
    return ()


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """A JSON-safe copy of ``value`` with every occurrence of ``secrets`` replaced by ``<redacted>``."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {str(scrub(k, secrets)): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return scrub(str(value), secrets)


def summarize(arguments: Mapping[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    """A small, secret-free copy of request arguments for the journal.

    Secret-named fields (``api_key``, ``token``, …) become ``<redacted>``, data URIs become
    ``<data:mime, N chars>`` and other long strings are shortened.
    """
    return _shrink(scrub(arguments, secrets))


def _shrink(value: Any, name: str = "") -> Any:
    if _SECRET_NAME.search(name):
        return REDACTED
    if isinstance(value, dict):
        return {k: _shrink(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shrink(v, name) for v in value]
    if isinstance(value, str) and value.startswith("data:"):
        mime = value[5:].split(",", 1)[0].split(";", 1)[0] or "?"
        return f"<data:{mime}, {len(value)} chars>"
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return f"{value[:MAX_TEXT]}… ({len(value)} chars)"
    return value
