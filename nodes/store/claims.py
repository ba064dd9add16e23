"""In-flight claims: at most one live run per request key, across threads and processes.

A run claims its request key before it uploads anything and releases it when it ends. The claim is one
row per key in the pack's SQLite file (primary key = request key, so taking it is atomic) naming its
owner: host, boot id, process id and the process's start time. Another run of the same key sees the
claim and waits for the owner instead of paying again. A claim whose owner is dead (process gone, its
pid reused by another program, the machine rebooted) is taken over at once. A claim from another host
(a data directory on a shared disk) cannot be checked that way; its owner refreshes a heartbeat, and it
counts as dead once the heartbeat is ``STALE_AFTER_S`` old.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .db import Database

HEARTBEAT_S = 20.0
STALE_AFTER_S = 90.0
SILENT_AFTER_S = 3 * HEARTBEAT_S  # a live owner whose heartbeat is this old is stuck (suspended, hung)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process from /proc; None if it does not exist."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name may contain spaces and parentheses
    return (fields[0], fields[19]) if len(fields) > 19 else None


@cache
def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class Owner:
    """The process that holds a claim."""

    host: str
    boot_id: str
    pid: int
    started: str  # start time as the OS reports it ("" where unknown)

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        stat = _proc_stat(pid)
        return cls(host=socket.gethostname(), boot_id=_boot_id(), pid=pid, started=stat[1] if stat else "")

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"

    def is_suspended(self) -> bool:
        """Whether the owner (on this host) is stopped: Ctrl-Z, SIGSTOP, a debugger."""
        if self.host != socket.gethostname():
            return False
        stat = _proc_stat(self.pid)
        return stat is not None and stat[0] in ("T", "t") and (not self.started or stat[1] == self.started)

    def is_alive(
        self, heartbeat_at: float, now: float | None = None, *, stale_after_s: float = STALE_AFTER_S
    ) -> bool:
        """Whether the owning process still runs (see the module docstring for the rules)."""
        me = Owner.current()
        if self.host != me.host:
            return (time.time() if now is None else now) - heartbeat_at < stale_after_s
        if self.boot_id and me.boot_id and self.boot_id != me.boot_id:
            return False  # the machine rebooted since
        if self.pid == me.pid:
            return True
        if os.path.isdir("/proc"):
            stat = _proc_stat(self.pid)
            return (
                stat is not None
                and stat[0] not in ("Z", "X")
                and (not self.started or stat[1] == self.started)
            )
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


@dataclass(frozen=True)
class Claim:
    """A claim this run holds. ``taken_from`` is the dead owner it was taken over from, if any."""

    request_key: str
    token: str
    taken_from: Owner | None = None


@dataclass(frozen=True)
class Holder:
    """Somebody else's live claim on a request key."""

    request_key: str
    token: str
    owner: Owner
    claimed_at: float
    heartbeat_at: float = 0.0

    def silence(self, now: float | None = None) -> str | None:
        """Why the live holder makes no progress, if it is stuck: suspended, or no heartbeat for a while."""
        if self.owner.is_suspended():
            return "is suspended (Ctrl-Z or SIGSTOP)"
        quiet = (time.time() if now is None else now) - self.heartbeat_at
        return f"has not reported for {quiet:.0f} s" if quiet > SILENT_AFTER_S else None


class Claims:
    """The claims table in the pack's SQLite file (default ``data_dir()/fal-avatar.sqlite3``)."""

    def __init__(self, path: Path | None = None) -> None:
        self._db = Database(path)

    @property
    def path(self) -> Path:
        return self._db.path

    def acquire(self, request_key: str) -> Claim | Holder:
        """Take the claim (free, or held by a dead owner), or report the live holder."""
        token = uuid.uuid4().hex
        # Registered before its row can be seen: another thread of this process reading the row meanwhile must
        # not take it for a claim this process lost (and take it over: two runs of one key, paying twice).
        _HEARTBEAT.add(self._db, token)
        got: Claim | Holder | None = None
        try:
            got = self._take(request_key, token)
        finally:
            if not isinstance(got, Claim):
                _HEARTBEAT.discard(self._db, token)
        return got

    def _take(self, request_key: str, token: str) -> Claim | Holder:
        owner, now = Owner.current(), time.time()
        values = (token, owner.host, owner.boot_id, owner.pid, owner.started, now, now)
        with self._db.write() as conn:
            row = conn.execute("SELECT * FROM claims WHERE request_key = ?", (request_key,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO claims (token, host, boot_id, pid, pid_started, claimed_at, heartbeat_at,"
                    " request_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, request_key),
                )
                claim = Claim(request_key, token)
            else:
                holder = _holder(row)
                mine_and_lost = holder.owner == owner and not _HEARTBEAT.holds(self._db, holder.token)
                if holder.owner.is_alive(row["heartbeat_at"], now) and not mine_and_lost:
                    return holder
                conn.execute(
                    "UPDATE claims SET token = ?, host = ?, boot_id = ?, pid = ?, pid_started = ?, "
                    "claimed_at = ?, heartbeat_at = ? WHERE request_key = ?",
                    (*values, request_key),
                )
                claim = Claim(request_key, token, taken_from=holder.owner)
        return claim

    def release(self, claim: Claim) -> None:
        """Give the claim up (a no-op if it was taken over meanwhile)."""
        _HEARTBEAT.discard(self._db, claim.token)
        with self._db.write() as conn:
            conn.execute(
                "DELETE FROM claims WHERE request_key = ? AND token = ?", (claim.request_key, claim.token)
            )

    def holder(self, request_key: str) -> Holder | None:
        """The current holder of ``request_key`` (alive or not), or None."""
        with self._db.read() as conn:
            row = conn.execute("SELECT * FROM claims WHERE request_key = ?", (request_key,)).fetchone()
        return _holder(row) if row is not None else None


def _holder(row: sqlite3.Row) -> Holder:
    owner = Owner(host=row["host"], boot_id=row["boot_id"], pid=row["pid"], started=row["pid_started"])
    return Holder(
        request_key=row["request_key"],
        token=row["token"],
        owner=owner,
        claimed_at=row["claimed_at"],
        heartbeat_at=row["heartbeat_at"],
    )


class _Heartbeat:
    """One daemon thread per process refreshing the heartbeat of every claim the process holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[Path, tuple[Database, set[str]]] = {}
        self._thread: threading.Thread | None = None

    def add(self, db: Database, token: str) -> None:
        with self._lock:
            self._tokens.setdefault(db.path, (db, set()))[1].add(token)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="fal-avatar-claims", daemon=True)
                self._thread.start()

    def holds(self, db: Database, token: str) -> bool:
        """Whether this process still holds ``token`` (a claim of this process it no longer holds was
        lost, e.g. its holder was cancelled while taking it: it is free)."""
        with self._lock:
            entry = self._tokens.get(db.path)
            return entry is not None and token in entry[1]

    def discard(self, db: Database, token: str) -> None:
        with self._lock:
            entry = self._tokens.get(db.path)
            if entry is not None:
                entry[1].discard(token)
                if not entry[1]:
                    del self._tokens[db.path]

    def _run(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            with self._lock:
                work = [(db, sorted(tokens)) for db, tokens in self._tokens.values()]
                if not work:
                    self._thread = None
                    return
            for db, tokens in work:
                try:
                    with db.write() as conn:
                        conn.executemany(
                            "UPDATE claims SET heartbeat_at = ? WHERE token = ?",
                            [(time.time(), t) for t in tokens],
                        )
                except (
                    Exception
                ):  # a busy or vanished database must not kill the thread; the next beat retries
                    continue


_HEARTBEAT = _Heartbeat()
