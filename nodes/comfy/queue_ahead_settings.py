"""The setting "Start fal jobs of queued prompts early": how many queued prompts ahead of the running one may
have their fal jobs started (0 = off, at most 16; default 4). ``FAL_AVATAR_QUEUE_AHEAD`` wins over the value
saved in Settings → fal avatar; the answers say which applies, so that the panel can tell the user."""

from __future__ import annotations

import os

from ..datadir import save_setting, saved_settings
from ..errors import ConfigError

ENV = "FAL_AVATAR_QUEUE_AHEAD"
SETTING = "queue_ahead_prompts"
FIELD = SETTING
DEFAULT = 4
MAXIMUM = 16


def _valid(value, where: str) -> int:
    if isinstance(value, bool):
        value = None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number != int(number) or not 0 <= number <= MAXIMUM:
        raise ConfigError(
            f"{where} must be a whole number of prompts from 0 (off) to {MAXIMUM} (got {value!r})"
        )
    return int(number)


def prompts_ahead() -> tuple[int, str]:
    """How many queued prompts may start early, and where that comes from ("env", "saved", "default")."""
    raw = os.environ.get(ENV, "").strip()
    if raw:
        return _valid(raw, ENV), "env"
    saved = saved_settings().get(SETTING)
    if saved is not None:
        return _valid(saved, "The saved queue-ahead setting"), "saved"
    return DEFAULT, "default"


def queue_ahead_status() -> dict:
    """``{"queue_ahead_prompts", "source", "env", "default", "max"}``, plus ``"error"`` (and a null value)
    when the environment variable or the saved value is not valid."""
    body = {"env": ENV, "default": DEFAULT, "max": MAXIMUM}
    try:
        value, source = prompts_ahead()
    except ConfigError as exc:
        return {FIELD: None, "source": None, **body, "error": exc.message}
    return {FIELD: value, "source": source, **body}


def save_from_request(payload) -> tuple[int, dict]:
    """Save the posted value (``null``: back to the default). Returns (HTTP status, JSON body)."""
    if not isinstance(payload, dict) or FIELD not in payload:
        return 400, {
            **queue_ahead_status(),
            "error": f'Send JSON {{"{FIELD}": <0 to {MAXIMUM}>}} (null: the default).',
        }
    value = payload[FIELD]
    if value is not None:
        try:
            value = _valid(value, "Start fal jobs of queued prompts early")
        except ConfigError as exc:
            return 400, {**queue_ahead_status(), "error": exc.message}
    save_setting(SETTING, value)
    return 200, queue_ahead_status()
