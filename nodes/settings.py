"""Settings read from the environment at call time (so a changed variable needs no restart)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigError

DEFAULT_QUEUE_URL = "https://queue.fal.run"
DEFAULT_REST_URL = "https://rest.fal.ai"
DEFAULT_CDN_URL = "https://v3.fal.media"
# fal's public per-endpoint OpenAPI documents (``?endpoint_id=<id>``); no key is ever sent there
DEFAULT_OPENAPI_URL = "https://fal.ai/api/openapi/queue/openapi.json"
DEFAULT_API_URL = "https://api.fal.ai"  # fal's Platform API (request history)


def _base_url(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip() or default
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be a URL with its scheme, e.g. {default} (got {value!r})")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid URL ({exc}), e.g. {default} (got {value!r})") from None
    if not parts.hostname or any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigError(
            f"{name} is not a valid URL (no host, or a space in it), e.g. {default} (got {value!r})"
        )
    return value.rstrip("/")


def _number(name: str, default: float | None, *, zero_disables: bool = True) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw!r})") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative (got {raw!r})")
    return (value or None) if zero_disables else value  # 0 usually disables a limit


@dataclass(frozen=True)
class FalUrls:
    """Base URLs of fal's hosts (scheme included, no trailing slash): queue, REST storage, CDN and the
    Platform API (``api``, used to look requests up)."""

    queue: str
    rest: str
    cdn: str
    api: str = DEFAULT_API_URL

    @classmethod
    def from_env(cls) -> FalUrls:
        return cls(
            queue=_base_url("FAL_QUEUE_URL", DEFAULT_QUEUE_URL),
            rest=_base_url("FAL_REST_URL", DEFAULT_REST_URL),
            cdn=_base_url("FAL_CDN_URL", DEFAULT_CDN_URL),
            api=_base_url("FAL_API_URL", DEFAULT_API_URL),
        )

    @classmethod
    def single(cls, base_url: str) -> FalUrls:
        """All hosts on one base URL (the emulator serves them on one port)."""
        base = base_url.rstrip("/")
        return cls(queue=base, rest=base, cdn=base, api=base)


@dataclass(frozen=True)
class WaitLimits:
    """How long to wait for fal. ``None`` means no limit."""

    queue_wait_s: float | None = 30 * 60.0  # still IN_QUEUE after this → cancel + error
    processing_s: float | None = None  # no cap on generation time by default

    @classmethod
    def from_env(cls) -> WaitLimits:
        minutes = _number("FAL_AVATAR_QUEUE_TIMEOUT_MIN", 30.0)
        processing = _number("FAL_AVATAR_PROCESSING_TIMEOUT_MIN", None)
        return cls(
            queue_wait_s=minutes * 60 if minutes else None,
            processing_s=processing * 60 if processing else None,
        )


def openapi_url() -> str:
    """Where fal publishes each endpoint's OpenAPI document (``FAL_OPENAPI_URL``; public: no key sent)."""
    return _base_url("FAL_OPENAPI_URL", DEFAULT_OPENAPI_URL)


def media_cache_cap_bytes() -> int:
    """Size cap of the local result-media store (``FAL_AVATAR_CACHE_GB``, default 5 GB; 0 keeps only the
    newest result)."""
    return int(_number("FAL_AVATAR_CACHE_GB", 5.0, zero_disables=False) * 1e9)


def max_image_side_override() -> int | None:
    """Longest image side uploaded, when ``FAL_AVATAR_MAX_IMAGE_SIDE`` overrides the endpoint's own."""
    value = _number("FAL_AVATAR_MAX_IMAGE_SIDE", None)
    return int(value) if value else None


MAX_PARALLEL_CAP = 64


def max_parallel(default: int = 4) -> int:
    """fal jobs one run keeps in flight at once (``FAL_AVATAR_MAX_PARALLEL``, default 4, at most 64)."""
    value = _number("FAL_AVATAR_MAX_PARALLEL", float(default), zero_disables=False)
    if value is None or value < 1 or value != int(value) or value > MAX_PARALLEL_CAP:
        raise ConfigError(f"FAL_AVATAR_MAX_PARALLEL must be a whole number from 1 to {MAX_PARALLEL_CAP}")
    return int(value)
