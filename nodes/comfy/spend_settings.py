"""The settings panel's spend-limit routes as plain functions: the limit per run, where it comes from,
saving it and going back to the default. The environment variable wins over the saved value; the answers
say so, so that the panel can tell the user."""

from __future__ import annotations

from ..errors import ConfigError
from ..spend_guard import DEFAULT_MAX_USD, ENV, forget_spend_limit, save_spend_limit, spend_limit

FIELD = "max_usd_per_run"
_SOURCES = {ENV: "env", "default": "default"}  # any other source is the saved setting


def spend_status() -> dict:
    """``{"max_usd_per_run", "source": "env"|"saved"|"default", "env", "default_usd"}``, plus ``"error"``
    (and a null limit) when the environment variable or the saved value is not a valid amount."""
    body = {"env": ENV, "default_usd": DEFAULT_MAX_USD}
    try:
        limit, source = spend_limit()
    except ConfigError as exc:
        return {FIELD: None, "source": None, **body, "error": exc.message}
    return {FIELD: limit, "source": _SOURCES.get(source, "saved"), **body}


def save_from_request(payload) -> tuple[int, dict]:
    """Save the posted limit (``null``: back to the default). Returns (HTTP status, JSON body)."""
    if not isinstance(payload, dict) or FIELD not in payload:
        return 400, {**spend_status(), "error": f'Send JSON {{"{FIELD}": <US dollars>}} (null: the default).'}
    value = payload[FIELD]
    if value is None:
        forget_spend_limit()
        return 200, spend_status()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 400, {
            **spend_status(),
            "error": f"The spend limit must be a number of US dollars (got {value!r}).",
        }
    try:
        save_spend_limit(value)
    except ConfigError as exc:
        return 400, {**spend_status(), "error": exc.message}
    return 200, spend_status()
