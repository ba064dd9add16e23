"""The spend guard: a run whose estimate is above the limit is refused before anything is uploaded.

The limit per run comes from, in order: the command line (``--max-usd``), the environment
(``FAL_AVATAR_MAX_USD_PER_RUN``), the pack's settings (Settings → fal avatar in ComfyUI, saved in the
data directory), else 25 USD. Only money still to be spent counts: results the journal already holds
are reused for free.
"""

from __future__ import annotations

import os

from .avatar.pricing import format_usd
from .datadir import SETTINGS_FILE_NAME, save_setting, saved_settings  # noqa: F401 (re-exported)
from .errors import ConfigError, SpendLimitError

DEFAULT_MAX_USD = 25.0
ENV = "FAL_AVATAR_MAX_USD_PER_RUN"
SETTING = "max_usd_per_run"


def _valid(value, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number of US dollars (got {value!r})") from None
    if not number >= 0 or number == float("inf"):
        raise ConfigError(f"{where} must be zero or more US dollars (got {value!r})")
    return number


def spend_limit(override: float | None = None) -> tuple[float, str]:
    """The limit in USD and where it comes from."""
    if override is not None:
        return _valid(override, "--max-usd"), "--max-usd"
    raw = os.environ.get(ENV, "").strip()
    if raw:
        return _valid(raw, ENV), ENV
    saved = saved_settings().get(SETTING)
    if saved is not None:
        return _valid(saved, "the saved spend limit"), "Settings → fal avatar"
    return DEFAULT_MAX_USD, "default"


def save_spend_limit(value) -> float:
    """Save the limit in the pack's settings (the environment variable still wins)."""
    number = _valid(value, "The spend limit")
    save_setting(SETTING, number)
    return number


def forget_spend_limit() -> None:
    """Remove the saved limit: the default applies again (unless the environment sets one)."""
    save_setting(SETTING, None)


def check_spend(
    new_usd: float,
    *,
    what: str,
    reused_usd: float = 0.0,
    stored_usd: float | None = None,
    override: float | None = None,
) -> None:
    """Raise :class:`SpendLimitError` when ``new_usd`` (the estimate of what this run would pay) is above
    the limit. ``what`` names the run ("3 segments", "40 rows"); ``reused_usd`` is not paid again: of it,
    ``stored_usd`` was paid by earlier runs (stored results), the rest is identical pieces of this run,
    each generated once (``None``: the split is not known)."""
    limit, source = spend_limit(override)
    if new_usd <= limit + 1e-9:
        return
    reused = _reused_text(reused_usd, stored_usd)
    how = {
        "--max-usd": "pass a higher --max-usd",
        ENV: f"set {ENV} higher",
    }.get(
        source,
        f"raise it in Settings → fal avatar → Spend limit per run, set {ENV}, or pass --max-usd (command "
        "line)",
    )
    raise SpendLimitError(
        f"This run would cost an estimated {format_usd(new_usd)} for {what}{reused}, above the spend limit "
        f"of {format_usd(limit)} per run ({source}). Nothing was uploaded or submitted. To allow it, {how} "
        f"(to at least {new_usd:.2f} USD)."
    )


def _reused_text(reused_usd: float, stored_usd: float | None) -> str:
    if reused_usd <= 0:
        return ""
    if stored_usd is None:
        return (
            f" ({format_usd(reused_usd)} more is not paid again: stored results or identical pieces "
            "generated once)"
        )
    parts = []
    if stored_usd > 0:
        parts.append(f"{format_usd(stored_usd)} is already paid for and reused")
    shared = round(reused_usd - stored_usd, 4)
    if shared > 0:
        parts.append(f"{format_usd(shared)} is for identical pieces of this run, each generated once")
    return f" (more: {'; '.join(parts)})" if parts else ""
