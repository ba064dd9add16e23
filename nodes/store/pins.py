"""Pins: media files a run is using (segments about to be stitched, a video about to be copied out).

The media store's eviction never removes a pinned file whose owner still runs, in any process. A pin is a
row in the pack's SQLite file naming its owner as the claims do (host, boot id, pid, process start time), so
the pins of a process that died (killed, crashed, the machine rebooted) count for nothing and are dropped by
the next eviction. A live owner gives its pins up with :meth:`PinSet.release`, or when its ``PinSet`` is
garbage-collected. A pin from another host (a data directory on a shared disk) cannot be checked that way;
it holds for ``OTHER_HOST_PIN_S`` after it was last set.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
import uuid
import weakref

from .claims import Owner
from .db import Database

OTHER_HOST_PIN_S = 24 * 3600.0


class PinSet:
    """The names one user of the media store holds pinned (one token, one owner: this process)."""

    def __init__(self, db: Database) -> None:
        self.token = uuid.uuid4().hex
        self.owner = Owner.current()
        self._lock = threading.Lock()
        self._names: set[str] = set()
        self._release = weakref.finalize(self, db.when_free, functools.partial(_unpin_all, db, self.token))

    def add(self, conn: sqlite3.Connection, name: str) -> None:
        """Pin ``name`` inside the caller's write transaction (so no eviction runs in between)."""
        owner = self.owner
        conn.execute(
            "INSERT OR REPLACE INTO pins (name, token, host, boot_id, pid, pid_started, pinned_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, self.token, owner.host, owner.boot_id, owner.pid, owner.started, time.time()),
        )
        with self._lock:
            self._names.add(name)

    def restore(self, conn: sqlite3.Connection) -> None:
        """Pin again every name this set holds (the database file was replaced: its pins are gone)."""
        with self._lock:
            names = sorted(self._names)
        for name in names:
            self.add(conn, name)

    def release(self) -> None:
        """Give every pin of this set up (idempotent)."""
        with self._lock:
            self._names.clear()
        self._release()


def _unpin_all(db: Database, token: str) -> None:
    try:
        with db.write() as conn:
            conn.execute("DELETE FROM pins WHERE token = ?", (token,))
    except Exception:  # noqa: BLE001 - at exit or with the database gone: the owner's death frees them anyway
        pass


def live_pinned_names(conn: sqlite3.Connection) -> set[str]:
    """Names pinned by a live owner; pins of dead owners are deleted (call inside a write transaction)."""
    now = time.time()
    live: set[str] = set()
    dead: set[str] = set()
    for row in conn.execute("SELECT * FROM pins"):
        owner = Owner(host=row["host"], boot_id=row["boot_id"], pid=row["pid"], started=row["pid_started"])
        if owner.is_alive(row["pinned_at"], now, stale_after_s=OTHER_HOST_PIN_S):
            live.add(row["name"])
        else:
            dead.add(row["token"])
    conn.executemany("DELETE FROM pins WHERE token = ?", [(token,) for token in dead])
    return live
