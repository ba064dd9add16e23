"""The SQLite file: WAL, schema version, private permissions whatever the umask, clear errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time

import pytest

from comfyui_fal_avatar.nodes.datadir import data_dir
from comfyui_fal_avatar.nodes.errors import ConfigError
from comfyui_fal_avatar.nodes.store import db as db_module
from comfyui_fal_avatar.nodes.store.db import MIGRATIONS, SCHEMA_VERSION, Database
from comfyui_fal_avatar.nodes.store.journal import QUEUE_AHEAD, Journal
from comfyui_fal_avatar.nodes.store.media_store import MediaStore
from comfyui_fal_avatar.nodes.store.upload_cache import UploadCache

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o000, 0o277], ids=["umask-000", "umask-277"])
def odd_umask(request):
    """The most permissive umask, and one that would strip the owner's write bit: modes are set explicitly."""
    old = os.umask(request.param)
    yield
    os.umask(old)


def test_schema_version_and_wal():
    with Database().read() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"journal", "uploads", "media"} <= tables


def test_an_older_schema_is_migrated_in_place():
    path = data_dir() / "fal-avatar.sqlite3"
    sqlite3.connect(path).close()  # an empty version-0 database
    Journal().begin("k" * 64, "fal-ai/infinitalk")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_version_2_journal_gains_origin_and_prompt_id_and_keeps_its_rows():
    path = data_dir() / "fal-avatar.sqlite3"
    with sqlite3.connect(path) as conn:  # the schema as version 2 left it, with one job
        for statements in MIGRATIONS[:2]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO journal (request_key, endpoint_id, state, request_id, status_url, response_url,"
            " cancel_url, created_at, submitted_at, updated_at) VALUES ('k', 'fal-ai/infinitalk',"
            " 'submitted', 'req-1', 's', 'r', 'c', 1, 1, 1)"
        )
    journal = Journal()
    (old,) = journal.entries()
    assert (old.request_id, old.origin, old.prompt_id) == ("req-1", None, None)
    row = journal.begin("k2", "fal-ai/infinitalk", origin=QUEUE_AHEAD, prompt_id="p-9")
    (new,) = [e for e in journal.of_prompt("p-9")]
    assert (new.row_id, new.origin) == (row, QUEUE_AHEAD)


def test_a_newer_schema_is_refused_with_advice():
    path = data_dir() / "fal-avatar.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer version of comfyui-fal-avatar.*Update the node pack"):
        Journal().entries()


def test_a_damaged_file_is_reported_with_advice(monkeypatch):
    monkeypatch.setattr(db_module, "IO_RETRY_S", 0.05)  # a damaged file is retried as if being replaced
    (data_dir() / "fal-avatar.sqlite3").write_bytes(b"this is not a database, just garbage" * 100)
    with pytest.raises(ConfigError, match="move it\\s+away"):
        Journal().entries()


def test_write_rolls_back_on_error():
    db = Database()
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute("INSERT INTO uploads VALUES ('x', 'u', 1, 0)")
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM uploads").fetchone()[0] == 0


def test_a_missing_parent_folder_is_created_private(tmp_path, odd_umask):
    path = tmp_path / "new" / "db.sqlite3"
    Journal(path).entries()
    assert mode(path.parent) == 0o700 and mode(path) == 0o600


def test_every_file_is_private_whatever_the_umask(tmp_path, odd_umask):
    home = data_dir()
    os.chmod(home, 0o755)  # data_dir() makes it private again
    Journal().begin("k" * 64, "fal-ai/infinitalk")
    UploadCache().put("ab" * 32, "https://x", 1)
    src = tmp_path / "dl.mp4"
    src.write_bytes(b"video")
    os.chmod(src, 0o666)
    video = MediaStore(cap_bytes=10_000).put("r.mp4", src)

    db = home / "fal-avatar.sqlite3"
    with Database().read() as conn:  # -wal and -shm exist while a connection is open
        conn.execute("SELECT count(*) FROM journal").fetchone()
        companions = [home / "fal-avatar.sqlite3-wal", home / "fal-avatar.sqlite3-shm"]
        assert all(p.exists() for p in companions)
        assert {p.name: mode(p) for p in [db, *companions]} == {p.name: 0o600 for p in [db, *companions]}
    assert mode(home) == 0o700
    assert mode(home / "media") == 0o700 and mode(video) == 0o600


def test_a_too_open_database_file_is_made_private():
    db = data_dir() / "fal-avatar.sqlite3"
    Journal().entries()
    os.chmod(db, 0o644)
    Journal().entries()
    assert mode(db) == 0o600


def test_open_retries_while_another_process_holds_a_lock_sqlite_does_not_wait_for(monkeypatch, tmp_path):
    database = Database(tmp_path / "x.sqlite3")
    real_open, calls = database._open, []

    def flaky_open(begin):
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return real_open(begin)

    monkeypatch.setattr(database, "_open", flaky_open)
    with database.read() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    assert len(calls) == 3

    calls.clear()

    def broken_open(begin):
        calls.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(db_module, "IO_RETRY_S", 0.05)
    monkeypatch.setattr(database, "_open", broken_open)
    with pytest.raises(ConfigError, match="disk I/O error"):
        with database.read():
            pass
    assert len(calls) > 1  # retried as the files may be changing, then reported


def test_threads_keep_writing_while_the_database_files_are_deleted_again_and_again(tmp_path):
    """A connection that opened the old file and then met the new `-wal`/`-shm` read "disk I/O error" (a short
    read, a failed fstat) and failed its segment as "database cannot be used" (seen in CI, one run in many).
    The connections of one process now take turns and the opening is retried, so no call fails however often
    the files are deleted."""
    path = tmp_path / "x.sqlite3"
    deadline = time.monotonic() + 1.5
    errors: list[BaseException] = []
    deletions = [0]

    def writer(n: int) -> None:
        journal = Journal(path)
        while time.monotonic() < deadline:
            try:
                journal.begin(f"key-{n}-{time.monotonic_ns()}", "fal-ai/x")
                journal.entries()
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(exc)

    def deleter() -> None:
        while time.monotonic() < deadline:
            time.sleep(0.02)
            for file in tmp_path.glob("x.sqlite3*"):
                file.unlink(missing_ok=True)
            deletions[0] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)] + [
        threading.Thread(target=deleter)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert deletions[0] >= 10
    assert errors == [], f"{len(errors)} failed calls, first: {errors[0]!r}"


def test_a_database_file_deleted_while_in_use_is_recreated_with_its_schema(tmp_path):
    """Deleting `fal-avatar.sqlite3*` under a running pack used to fail every later call (`no such table`)."""
    db = Database(tmp_path / "x.sqlite3")
    with db.write() as conn:
        conn.execute("INSERT INTO uploads (sha256, url, size, uploaded_at) VALUES ('a', 'u', 1, 0)")
    for path in tmp_path.glob("x.sqlite3*"):
        path.unlink()
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM claims").fetchone()[0] == 0
    assert db.epoch == 1


def test_the_store_imports_where_os_cannot_fork():
    """Windows has no ``os.register_at_fork``: the per-file locks' fork hook is POSIX only."""
    import subprocess
    import sys

    code = "import os; del os.register_at_fork; import comfyui_fal_avatar.nodes.store.db"
    subprocess.run([sys.executable, "-c", code], check=True)
