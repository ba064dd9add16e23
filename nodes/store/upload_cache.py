"""Upload cache: content sha256 → the fal CDN URL it was uploaded to, so the same bytes go up once.

fal CDN files can expire, so an entry older than ``max_age_s`` counts as absent and the caller
uploads again. A caller that sees a cached URL answer 404 calls :meth:`UploadCache.forget`.
"""

from __future__ import annotations

import time
from pathlib import Path

from .db import Database

DEFAULT_MAX_AGE_S = 6 * 24 * 3600.0
CLOCK_SLACK_S = 60.0  # an entry dated further in the future than this means the clock jumped: stale


class UploadCache:
    """Lives in the pack's SQLite file (default ``data_dir()/fal-avatar.sqlite3``)."""

    def __init__(self, path: Path | None = None, *, max_age_s: float = DEFAULT_MAX_AGE_S) -> None:
        if max_age_s <= 0:
            raise ValueError("max_age_s must be positive")
        self._db = Database(path)
        self.max_age_s = max_age_s

    def get(self, sha256: str) -> str | None:
        """The URL uploaded within the last ``max_age_s`` seconds, else ``None``."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT url, uploaded_at FROM uploads WHERE sha256 = ?", (sha256.lower(),)
            ).fetchone()
        if row is None:
            return None
        age = time.time() - row["uploaded_at"]
        return row["url"] if -CLOCK_SLACK_S <= age <= self.max_age_s else None

    def put(self, sha256: str, url: str, size: int) -> None:
        """Remember a fresh upload (replaces an older URL for the same content)."""
        if not url:
            raise ValueError("url must not be empty")
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO uploads (sha256, url, size, uploaded_at) VALUES (?, ?, ?, ?)",
                (sha256.lower(), url, int(size), time.time()),
            )

    def forget(self, sha256: str) -> bool:
        """Drop the entry (its URL answered 404). Returns whether there was one."""
        with self._db.write() as conn:
            return conn.execute("DELETE FROM uploads WHERE sha256 = ?", (sha256.lower(),)).rowcount > 0
