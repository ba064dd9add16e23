"""Upload cache: content hash → fal URL, with expiry (fal CDN files can expire) and forget-on-404."""

from __future__ import annotations

import sqlite3
import time

import pytest

from comfyui_fal_avatar.nodes.datadir import data_dir
from comfyui_fal_avatar.nodes.store.journal import Journal
from comfyui_fal_avatar.nodes.store.upload_cache import DEFAULT_MAX_AGE_S, UploadCache

SHA = "ab" * 32
URL = "https://v3.fal.media/files/x/face.png"


def age_entry(sha256: str, seconds: float) -> None:
    with sqlite3.connect(data_dir() / "fal-avatar.sqlite3") as conn:
        conn.execute("UPDATE uploads SET uploaded_at = ? WHERE sha256 = ?", (time.time() - seconds, sha256))


def test_put_get_roundtrip_case_insensitive():
    cache = UploadCache()
    assert cache.get(SHA) is None
    cache.put(SHA.upper(), URL, 1234)
    assert cache.get(SHA) == URL
    assert UploadCache().get(SHA.upper()) == URL  # persisted, visible to a new instance


def test_default_max_age_is_about_six_days():
    assert UploadCache().max_age_s == DEFAULT_MAX_AGE_S == 6 * 24 * 3600


def test_entries_older_than_max_age_are_absent():
    cache = UploadCache()
    cache.put(SHA, URL, 10)
    age_entry(SHA, DEFAULT_MAX_AGE_S - 60)
    assert cache.get(SHA) == URL
    age_entry(SHA, DEFAULT_MAX_AGE_S + 60)
    assert cache.get(SHA) is None
    cache.put(SHA, URL + "?new", 10)  # the caller uploaded again
    assert cache.get(SHA) == URL + "?new"


def test_max_age_is_a_constructor_parameter():
    UploadCache().put(SHA, URL, 10)
    age_entry(SHA, 3600)
    assert UploadCache(max_age_s=7200).get(SHA) == URL
    assert UploadCache(max_age_s=1800).get(SHA) is None
    with pytest.raises(ValueError):
        UploadCache(max_age_s=0)


def test_an_entry_dated_in_the_future_is_stale():
    UploadCache().put(SHA, URL, 10)
    age_entry(SHA, -3600)  # the clock jumped: the URL's real age is unknown
    assert UploadCache().get(SHA) is None


def test_forget_after_a_404():
    cache = UploadCache()
    cache.put(SHA, URL, 10)
    assert cache.forget(SHA) is True
    assert cache.get(SHA) is None
    assert cache.forget(SHA) is False


def test_shares_the_journal_database_file():
    UploadCache().put(SHA, URL, 10)
    Journal().begin("k" * 64, "fal-ai/infinitalk")
    assert sorted(p.name for p in data_dir().iterdir()) == ["fal-avatar.sqlite3"]
    with sqlite3.connect(data_dir() / "fal-avatar.sqlite3") as conn:
        assert conn.execute("SELECT url, size FROM uploads").fetchall() == [(URL, 10)]
        assert conn.execute("SELECT count(*) FROM journal").fetchone() == (1,)


def test_explicit_path(tmp_path):
    path = tmp_path / "elsewhere" / "cache.sqlite3"
    UploadCache(path).put(SHA, URL, 10)
    assert UploadCache(path).get(SHA) == URL
    assert UploadCache().get(SHA) is None
