"""The settings panel's key routes as plain functions: status, save, forget, and the origin check.

The key goes one way only (browser → server). Answers never contain it, only whether one is set
and where it comes from. Changes are refused unless the request comes from the page's own origin.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ..credentials import forget_saved_key, key_source, save_key
from ..errors import ConfigError


def key_status() -> dict:
    source = key_source()
    return {"configured": source is not None, "source": source}


def is_same_origin(headers: Mapping[str, str], host: str | None) -> bool:
    """True when the request's Origin (or Sec-Fetch-Site) says it comes from the page's own origin."""
    origin = headers.get("Origin") or headers.get("origin")
    if origin:
        parts = urlsplit(origin)
        return bool(host) and parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
    fetch_site = headers.get("Sec-Fetch-Site") or headers.get("sec-fetch-site")
    return fetch_site == "same-origin"


def save_from_request(payload) -> tuple[int, dict]:
    """Store the posted key. Returns (HTTP status, JSON body); the body never echoes the key."""
    key = payload.get("key") if isinstance(payload, dict) else None
    if not isinstance(key, str):
        return 400, {"error": 'Send JSON {"key": "<key_id>:<key_secret>"}.', **key_status()}
    try:
        save_key(key)
    except ConfigError as exc:
        return 400, {"error": exc.message, **key_status()}
    return 200, key_status()


def forget() -> dict:
    forget_saved_key()
    return key_status()
