"""The pack's one SQLite file: private, WAL, short transactions, versioned schema.

Every call opens its own connection and closes it again, so a connection never crosses a thread or a
fork, and two ComfyUI workers plus a CLI can share the file: WAL lets readers run beside the writer,
``busy_timeout`` makes a writer wait for another instead of failing, and every write starts with
``BEGIN IMMEDIATE`` (it takes the write lock up front, so it can never deadlock on a lock upgrade).
``synchronous=FULL`` makes each commit durable before the call returns; a crash at any instant leaves
the last committed state. The file and its ``-wal``/``-shm`` companions are created and kept 0600.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..datadir import FILE_MODE, data_dir, ensure_private_dir
from ..errors import ConfigError

DB_FILE_NAME = "fal-avatar.sqlite3"
BUSY_TIMEOUT_S = 30.0
# How long an error at opening is retried before the database is reported unusable (see _open_when_free).
IO_RETRY_S = 2.0
# Held while this process creates a database file: no connection of the process opens it meanwhile.
# Reentrant: a garbage-collected object's finalizer may write to the database from inside (pins.py).
_CREATING = threading.RLock()
# One open connection per database file and process at a time (reentrant: a thread may nest). Files deleted
# under two connections of one process mix: the second opens the first's `-shm` for a new file, truncates
# it, and SQLite reports I/O errors, a malformed image or a locking-protocol error, or the process dies of
# SIGBUS on the truncated mapping. Transactions are short, so serialising them costs little.
_IN_USE: dict[str, threading.RLock] = {}  # by absolute path
if hasattr(os, "register_at_fork"):  # POSIX only (Windows does not fork)
    os.register_at_fork(after_in_child=_IN_USE.clear)  # a forked child has no thread holding one
# Per thread: for each database file it has a connection open to, the work to run when that closes.
_DEFERRED = threading.local()


def _in_use(key: str) -> threading.RLock:
    """The lock of one database file (no lock taken: str keys make ``setdefault`` atomic)."""
    return _IN_USE.get(key) or _IN_USE.setdefault(key, threading.RLock())


# MIGRATIONS[n] takes the schema from version n to n + 1 (PRAGMA user_version). Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_key TEXT NOT NULL,
            endpoint_id TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('submitting', 'submitted', 'completed', 'downloaded', 'failed', 'cancelled')),
            request_id TEXT UNIQUE,
            status_url TEXT,
            response_url TEXT,
            cancel_url TEXT,
            cost_estimate_usd REAL,
            summary TEXT NOT NULL DEFAULT '{}',
            result TEXT,
            local_path TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            submitted_at REAL,
            updated_at REAL NOT NULL,
            CHECK (request_id IS NOT NULL OR state IN ('submitting', 'failed')),
            CHECK (state <> 'submitting' OR request_id IS NULL),
            CHECK ((request_id IS NULL) = (submitted_at IS NULL)),
            CHECK (state <> 'completed' OR result IS NOT NULL),
            CHECK (state <> 'downloaded' OR local_path IS NOT NULL),
            CHECK (state <> 'failed' OR error IS NOT NULL)
        )""",
        "CREATE INDEX journal_by_request_key ON journal (request_key, id)",
        """CREATE TABLE uploads (
            sha256 TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            size INTEGER NOT NULL CHECK (size >= 0),
            uploaded_at REAL NOT NULL
        )""",
        """CREATE TABLE media (
            name TEXT PRIMARY KEY,
            size INTEGER NOT NULL CHECK (size >= 0),
            last_used REAL NOT NULL
        )""",
    ),
    (
        # The exact arguments of a submit (upload URLs included), to find its job on fal when the
        # submit's answer was lost.
        "ALTER TABLE journal ADD COLUMN arguments TEXT",
        # One live run per request key, across processes (see claims.py).
        """CREATE TABLE claims (
            request_key TEXT PRIMARY KEY,
            token TEXT NOT NULL UNIQUE,
            host TEXT NOT NULL,
            boot_id TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_started TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            heartbeat_at REAL NOT NULL
        )""",
    ),
    (
        # Media files a run is using (see pins.py): eviction leaves them alone while their owner lives.
        """CREATE TABLE pins (
            name TEXT NOT NULL,
            token TEXT NOT NULL,
            host TEXT NOT NULL,
            boot_id TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_started TEXT NOT NULL,
            pinned_at REAL NOT NULL,
            PRIMARY KEY (name, token)
        )""",
        # A random id per file: a file deleted and created anew while the pack runs is told apart from the
        # old one (its inode number may well be reused).
        "CREATE TABLE file_identity (id TEXT NOT NULL)",
        "INSERT INTO file_identity (id) VALUES (lower(hex(randomblob(16))))",
    ),
    (
        # Who submitted a job, when not the run that uses it: 'queue-ahead' (a queued ComfyUI prompt's job,
        # started before ComfyUI reached the prompt) with that prompt's id. NULL for ordinary runs.
        "ALTER TABLE journal ADD COLUMN origin TEXT",
        "ALTER TABLE journal ADD COLUMN prompt_id TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_db_path() -> Path:
    return data_dir() / DB_FILE_NAME


def _make_private(path: Path) -> None:
    """chmod 0600 unless it already is (umask-independent); a vanished file is fine."""
    if os.name == "nt":
        return
    try:
        if path.stat().st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass


def _create_private(path: Path) -> None:
    """Create the file ourselves, if it is missing, so it is 0600 from its first instant (SQLite gives
    -wal/-shm the main file's mode).

    Never open and close an existing database file next to SQLite: closing any descriptor of a file drops
    every POSIX lock the process holds on it, those of its open connections included. Another process could
    then take the database for unused and checkpoint and delete the WAL under them (https://www.sqlite.org/
    howtocorrupt.html, section 2.2). So the file is only ever created here (``O_EXCL``), and under a lock
    that every opening in this process passes first, so no connection of this process can hold it yet.
    """
    with _CREATING:
        if path.exists():
            return
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:  # another process created it meanwhile
            pass


class Database:
    """One SQLite file. Use ``read()`` for queries and ``write()`` for a short write transaction."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._key = str(self.path.absolute())
        self._file_id: str | None = None  # the file_identity of the file last opened
        # How often the file was found replaced (deleted, moved away) since this object first opened it; its
        # users re-write what they hold in memory when it changes (see Journal).
        self.epoch = 0

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every SELECT in the body sees one committed state, the latest at its start."""
        with self._connection("BEGIN") as conn:
            yield conn
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception). Keep the body short."""
        with self._connection("BEGIN IMMEDIATE") as conn:
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.execute("COMMIT")

    def when_free(self, work: Callable[[], None]) -> None:
        """Run ``work`` (which opens a connection, and must not raise) now, or when this thread's open
        connection to the file closes: a finalizer that the garbage collector runs in the middle of a write
        transaction would otherwise wait ``BUSY_TIMEOUT_S`` for the lock its own thread holds."""
        pending = _DEFERRED.__dict__.get(self._key)
        if pending is None:
            work()
        else:
            pending.append(work)

    @contextmanager
    def _connection(self, begin: str) -> Iterator[sqlite3.Connection]:
        """A connection inside a transaction begun with ``begin``, that has read the file once: from here on
        it keeps the files it opened, so deleting them does not fail the body (see ``_open_when_free``)."""
        deferred = _DEFERRED.__dict__
        outermost = self._key not in deferred
        if outermost:
            deferred[self._key] = []
        try:
            with self._transaction(begin) as conn:
                yield conn
        finally:
            if outermost:
                for work in deferred.pop(self._key):
                    work()

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with _in_use(self._key):
            try:
                conn = self._open_when_free(begin)
            except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
                raise
            except sqlite3.DatabaseError as exc:
                raise self._unusable(exc) from None
            try:
                yield conn
            except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
                raise
            except sqlite3.DatabaseError as exc:
                raise self._unusable(exc) from None
            finally:
                conn.close()

    def _open_when_free(self, begin: str) -> sqlite3.Connection:
        """Open and begin, retrying while another process holds a lock SQLite does not wait for by itself (a
        WAL file being checkpointed away by the last connection of another process, WAL recovery), and while
        the files are being deleted under the opening: a connection that opened the old file and then meets
        the new ``-wal``/``-shm`` reads "disk I/O error" (a short read, a failed fstat), a malformed image or
        "not a database". An error that lasts is reported after ``IO_RETRY_S``."""
        start = time.monotonic()
        delay = 0.005
        while True:
            try:
                return self._open(begin)
            except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
                raise
            except sqlite3.DatabaseError as exc:
                text = str(exc)
                waited = time.monotonic() - start
                busy = ("locked" in text or "busy" in text) and waited < BUSY_TIMEOUT_S
                if not busy and waited >= IO_RETRY_S:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _open(self, begin: str) -> sqlite3.Connection:
        if not self.path.parent.is_dir():
            ensure_private_dir(self.path.parent)
        _create_private(self.path)
        _make_private(self.path)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            self._migrate(conn)
            conn.execute(begin)
            self._check_identity(conn)
            for suffix in ("-wal", "-shm"):
                _make_private(self.path.with_name(self.path.name + suffix))
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_identity(self, conn: sqlite3.Connection) -> None:
        """A file deleted or replaced while the pack runs (a user cleaning up) is a new database, its schema
        created again by ``_migrate``; ``epoch`` tells this object's users (whichever connection of any
        process recreated it)."""
        file_id = conn.execute("SELECT id FROM file_identity").fetchone()[0]
        if self._file_id is not None and file_id != self._file_id:
            self.epoch += 1
        self._file_id = file_id

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the schema to ``SCHEMA_VERSION``; checked at every opening, as a file deleted under the
        running pack comes back new and empty."""
        if self._version(conn) == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")  # another process may be migrating: re-read under the lock
        try:
            version = self._version(conn)
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")

    def _version(self, conn: sqlite3.Connection) -> int:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"The fal-avatar database {self.path} was written by a newer version of comfyui-fal-avatar "
                f"(schema {version}, this version knows {SCHEMA_VERSION}). Update the node pack, or set "
                "FAL_AVATAR_HOME to another folder."
            )
        return version

    def _unusable(self, exc: sqlite3.DatabaseError) -> ConfigError:
        return ConfigError(
            f"The fal-avatar database {self.path} cannot be used ({exc}). Make sure its folder is writable "
            "and on a local disk, or set FAL_AVATAR_HOME to another folder. If the file is damaged, move it "
            "away and a new one is created (its job history is then lost)."
        )
