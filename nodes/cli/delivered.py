"""The batch outputs this pack wrote, so that a re-run may replace its own files and nothing else.

A small JSON file in the data directory maps each output's resolved path to the manifest it came from and
the size and modification time it had when written. A file that is still as written counts as the pack's
output; anything else there (a user's file, or one edited since) is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ..datadir import data_dir, write_private_file

FILE_NAME = "batch-outputs.json"


class DeliveredOutputs:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path or data_dir() / FILE_NAME

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def is_ours(self, out: Path, manifest: Path) -> bool:
        """Whether ``out`` is a file this manifest's batch wrote and nobody changed since."""
        entry = self._load().get(str(Path(out).resolve()))
        try:
            stat = Path(out).stat()
        except OSError:
            return False
        return (
            isinstance(entry, dict)
            and entry.get("manifest") == str(Path(manifest).resolve())
            and entry.get("size") == stat.st_size
            and entry.get("mtime_ns") == stat.st_mtime_ns
        )

    def record(self, out: Path, manifest: Path) -> None:
        """Remember ``out`` as written for ``manifest`` (best effort: a lost entry only needs --overwrite)."""
        stat = Path(out).stat()
        with self._lock:
            data = {k: v for k, v in self._load().items() if Path(k).is_file()}  # forget files gone since
            data[str(Path(out).resolve())] = {
                "manifest": str(Path(manifest).resolve()),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
            try:
                write_private_file(self.path, json.dumps(data).encode("utf-8"))
            except OSError:
                pass
