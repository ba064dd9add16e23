"""Where the pack keeps its data: journal, caches, result media and the saved key.

Inside ComfyUI: ``<ComfyUI user directory>/fal-avatar``. Otherwise ``$FAL_AVATAR_HOME``, or a per-user
default (``$XDG_DATA_HOME/fal-avatar``, ``~/.local/share/fal-avatar``; ``%LOCALAPPDATA%`` on Windows).
The directory is created with mode 0700 and files in it are written 0600.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .errors import ConfigError, os_error_reason

DIR_MODE = 0o700
FILE_MODE = 0o600
SETTINGS_FILE_NAME = "settings.json"  # the pack's saved settings (Settings → fal avatar)


def _comfy_user_dir() -> Path | None:
    # Only ask ComfyUI when it is already loaded: never import it from here.
    folder_paths = sys.modules.get("folder_paths")
    getter = getattr(folder_paths, "get_user_directory", None)
    if getter is None:
        return None
    try:
        return Path(getter())
    except Exception:
        return None


def data_dir() -> Path:
    """Return the data directory, creating it (0700) if needed."""
    env = os.environ.get("FAL_AVATAR_HOME", "").strip()
    if env:
        path = Path(env).expanduser()
    elif (user := _comfy_user_dir()) is not None:
        path = user / "fal-avatar"
    elif os.name == "nt":
        path = Path(os.environ.get("LOCALAPPDATA", Path.home())) / "fal-avatar"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "").strip()
        path = (Path(xdg) if xdg else Path.home() / ".local" / "share") / "fal-avatar"
    try:
        return ensure_private_dir(path)
    except OSError as exc:
        raise ConfigError(
            f"The fal-avatar data directory {path} cannot be created or used: {os_error_reason(exc)}. Make "
            "it writable, or set FAL_AVATAR_HOME to a folder you can write to."
        ) from None


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if os.name != "nt":
        os.chmod(path, DIR_MODE)
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` atomically to ``path`` with mode 0600 (never readable by others, even briefly)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def saved_settings() -> dict:
    """The pack's saved settings (``{}`` when none are saved or the file is unreadable)."""
    try:
        data = json.loads((data_dir() / SETTINGS_FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_setting(name: str, value) -> None:
    """Save one setting (``None``: remove it), keeping the others."""
    data = saved_settings()
    if value is None and name not in data:
        return
    if value is None:
        del data[name]
    else:
        data[name] = value
    write_private_file(data_dir() / SETTINGS_FILE_NAME, json.dumps(data).encode())
