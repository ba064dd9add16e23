"""The fal key: from the environment, or the one key file a user saved from ComfyUI's settings.

Order: ``FAL_KEY``; ``FAL_KEY_ID`` + ``FAL_KEY_SECRET``; the saved key file. The environment wins.
Resolved at call time, so a key saved from the settings panel works without a restart. The key is
never shown: :class:`Credentials` redacts itself in ``repr``/``str``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .datadir import data_dir, write_private_file
from .errors import ConfigError, FalAvatarError, MissingKeyError

KEY_FILE_NAME = "fal_key"

MISSING_KEY_HELP = (
    "No fal API key found. Either set the environment variable FAL_KEY (or FAL_KEY_ID and "
    "FAL_KEY_SECRET) before starting ComfyUI, or paste the key once into "
    "Settings → fal avatar → 'fal API key' (stored on the server, never in workflows). "
    "Keys are made at https://fal.ai/dashboard/keys."
)


@dataclass(frozen=True)
class Credentials:
    """A resolved fal key and where it came from (``env`` or ``saved``)."""

    key: str = field(repr=False)
    source: str

    def header_value(self) -> str:
        return f"Key {self.key}"

    def __str__(self) -> str:
        return f"<fal key from {self.source}>"

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r}, key=<redacted>)"


def key_file_path() -> Path:
    return data_dir() / KEY_FILE_NAME


def _from_env() -> str | None:
    key = os.environ.get("FAL_KEY", "").strip()
    if key:
        return key
    key_id = os.environ.get("FAL_KEY_ID", "").strip()
    secret = os.environ.get("FAL_KEY_SECRET", "").strip()
    if key_id and secret:
        return f"{key_id}:{secret}"
    return None


def _from_file() -> str | None:
    path = key_file_path()
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"The saved fal key at {path} cannot be read: {exc.strerror}") from None
    return key or None


def key_source() -> str | None:
    """``"env"``, ``"saved"`` or ``None``: what the settings panel may show (never the key)."""
    if _from_env():
        return "env"
    if _from_file():
        return "saved"
    return None


def resolve_credentials() -> Credentials:
    """Return the key to use, or raise :class:`MissingKeyError` saying both ways to set one."""
    key = _from_env()
    if key:
        return Credentials(key=key, source="env")
    key = _from_file()
    if key:
        return Credentials(key=key, source="saved")
    raise MissingKeyError(MISSING_KEY_HELP)


def validate_key_format(key: str) -> str:
    """Normalise a pasted key; fal keys look like ``<key_id>:<key_secret>``."""
    key = key.strip()
    if key.lower().startswith("key "):
        key = key[4:].strip()
    if not key or any(ch.isspace() for ch in key) or len(key) > 512:
        raise ConfigError("That does not look like a fal key: expected '<key_id>:<key_secret>'.")
    if ":" not in key:
        raise ConfigError(
            "A fal key has the form '<key_id>:<key_secret>' (copy both parts from fal.ai/dashboard/keys)."
        )
    return key


def save_key(key: str) -> Path:
    """Store ``key`` in the data directory (mode 0600). Returns the file path."""
    path = key_file_path()
    write_private_file(path, validate_key_format(key).encode("utf-8"))
    return path


def forget_saved_key() -> bool:
    """Delete the saved key file. Returns whether one existed."""
    try:
        key_file_path().unlink()
        return True
    except FileNotFoundError:
        return False


def known_secrets() -> tuple[str, ...]:
    """The current fal key and its secret half (longest first), or ``()`` when none is configured.

    The journal is given this function (see :class:`~.store.journal.Journal`) and scrubs what it writes."""
    try:
        key = resolve_credentials().key
    except FalAvatarError:
        return ()
    secret = key.partition(":")[2]
    return (key, secret) if len(secret) >= 8 else (key,)
