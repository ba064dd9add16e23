"""The request journal: every paid fal request, written down before it is submitted.

A node begins an entry right before submit (``submitting``), records fal's handle right after it
(``submitted``), then marks the outcome. A re-queued or restarted node asks :meth:`Journal.find_reusable`
first and re-attaches to a submitted job, re-fetches a completed result or reuses the downloaded file
instead of paying again.

States and the moves allowed between them (anything else is ignored, so a late or repeated mark can
never move an entry backwards)::

    submitting ──record_submit──▶ submitted ──▶ completed ──▶ downloaded
     │     │                          │  │            │
     │     └─fail_submitting─▶ failed ◀──┼────────────┘
     forget_submitting                   └─▶ cancelled
     (row deleted)

(``submitted`` may also go straight to ``downloaded``.) ``fail_submitting`` is for a submit whose outcome
is unknown: the entry keeps the record that a job may exist but is no longer reused; should that submit
still return a request id, ``record_submit`` makes it ``submitted`` after all (the job is real and paid).
``adopt`` journals a request submitted elsewhere (recovered by its id) as ``submitted``.

A database file deleted while a run is under way (a user cleaning up) does not lose the run's jobs: the
journal remembers every entry it wrote or reused, and writes them again into the new, empty file as soon
as it notices the file was replaced (see ``Database.epoch``).

``downloaded``, ``failed`` and ``cancelled`` are final. Marking an entry with the state it already
has updates its data (a new result, a new local path after a re-download, a newer error text).
Nothing here ever writes the fal key: texts are scrubbed of it and argument summaries drop
secret-named fields.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..states import JobState
from .db import Database
from .redact import no_secrets, scrub, summarize

SUBMITTING, SUBMITTED, COMPLETED = JobState.SUBMITTING, JobState.SUBMITTED, JobState.COMPLETED
DOWNLOADED, FAILED, CANCELLED = JobState.DOWNLOADED, JobState.FAILED, JobState.CANCELLED

STATES = (SUBMITTING, SUBMITTED, COMPLETED, DOWNLOADED, FAILED, CANCELLED)
REUSABLE_STATES = (SUBMITTING, SUBMITTED, COMPLETED, DOWNLOADED)
# TRANSITIONS[current] = the states a mark_* call may move an entry to (same state = refresh its data).
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    SUBMITTING: frozenset({SUBMITTED, FAILED}),
    SUBMITTED: frozenset({SUBMITTED, COMPLETED, DOWNLOADED, FAILED, CANCELLED}),
    COMPLETED: frozenset({COMPLETED, DOWNLOADED, FAILED}),
    DOWNLOADED: frozenset({DOWNLOADED}),
    FAILED: frozenset({FAILED}),
    CANCELLED: frozenset({CANCELLED}),
}
QUEUE_AHEAD = "queue-ahead"  # origin of a job started for a queued ComfyUI prompt before it ran
ADOPTED_KEY_PREFIX = "adopted:"  # request key of adopted entries (never a sha256, so never found reusable)
_HANDLE_FIELDS = ("request_id", "status_url", "response_url", "cancel_url")


@dataclasses.dataclass(frozen=True)
class JournalEntry:
    """One journal row. ``local_path`` is where the result was saved; use :meth:`local_file`."""

    row_id: int
    request_key: str
    endpoint_id: str
    state: JobState
    request_id: str | None
    status_url: str | None
    response_url: str | None
    cancel_url: str | None
    cost_estimate_usd: float | None
    summary: dict[str, Any]
    arguments: dict[str, Any] | None  # exactly what was submitted (upload URLs included); None before v2
    result: dict[str, Any] | None
    local_path: Path | None
    error: str | None
    created_at: float
    submitted_at: float | None
    updated_at: float
    origin: str | None = None  # QUEUE_AHEAD: started for a queued ComfyUI prompt; None: by the run itself
    prompt_id: str | None = None  # that prompt's id

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the entry was begun."""
        return (time.time() if now is None else now) - self.created_at

    def local_file(self) -> Path | None:
        """The downloaded file if it still exists (``None`` once evicted or deleted: download again)."""
        return self.local_path if self.local_path is not None and self.local_path.is_file() else None

    @property
    def handle(self) -> dict[str, str] | None:
        """fal's queue handle as a dict for ``QueueHandle.from_dict`` (``None`` before submit)."""
        if self.request_id is None:
            return None
        return {
            "endpoint_id": self.endpoint_id,
            "request_id": self.request_id,
            "status_url": self.status_url or "",
            "response_url": self.response_url or "",
            "cancel_url": self.cancel_url or "",
        }

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON-safe values (``fal-avatar jobs --json``)."""
        data = dataclasses.asdict(self)
        data["local_path"] = str(self.local_path) if self.local_path is not None else None
        return data

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JournalEntry:
        return cls(
            row_id=row["id"],
            request_key=row["request_key"],
            endpoint_id=row["endpoint_id"],
            state=JobState(row["state"]),
            request_id=row["request_id"],
            status_url=row["status_url"],
            response_url=row["response_url"],
            cancel_url=row["cancel_url"],
            cost_estimate_usd=row["cost_estimate_usd"],
            summary=json.loads(row["summary"]),
            arguments=json.loads(row["arguments"]) if row["arguments"] is not None else None,
            result=json.loads(row["result"]) if row["result"] is not None else None,
            local_path=Path(row["local_path"]) if row["local_path"] is not None else None,
            error=row["error"],
            created_at=row["created_at"],
            submitted_at=row["submitted_at"],
            updated_at=row["updated_at"],
            origin=row["origin"],
            prompt_id=row["prompt_id"],
        )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _entry(conn: sqlite3.Connection, row_id: int) -> JournalEntry:
    return JournalEntry.from_row(conn.execute("SELECT * FROM journal WHERE id = ?", (row_id,)).fetchone())


_COLUMNS = (
    "request_key",
    "endpoint_id",
    "state",
    "request_id",
    "status_url",
    "response_url",
    "cancel_url",
    "cost_estimate_usd",
    "summary",
    "arguments",
    "result",
    "local_path",
    "error",
    "created_at",
    "submitted_at",
    "updated_at",
)


def _insert(conn: sqlite3.Connection, entry: JournalEntry) -> int:
    """Write ``entry`` again (a new row id; an entry of a request id already there is kept as it is)."""
    if entry.request_id is not None:
        row = conn.execute("SELECT id FROM journal WHERE request_id = ?", (entry.request_id,)).fetchone()
        if row is not None:
            return int(row["id"])
    values = {
        **{name: getattr(entry, name) for name in _COLUMNS},
        "summary": _json(entry.summary),
        "arguments": _json(entry.arguments) if entry.arguments is not None else None,
        "result": _json(entry.result) if entry.result is not None else None,
        "local_path": str(entry.local_path) if entry.local_path is not None else None,
    }
    cursor = conn.execute(
        f"INSERT INTO journal ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        tuple(values[name] for name in _COLUMNS),
    )
    return int(cursor.lastrowid)


def _handle_fields(handle: Any) -> dict[str, str]:
    data = handle if isinstance(handle, Mapping) else handle.to_dict()
    missing = [name for name in _HANDLE_FIELDS if not data.get(name)]
    if missing:
        raise ValueError(f"queue handle lacks {', '.join(missing)}")
    return {name: str(data[name]) for name in _HANDLE_FIELDS}


class Journal:
    """The request journal in the pack's SQLite file (default ``data_dir()/fal-avatar.sqlite3``)."""

    def __init__(
        self, path: Path | None = None, *, secrets: Callable[[], tuple[str, ...]] = no_secrets
    ) -> None:
        """``secrets`` returns the strings never to write (the fal key: ``credentials.known_secrets``); it is
        asked at each write, so a key saved while the process runs is scrubbed too."""
        self._db = Database(path)
        self._secrets = secrets
        # Every entry this journal wrote or reused, by the row id its callers know, and that row's id in the
        # current database file: written again should the file be replaced (see the module docstring).
        self._lock = threading.Lock()
        self._known: dict[int, JournalEntry] = {}
        self._row_ids: dict[int, int] = {}
        self._epoch = 0

    @property
    def path(self) -> Path:
        return self._db.path

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._db.write() as conn:
            self._restore(conn)
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._db.read() as conn:
            if self._db.epoch == self._epoch:
                yield conn
                return
        with self._write() as conn:  # the file was replaced: journal the known entries again, then read
            yield conn

    def _restore(self, conn: sqlite3.Connection) -> None:
        """In a write transaction: if the database file was replaced, journal every known entry again."""
        with self._lock:
            if self._db.epoch == self._epoch:
                return
            for known_id, entry in self._known.items():
                self._row_ids[known_id] = _insert(conn, entry)
            self._epoch = self._db.epoch

    def _remember(self, known_id: int, entry: JournalEntry) -> JournalEntry:
        with self._lock:
            self._known[known_id] = entry
            self._row_ids[known_id] = entry.row_id
        return entry

    def _row_id(self, known_id: int) -> int:
        with self._lock:
            return self._row_ids.get(known_id, known_id)

    def _known_id(self, request_id: str) -> int | None:
        with self._lock:
            return next((k for k, e in self._known.items() if e.request_id == request_id), None)

    def _reinsert(self, conn: sqlite3.Connection, known_id: int | None) -> sqlite3.Row | None:
        """The row of a known entry that is missing from the file (written again), or None if unknown."""
        with self._lock:
            entry = self._known.get(known_id) if known_id is not None else None
            if entry is None:
                return None
            self._row_ids[known_id] = row_id = _insert(conn, entry)
        return conn.execute("SELECT * FROM journal WHERE id = ?", (row_id,)).fetchone()

    def begin(
        self,
        request_key: str,
        endpoint_id: str,
        *,
        cost_estimate_usd: float | None = None,
        summary: Mapping[str, Any] | None = None,
        arguments: Mapping[str, Any] | None = None,
        origin: str | None = None,
        prompt_id: str | None = None,
    ) -> int:
        """Write a ``submitting`` entry right before submit; returns its row id. ``arguments`` are the exact
        submit arguments (kept so the job can be looked up on fal if the submit's answer is lost);
        ``origin``/``prompt_id`` say who started it when not the run that uses it (``QUEUE_AHEAD``)."""
        if not request_key or not endpoint_id:
            raise ValueError("request_key and endpoint_id are required")
        secrets = self._secrets()
        text = _json(summarize(summary or {}, secrets))
        sent = _json(scrub(dict(arguments), secrets)) if arguments is not None else None
        now = time.time()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO journal (request_key, endpoint_id, state, cost_estimate_usd, summary, arguments,"
                " origin, prompt_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request_key,
                    endpoint_id,
                    SUBMITTING,
                    cost_estimate_usd,
                    text,
                    sent,
                    origin,
                    prompt_id,
                    now,
                    now,
                ),
            )
            row_id = int(cursor.lastrowid)
            self._remember(row_id, _entry(conn, row_id))
            return row_id

    def record_submit(self, row_id: int, handle: Any) -> JournalEntry:
        """Fill in fal's handle (a ``QueueHandle`` or a dict with request_id and the three URLs).

        Also accepted on an entry that ``fail_submitting`` gave up on meanwhile (a slow submit that did
        create a job): the job is real, so the entry becomes ``submitted`` again. Idempotent for the same
        request id; raises ``ValueError`` if the row is gone or already holds another request.
        """
        fields = _handle_fields(handle)
        now = time.time()
        with self._write() as conn:
            row = conn.execute("SELECT * FROM journal WHERE id = ?", (self._row_id(row_id),)).fetchone()
            row = row or self._reinsert(conn, row_id)
            if row is None:
                raise ValueError(f"journal row {row_id} does not exist")
            if row["request_id"] == fields["request_id"]:
                return self._remember(row_id, JournalEntry.from_row(row))
            if row["request_id"] is not None:
                raise ValueError(f"journal row {row_id} already holds request {row['request_id']}")
            conn.execute(
                "UPDATE journal SET state = ?, request_id = ?, status_url = ?, response_url = ?,"
                " cancel_url = ?, submitted_at = ?, updated_at = ?, error = NULL WHERE id = ?",
                (SUBMITTED, *(fields[name] for name in _HANDLE_FIELDS), now, now, row["id"]),
            )
            return self._remember(row_id, _entry(conn, row["id"]))

    def adopt(self, endpoint_id: str, handle: Any) -> JournalEntry:
        """Journal a request submitted elsewhere (recovered by id) as ``submitted``; keep a known id as is."""
        fields = _handle_fields(handle)
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO journal (request_key, endpoint_id, state, request_id, status_url, response_url,"
                " cancel_url, created_at, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (request_id) DO NOTHING",
                (
                    f"{ADOPTED_KEY_PREFIX}{fields['request_id']}",
                    endpoint_id,
                    SUBMITTED,
                    *(fields[name] for name in _HANDLE_FIELDS),
                    now,
                    now,
                    now,
                ),
            )
            row = conn.execute(
                "SELECT id FROM journal WHERE request_id = ?", (fields["request_id"],)
            ).fetchone()
            return self._remember(row["id"], _entry(conn, row["id"]))

    def fail_submitting(self, row_id: int, error: str) -> bool:
        """Mark a ``submitting`` entry failed: the submit's outcome is unknown (it may have created a job),
        so keep the record but never reuse it. Returns whether the entry was still submitting."""
        with self._write() as conn:
            row = conn.execute("SELECT id FROM journal WHERE id = ?", (self._row_id(row_id),)).fetchone()
            row = row or self._reinsert(conn, row_id)
            if row is None:
                return False
            cursor = conn.execute(
                "UPDATE journal SET state = ?, error = ?, updated_at = ? WHERE id = ? AND state = ?",
                (FAILED, scrub(str(error), self._secrets()), time.time(), row["id"], SUBMITTING),
            )
            if cursor.rowcount > 0:
                self._remember(row_id, _entry(conn, row["id"]))
            return cursor.rowcount > 0

    def forget_submitting(self, row_id: int) -> bool:
        """Delete a ``submitting`` entry (the submit provably created no job). Returns whether it did."""
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM journal WHERE id = ? AND state = ?", (self._row_id(row_id), SUBMITTING)
            )
            with self._lock:
                self._known.pop(row_id, None)
                self._row_ids.pop(row_id, None)
            return cursor.rowcount > 0

    def find_reusable(self, request_key: str) -> JournalEntry | None:
        """The newest entry for ``request_key`` that is submitting, submitted, completed or downloaded."""
        marks = ", ".join("?" * len(REUSABLE_STATES))
        with self._read() as conn:
            row = conn.execute(
                f"SELECT * FROM journal WHERE request_key = ? AND state IN ({marks}) "
                "ORDER BY id DESC LIMIT 1",
                (request_key, *REUSABLE_STATES),
            ).fetchone()
        if row is None:
            return None
        entry = JournalEntry.from_row(row)
        known_id = self._known_id(entry.request_id) if entry.request_id else None
        return self._remember(entry.row_id if known_id is None else known_id, entry)

    def latest(self, request_key: str) -> JournalEntry | None:
        """The newest entry for ``request_key`` in any state (to explain why a run submits anew)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM journal WHERE request_key = ? ORDER BY id DESC LIMIT 1", (request_key,)
            ).fetchone()
        return JournalEntry.from_row(row) if row is not None else None

    def get(self, request_id: str) -> JournalEntry | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM journal WHERE request_id = ?", (request_id,)).fetchone()
        return JournalEntry.from_row(row) if row is not None else None

    def of_prompt(self, prompt_id: str) -> list[JournalEntry]:
        """The entries of jobs started for this (queued ComfyUI) prompt, newest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM journal WHERE prompt_id = ? ORDER BY id DESC", (prompt_id,)
            ).fetchall()
        return [JournalEntry.from_row(row) for row in rows]

    def entries(self, limit: int | None = None) -> list[JournalEntry]:
        """Newest first (for ``fal-avatar jobs``)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM journal ORDER BY id DESC LIMIT ?", (-1 if limit is None else limit,)
            ).fetchall()
        return [JournalEntry.from_row(row) for row in rows]

    def mark_completed(self, request_id: str, result: Mapping[str, Any]) -> JournalEntry | None:
        return self._mark(request_id, COMPLETED, result=_json(scrub(result, self._secrets())))

    def mark_downloaded(self, request_id: str, local_path: str | os.PathLike[str]) -> JournalEntry | None:
        return self._mark(request_id, DOWNLOADED, local_path=os.path.abspath(local_path))

    def mark_failed(self, request_id: str, error: str) -> JournalEntry | None:
        return self._mark(request_id, FAILED, error=scrub(str(error), self._secrets()))

    def mark_cancelled(self, request_id: str) -> JournalEntry | None:
        return self._mark(request_id, CANCELLED)

    def _mark(self, request_id: str, state: str, **data: str) -> JournalEntry | None:
        """Move the entry to ``state`` if allowed. Returns the entry as it now is (``None``: unknown id)."""
        known_id = self._known_id(request_id)
        with self._write() as conn:
            row = conn.execute("SELECT * FROM journal WHERE request_id = ?", (request_id,)).fetchone()
            row = row or self._reinsert(conn, known_id)
            if row is None:
                return None
            if state not in TRANSITIONS[row["state"]]:
                return JournalEntry.from_row(row)
            columns = "".join(f", {name} = ?" for name in data)
            conn.execute(
                f"UPDATE journal SET state = ?, updated_at = ?{columns} WHERE id = ?",
                (state, time.time(), *data.values(), row["id"]),
            )
            entry = _entry(conn, row["id"])
            return self._remember(known_id, entry) if known_id is not None else entry
