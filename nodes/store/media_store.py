"""Result media kept on disk (``data_dir()/media``), so a repeated request costs nothing, not even a download.

Files are named by the caller (request key or request id, e.g. ``<request_key>.mp4``), moved in
atomically, private (dir 0700, files 0600) and evicted least-recently-used first once the total exceeds
the cap (``FAL_AVATAR_CACHE_GB``, default 5 GB; a cap of 0 keeps only the file just put and the files in
use). Last use is kept in the database, not in atime (often disabled). A journal entry whose file was
evicted or deleted by hand simply has no local file any more: the caller downloads the result again if
fal still has it.

The cap is a target, never a reason to fail a run: a run works through a :meth:`MediaStore.pinning`
view, whose ``put`` and ``get`` pin the file (see ``pins.py``) until the run is done with it, and no
eviction in any process removes a pinned file while its owner lives.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

from ..datadir import FILE_MODE, data_dir, ensure_private_dir
from ..errors import LocalStorageError
from ..settings import media_cache_cap_bytes
from .claims import Owner
from .db import Database
from .pins import PinSet, live_pinned_names

MEDIA_DIR_NAME = "media"
STALE_TEMP_S = 3600.0  # a temp file untouched for this long was left by a crashed process
TEMP_SUFFIX = ".tmp"
PART_SUFFIX = ".part"  # what a download or a stitch writes next to its staging path before renaming it
_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
# A staging name: ".<name>.<host tag>.<pid>.<random>.tmp" (and "..<that>.<random>.part" for its writer).
_WRITER = re.compile(r"\.([0-9a-f]{8})\.(\d+)\.[0-9a-f]{32}\.tmp(\.[0-9a-f]+\.part)?$")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_RUN_AGAIN = "run again: a finished fal job's result is downloaded again, not paid for again."


class MediaStore:
    """LRU store of result files under ``root`` with last-use times in the pack's database."""

    def __init__(
        self, root: Path | None = None, cap_bytes: int | None = None, *, db_path: Path | None = None
    ):
        self.root = Path(root) if root is not None else data_dir() / MEDIA_DIR_NAME
        self.cap_bytes = media_cache_cap_bytes() if cap_bytes is None else int(cap_bytes)
        self._db = Database(db_path)
        self._pins: PinSet | None = None
        self._pins_epoch = 0

    def pinning(self) -> MediaStore:
        """A view of this store for one run: every file it puts or gets stays pinned (never evicted, by any
        process) until :meth:`release`, the view is dropped, or this process ends."""
        view = MediaStore(self.root, self.cap_bytes, db_path=self._db.path)
        view._pins = PinSet(view._db)
        view._pins_epoch = view._db.epoch
        return view

    def release(self) -> None:
        """Unpin every file this view pinned (a no-op for a plain store)."""
        if self._pins is not None:
            self._pins.release()

    def path_for(self, name: str) -> Path:
        """Where ``name`` lives (whether or not it is stored)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad media name {name!r}: use letters, digits, '.', '_' and '-' only")
        return self.root / name

    def staging_path(self, name: str) -> Path:
        """A fresh temp path inside the store to download ``name`` into (so ``put`` is a rename).

        Left behind by a crash (also a ``.part`` file written next to it), it is removed by a later ``evict``
        once its writer is dead, or once an hour old.
        """
        self.path_for(name)
        try:
            ensure_private_dir(self.root)
        except OSError as exc:
            raise LocalStorageError.from_os_error(
                exc, action="Creating the result video folder", path=self.root, then=_RUN_AGAIN
            ) from None
        return self.root / f".{name}.{_HOST_TAG}.{os.getpid()}.{uuid.uuid4().hex}{TEMP_SUFFIX}"

    def put(self, name: str, src: Path) -> Path:
        """Move ``src`` in as ``name`` (copy + delete across filesystems), atomically; then evict others.

        A failed write raises ``LocalStorageError`` and leaves ``src`` where it was.
        """
        try:
            dest = self._put(name, Path(src))
        except OSError as exc:
            size = Path(src).stat().st_size if Path(src).is_file() else None
            raise LocalStorageError.from_os_error(
                exc,
                action="Storing the result video",
                path=self.root,
                needed_bytes=size,
                then=f"{_RUN_AGAIN} The downloaded file is kept at {src}."
                if Path(src).is_file()
                else _RUN_AGAIN,
            ) from None
        self.evict(keep=name)
        return dest

    def _put(self, name: str, src: Path) -> Path:
        dest = self.path_for(name)
        tmp = self.staging_path(name)
        moved = _move_or_copy(src, tmp)
        try:
            os.utime(tmp)  # a fresh mtime: another process's evict() must not take it for a stale temp
            os.chmod(tmp, FILE_MODE)
            _fsync(tmp)
            size = tmp.stat().st_size
            with self._db.write() as conn:  # under the write lock: no evict() between rename and row
                os.replace(tmp, dest)
                conn.execute(
                    "INSERT OR REPLACE INTO media (name, size, last_used) VALUES (?, ?, ?)",
                    (name, size, time.time()),
                )
                self._pin(conn, name)
        except BaseException:
            if tmp.exists():
                if moved:
                    os.replace(tmp, src)  # hand the (paid-for) file back rather than lose it
                else:
                    tmp.unlink()
            raise
        _fsync_dir(self.root)
        if not moved:
            src.unlink(missing_ok=True)
        return dest

    def get(self, name: str) -> Path | None:
        """The stored file (marked as just used), or ``None`` if it was never stored, evicted or deleted."""
        path = self.path_for(name)
        with self._db.write() as conn:  # serialised with evict(): a file returned here is not being removed
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                conn.execute("DELETE FROM media WHERE name = ?", (name,))
                return None
            conn.execute(
                "INSERT OR REPLACE INTO media (name, size, last_used) VALUES (?, ?, ?)",
                (name, size, time.time()),
            )
            self._pin(conn, name)
        return path

    def _pin(self, conn, name: str) -> None:
        if self._pins is not None:
            self._restore_pins(conn)
            self._pins.add(conn, name)

    def _restore_pins(self, conn) -> None:
        """Pin this view's files again if the database file was replaced (deleted by hand) meanwhile."""
        if self._pins is not None and self._db.epoch != self._pins_epoch:
            self._pins_epoch = self._db.epoch
            self._pins.restore(conn)

    def evict(self, keep: str | None = None) -> list[str]:
        """Delete least-recently-used files (never ``keep``, never a file a live run has pinned) until the
        total is within the cap, or only pinned files are left.

        Files without a database row (copied in by hand) count with their mtime; rows whose file is gone
        are dropped. Returns the names removed.
        """
        with self._db.write() as conn:
            files = self._scan()
            self._restore_pins(conn)
            pinned = live_pinned_names(conn)
            used = {
                row["name"]: row["last_used"] for row in conn.execute("SELECT name, last_used FROM media")
            }
            total = sum(size for size, _ in files.values())
            removed = []
            for name in sorted(files, key=lambda n: (used.get(n, files[n][1]), n)):
                if total <= max(self.cap_bytes, 0):
                    break
                if name == keep or name in pinned:
                    continue
                (self.root / name).unlink(missing_ok=True)
                total -= files[name][0]
                removed.append(name)
            gone = removed + [name for name in used if name not in files]
            conn.executemany("DELETE FROM media WHERE name = ?", [(name,) for name in gone])
        return removed

    def _scan(self) -> dict[str, tuple[int, float]]:
        """name → (size, mtime) of the stored files; also removes temp/part files left by crashed writers."""
        files: dict[str, tuple[int, float]] = {}
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return files
        now = time.time()
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
                if entry.name.startswith("."):
                    if _left_behind(entry.name, now - stat.st_mtime):
                        os.unlink(entry.path)
                    continue
            except FileNotFoundError:
                continue
            files[entry.name] = (stat.st_size, stat.st_mtime)
        return files


def _left_behind(name: str, age_s: float) -> bool:
    """Whether a temp/part file is a crashed writer's: its process (on this host) is gone, or it is stale."""
    if not name.endswith((TEMP_SUFFIX, PART_SUFFIX)):
        return False
    if age_s > STALE_TEMP_S:
        return True
    match = _WRITER.search(name)
    if match is None or match.group(1) != _HOST_TAG:
        return False
    writer = Owner(host=socket.gethostname(), boot_id="", pid=int(match.group(2)), started="")
    return not writer.is_alive(time.time())


def _move_or_copy(src: Path, dest: Path) -> bool:
    """Rename ``src`` to ``dest``; across filesystems copy it into a new 0600 file. True if it moved."""
    try:
        os.rename(src, dest)
        return True
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return False


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
