"""Media store: atomic moves in, private files, LRU eviction under a cap, hand-deleted files tolerated."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from pathlib import Path

import pytest

from comfyui_fal_avatar.nodes.datadir import data_dir
from comfyui_fal_avatar.nodes.errors import LocalStorageError
from comfyui_fal_avatar.nodes.store import media_store
from comfyui_fal_avatar.nodes.store.journal import Journal
from comfyui_fal_avatar.nodes.store.media_store import STALE_TEMP_S, MediaStore


def src_file(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / "downloads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def stored(store: MediaStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir() if not p.name.startswith("."))


def rows() -> list[str]:
    with sqlite3.connect(data_dir() / "fal-avatar.sqlite3") as conn:
        return sorted(name for (name,) in conn.execute("SELECT name FROM media"))


def test_defaults_root_and_cap_from_settings(monkeypatch):
    monkeypatch.setenv("FAL_AVATAR_CACHE_GB", "0.5")
    store = MediaStore()
    assert store.root == data_dir() / "media"
    assert store.cap_bytes == 500_000_000
    monkeypatch.delenv("FAL_AVATAR_CACHE_GB")
    assert MediaStore().cap_bytes == 5_000_000_000
    assert MediaStore(cap_bytes=123).cap_bytes == 123


def test_put_moves_the_file_in_privately(tmp_path):
    store = MediaStore(cap_bytes=10_000)
    src = src_file(tmp_path, "dl.mp4", 100)
    data = src.read_bytes()
    path = store.put("req-1.mp4", src)
    assert path == store.root / "req-1.mp4" and path.read_bytes() == data
    assert not src.exists()
    assert path.stat().st_mode & 0o777 == 0o600
    assert store.root.stat().st_mode & 0o777 == 0o700
    assert store.get("req-1.mp4") == path
    assert [p.name for p in store.root.iterdir()] == ["req-1.mp4"]  # no temp file left


def test_put_replaces_an_older_file_of_the_same_name(tmp_path):
    store = MediaStore(cap_bytes=10_000)
    store.put("a.mp4", src_file(tmp_path, "1", 10))
    newer = src_file(tmp_path, "2", 20)
    data = newer.read_bytes()
    assert store.put("a.mp4", newer).read_bytes() == data


def test_put_across_filesystems_copies_then_deletes_the_source(tmp_path, monkeypatch):
    def no_cross_device_rename(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(media_store.os, "rename", no_cross_device_rename)
    store = MediaStore(cap_bytes=10_000)
    src = src_file(tmp_path, "dl.mp4", 3000)
    data = src.read_bytes()
    path = store.put("req-1.mp4", src)
    assert path.read_bytes() == data and not src.exists()
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_failed_put_hands_the_paid_file_back(tmp_path, monkeypatch):
    def broken_fsync(path):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(media_store, "_fsync", broken_fsync)
    store = MediaStore(cap_bytes=10_000)
    src = src_file(tmp_path, "dl.mp4", 100)
    data = src.read_bytes()
    with pytest.raises(LocalStorageError, match="input/output error") as caught:
        store.put("req-1.mp4", src)
    assert f"kept at {src}" in str(caught.value) and caught.value.errno == errno.EIO
    assert src.read_bytes() == data
    assert store.get("req-1.mp4") is None and stored(store) == []


def test_staging_path_is_inside_the_store_so_put_is_a_rename(tmp_path):
    store = MediaStore(cap_bytes=10_000)
    staging = store.staging_path("req-1.mp4")
    assert staging.parent == store.root and staging.name.startswith(".") and not staging.exists()
    staging.write_bytes(b"video")
    assert store.put("req-1.mp4", staging).read_bytes() == b"video"
    assert store.staging_path("req-1.mp4") != store.staging_path("req-1.mp4")


@pytest.mark.parametrize("name", ["", "../x.mp4", "a/b.mp4", ".hidden", "a b.mp4", "x" * 300])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="bad media name"):
        MediaStore().put(name, src_file(tmp_path, "dl", 1))


def test_get_unknown_or_deleted_by_hand(tmp_path):
    store = MediaStore(cap_bytes=10_000)
    assert store.get("nope.mp4") is None
    path = store.put("a.mp4", src_file(tmp_path, "a", 10))
    path.unlink()
    assert store.get("a.mp4") is None
    assert rows() == []


def test_lru_eviction_keeps_recently_used_files(tmp_path):
    store = MediaStore(cap_bytes=250)
    store.put("a.mp4", src_file(tmp_path, "a", 100))
    store.put("b.mp4", src_file(tmp_path, "b", 100))
    assert store.get("a.mp4") is not None  # a is now more recent than b
    store.put("c.mp4", src_file(tmp_path, "c", 100))  # 300 > 250: the least recently used goes
    assert stored(store) == ["a.mp4", "c.mp4"]
    assert rows() == ["a.mp4", "c.mp4"]
    assert store.get("b.mp4") is None


def test_never_evicts_the_file_just_put(tmp_path):
    store = MediaStore(cap_bytes=50)
    store.put("a.mp4", src_file(tmp_path, "a", 100))
    assert stored(store) == ["a.mp4"]
    store.put("b.mp4", src_file(tmp_path, "b", 100))
    assert stored(store) == ["b.mp4"]
    assert MediaStore(cap_bytes=0).evict(keep="b.mp4") == []
    assert MediaStore(cap_bytes=0).evict() == ["b.mp4"]
    assert stored(store) == [] and rows() == []


def test_evict_tolerates_files_deleted_or_added_by_hand(tmp_path):
    store = MediaStore(cap_bytes=10_000)
    store.put("a.mp4", src_file(tmp_path, "a", 100))
    store.put("b.mp4", src_file(tmp_path, "b", 100))
    (store.root / "a.mp4").unlink()
    hand = store.root / "copied-in.mp4"  # no database row: its mtime stands in for last use
    hand.write_bytes(b"x" * 100)
    os.utime(hand, (1, 1))
    assert MediaStore(cap_bytes=150).evict() == ["copied-in.mp4"]
    assert stored(store) == ["b.mp4"] and rows() == ["b.mp4"]


def test_evict_removes_stale_temp_files_only(tmp_path):
    store = MediaStore(cap_bytes=10_000)
    stale, fresh = store.staging_path("a.mp4"), store.staging_path("b.mp4")
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"downloading")
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    assert store.evict() == []
    assert not stale.exists() and fresh.exists()


def test_an_evicted_file_is_missing_for_the_journal(tmp_path):
    journal, store = Journal(), MediaStore(cap_bytes=150)
    row_id = journal.begin("k" * 64, "fal-ai/infinitalk")
    journal.record_submit(
        row_id, {"request_id": "r1", "status_url": "s", "response_url": "r", "cancel_url": "c"}
    )
    journal.mark_downloaded("r1", store.put("r1.mp4", src_file(tmp_path, "a", 100)))
    assert journal.get("r1").local_file() == store.root / "r1.mp4"
    store.put("r2.mp4", src_file(tmp_path, "b", 100))
    entry = journal.find_reusable("k" * 64)
    assert entry.state == "downloaded" and entry.local_file() is None  # the caller downloads it again


def test_pinned_files_are_never_evicted_while_their_run_lasts(tmp_path):
    """A run's view pins what it puts and gets; with a cap of 0 nothing of it goes until it is released."""
    run = MediaStore(cap_bytes=0).pinning()
    run.put("seg1.mp4", src_file(tmp_path, "s1", 100))
    run.put("seg2.mp4", src_file(tmp_path, "s2", 100))  # the cap used to evict seg1 here
    other = MediaStore(cap_bytes=0)
    other.put("x.mp4", src_file(tmp_path, "x", 100))  # another run's put evicts only what is not in use
    assert stored(run) == ["seg1.mp4", "seg2.mp4", "x.mp4"]
    assert other.evict() == ["x.mp4"]
    run.release()
    assert sorted(other.evict()) == ["seg1.mp4", "seg2.mp4"]


def test_a_get_pins_the_file_and_a_dropped_view_unpins(tmp_path):
    MediaStore(cap_bytes=10_000).put("old.mp4", src_file(tmp_path, "o", 100))
    run = MediaStore(cap_bytes=0).pinning()
    assert run.get("old.mp4") is not None
    assert MediaStore(cap_bytes=0).evict() == []
    del run  # garbage-collected: its pins go with it
    assert MediaStore(cap_bytes=0).evict() == ["old.mp4"]


def test_a_view_collected_inside_a_write_transaction_unpins_when_it_ends(tmp_path, monkeypatch):
    """The garbage collector may run a dropped view's finalizer in the middle of a write transaction (seen:
    inside a claim and a journal write). Its unpinning write used to wait the whole busy timeout (30 s) for
    the lock of its own thread, then fail, and the pins stayed until the process ended."""
    from comfyui_fal_avatar.nodes.store import db as db_module

    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_S", 1.0)
    MediaStore(cap_bytes=10_000).put("old.mp4", src_file(tmp_path, "o", 100))
    run = MediaStore(cap_bytes=0).pinning()
    assert run.get("old.mp4") is not None
    journal = Journal()
    with journal._db.write() as conn:
        del run  # collected here, as the garbage collector may do at any allocation
        assert conn.execute("SELECT count(*) FROM pins").fetchone()[0] == 1  # not yet: this write holds
    assert MediaStore(cap_bytes=0).evict() == ["old.mp4"]


def test_pins_of_another_live_process_hold_and_of_a_dead_one_do_not(tmp_path):
    import subprocess
    import sys

    MediaStore(cap_bytes=10_000).put("a.mp4", src_file(tmp_path, "a", 100))
    code = (
        "import sys, time\n"
        "from comfyui_fal_avatar.nodes.store.media_store import MediaStore\n"
        "run = MediaStore(cap_bytes=0).pinning()\n"
        "assert run.get('a.mp4') is not None\n"
        "print('pinned', flush=True)\n"
        "sys.stdin.readline()\n"
        "import os; os._exit(0)\n"  # dies without releasing: its pins must count for nothing
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "pinned"
        assert MediaStore(cap_bytes=0).evict() == []
    finally:
        child.communicate("\n", timeout=60)
    assert MediaStore(cap_bytes=0).evict() == ["a.mp4"]


def test_part_files_of_a_dead_writer_are_removed_and_a_live_writers_kept(tmp_path):
    """A SIGKILL during a stitch (or a download) leaves its `.part` file next to the staging path; no later
    run removed it. Now a later eviction removes it once its writer is dead (however fresh the file)."""
    import subprocess
    import sys

    code = (
        "from comfyui_fal_avatar.nodes.store.media_store import MediaStore\n"
        "staging = MediaStore().staging_path('long-x.mp4')\n"
        "staging.with_name(f'.{staging.name}.0a1b2c3d.part').write_bytes(b'half a stitch')\n"
        "staging.write_bytes(b'half a download')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # the writer is gone once it returns
    store = MediaStore(cap_bytes=10_000)
    dead = sorted(p.name for p in store.root.iterdir())
    assert len(dead) == 2 and any(n.endswith(".part") for n in dead)
    mine = store.staging_path("long-y.mp4")
    mine_part = mine.with_name(f".{mine.name}.99ff.part")
    mine_part.write_bytes(b"stitching now")
    assert store.evict() == []
    assert sorted(p.name for p in store.root.iterdir()) == [mine_part.name]
