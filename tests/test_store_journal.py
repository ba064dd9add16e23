"""The request journal: states, allowed transitions, reuse lookup, listing, and no secrets on disk."""

from __future__ import annotations

import json

import pytest

from comfyui_fal_avatar.nodes.credentials import known_secrets, save_key
from comfyui_fal_avatar.nodes.datadir import data_dir
from comfyui_fal_avatar.nodes.store.journal import Journal

KEY = "k" * 64
ENDPOINT = "fal-ai/infinitalk"


def handle(request_id: str) -> dict[str, str]:
    base = f"https://queue.fal.run/fal-ai/infinitalk/requests/{request_id}"
    return {
        "request_id": request_id,
        "status_url": f"{base}/status",
        "response_url": base,
        "cancel_url": f"{base}/cancel",
    }


class FakeQueueHandle:
    """Anything with ``to_dict()`` (like fal.models.QueueHandle) is accepted."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id

    def to_dict(self) -> dict[str, str]:
        return {"endpoint_id": ENDPOINT, **handle(self.request_id)}


RESULT = {"video": {"url": "https://v3.fal.media/files/out.mp4", "content_type": "video/mp4"}, "seed": 1}


@pytest.fixture
def journal() -> Journal:
    return Journal(secrets=known_secrets)


def submitted(journal: Journal, request_id: str, key: str = KEY) -> int:
    row_id = journal.begin(key, ENDPOINT)
    journal.record_submit(row_id, handle(request_id))
    return row_id


def reach(journal: Journal, state: str, request_id: str, tmp_path) -> None:
    """Bring a new entry to ``state`` through the public API."""
    submitted(journal, request_id)
    if state in ("completed", "downloaded"):
        journal.mark_completed(request_id, RESULT)
    if state == "downloaded":
        journal.mark_downloaded(request_id, tmp_path / f"{request_id}.mp4")
    if state == "failed":
        journal.mark_failed(request_id, "runner crashed")
    if state == "cancelled":
        journal.mark_cancelled(request_id)
    assert journal.get(request_id).state == state


def test_default_file_is_in_the_data_dir(journal):
    assert journal.path == data_dir() / "fal-avatar.sqlite3"


def test_full_lifecycle(journal, tmp_path):
    row_id = journal.begin(KEY, ENDPOINT, cost_estimate_usd=1.16, summary={"prompt": "hi", "num_frames": 145})
    entry = journal.find_reusable(KEY)
    assert (entry.row_id, entry.state, entry.request_id, entry.handle) == (row_id, "submitting", None, None)
    assert entry.cost_estimate_usd == 1.16 and entry.summary == {"prompt": "hi", "num_frames": 145}
    assert entry.submitted_at is None and entry.age_s() >= 0

    entry = journal.record_submit(row_id, FakeQueueHandle("req-1"))
    assert entry.state == "submitted" and entry.submitted_at is not None
    assert entry.handle == {"endpoint_id": ENDPOINT, **handle("req-1")}
    assert journal.get("req-1") == entry

    assert journal.mark_completed("req-1", RESULT).result == RESULT
    video = tmp_path / "req-1.mp4"
    video.write_bytes(b"mp4")
    entry = journal.mark_downloaded("req-1", video)
    assert (entry.state, entry.local_path, entry.local_file()) == ("downloaded", video, video)
    assert entry.result == RESULT  # kept: the URL may be needed to download again
    json.dumps(entry.to_json())

    video.unlink()  # evicted or deleted by hand: the path is kept but the file counts as missing
    assert journal.get("req-1").local_file() is None


def test_record_submit_is_idempotent_but_refuses_a_second_request(journal):
    row_id = submitted(journal, "req-1")
    assert journal.record_submit(row_id, handle("req-1")).request_id == "req-1"
    with pytest.raises(ValueError, match="already holds request req-1"):
        journal.record_submit(row_id, handle("req-2"))
    with pytest.raises(ValueError, match="does not exist"):
        journal.record_submit(row_id + 100, handle("req-3"))
    with pytest.raises(ValueError, match="lacks cancel_url"):
        journal.record_submit(journal.begin(KEY, ENDPOINT), {**handle("req-4"), "cancel_url": ""})


MARKS = ("completed", "downloaded", "failed", "cancelled")
# EXPECTED[start][mark] = state after calling mark_<mark> on an entry in state <start>.
EXPECTED = {
    "submitted": {
        "completed": "completed",
        "downloaded": "downloaded",
        "failed": "failed",
        "cancelled": "cancelled",
    },
    "completed": {
        "completed": "completed",
        "downloaded": "downloaded",
        "failed": "failed",
        "cancelled": "completed",
    },
    "downloaded": dict.fromkeys(MARKS, "downloaded"),
    "failed": dict.fromkeys(MARKS, "failed"),
    "cancelled": dict.fromkeys(MARKS, "cancelled"),
}


def apply_mark(journal: Journal, mark: str, request_id: str, tmp_path):
    if mark == "completed":
        return journal.mark_completed(request_id, {"video": {"url": "https://late"}})
    if mark == "downloaded":
        return journal.mark_downloaded(request_id, tmp_path / "late.mp4")
    if mark == "failed":
        return journal.mark_failed(request_id, "late error")
    return journal.mark_cancelled(request_id)


@pytest.mark.parametrize("start", sorted(EXPECTED))
@pytest.mark.parametrize("mark", MARKS)
def test_transitions(journal, tmp_path, start, mark):
    reach(journal, start, "req", tmp_path)
    before = journal.get("req")
    after = apply_mark(journal, mark, "req", tmp_path)
    assert after == journal.get("req")
    assert after.state == EXPECTED[start][mark]
    if after.state != mark:  # refused: nothing about the entry changed
        assert after == before
    if start in ("downloaded", "failed", "cancelled"):  # a final state never moves
        assert after.state == start


def test_a_repeated_mark_refreshes_its_data(journal, tmp_path):
    reach(journal, "downloaded", "req", tmp_path)
    assert journal.mark_downloaded("req", tmp_path / "again.mp4").local_path == tmp_path / "again.mp4"
    reach(journal, "failed", "req-2", tmp_path)
    assert journal.mark_failed("req-2", "second error").error == "second error"


def test_late_mark_completed_keeps_downloaded_and_its_file(journal, tmp_path):
    reach(journal, "downloaded", "req", tmp_path)
    entry = journal.mark_completed("req", {"other": True})
    assert (entry.state, entry.result, entry.local_path) == ("downloaded", RESULT, tmp_path / "req.mp4")


def test_marks_for_unknown_requests_do_nothing(journal, tmp_path):
    assert journal.mark_completed("nope", RESULT) is None
    assert journal.mark_downloaded("nope", tmp_path / "x.mp4") is None
    assert journal.mark_failed("nope", "x") is None
    assert journal.mark_cancelled("nope") is None
    assert journal.get("nope") is None
    assert journal.entries() == []


def test_forget_submitting_deletes_only_a_submitting_row(journal):
    row_id = journal.begin(KEY, ENDPOINT)
    assert journal.forget_submitting(row_id) is True
    assert journal.find_reusable(KEY) is None and journal.entries() == []
    assert journal.forget_submitting(row_id) is False
    kept = submitted(journal, "req-1")
    assert journal.forget_submitting(kept) is False
    assert journal.get("req-1").state == "submitted"


def test_fail_submitting_keeps_the_record_but_it_is_never_reused(journal):
    row_id = journal.begin(KEY, ENDPOINT)
    assert journal.fail_submitting(row_id, "submit outcome unknown") is True
    (entry,) = journal.entries()
    assert (entry.state, entry.request_id, entry.error) == ("failed", None, "submit outcome unknown")
    assert journal.find_reusable(KEY) is None
    assert journal.fail_submitting(submitted(journal, "req-1"), "x") is False
    assert journal.get("req-1").state == "submitted"


def test_a_slow_submit_still_records_its_job_after_fail_submitting(journal):
    row_id = journal.begin(KEY, ENDPOINT)
    journal.fail_submitting(row_id, "submit outcome unknown")  # another run gave up waiting
    entry = journal.record_submit(row_id, handle("late"))  # ...but the submit did create a job
    assert (entry.state, entry.request_id, entry.error) == ("submitted", "late", None)
    assert journal.find_reusable(KEY).request_id == "late"


@pytest.mark.parametrize("state", ["submitted", "completed", "downloaded"])
def test_find_reusable_returns_live_and_finished_entries(journal, tmp_path, state):
    reach(journal, state, "req", tmp_path)
    assert journal.find_reusable(KEY).request_id == "req"
    assert journal.find_reusable("other-key") is None


@pytest.mark.parametrize("state", ["failed", "cancelled"])
def test_find_reusable_never_returns_failed_or_cancelled(journal, tmp_path, state):
    reach(journal, state, "req", tmp_path)
    assert journal.find_reusable(KEY) is None


def test_find_reusable_newest_wins(journal, tmp_path):
    submitted(journal, "old")
    journal.mark_completed("old", RESULT)
    submitted(journal, "new")
    assert journal.find_reusable(KEY).request_id == "new"
    journal.mark_cancelled("new")
    assert journal.find_reusable(KEY).request_id == "old"  # a cancelled newer entry does not hide a result
    row_id = journal.begin(KEY, ENDPOINT)
    assert journal.find_reusable(KEY).row_id == row_id  # a submit may be under way right now


def test_entries_newest_first_with_limit(journal, tmp_path):
    for i in range(5):
        submitted(journal, f"req-{i}", key=f"key-{i}")
    assert [e.request_id for e in journal.entries()] == [f"req-{i}" for i in reversed(range(5))]
    assert [e.request_id for e in journal.entries(limit=2)] == ["req-4", "req-3"]


def test_adopt_journals_a_foreign_request_once(journal):
    entry = journal.adopt(ENDPOINT, handle("foreign"))
    assert (entry.state, entry.request_id, entry.endpoint_id) == ("submitted", "foreign", ENDPOINT)
    assert entry.request_key == "adopted:foreign"  # never a sha256, so never found by a real request key
    journal.mark_completed("foreign", RESULT)
    again = journal.adopt(ENDPOINT, handle("foreign"))
    assert (again.row_id, again.state) == (entry.row_id, "completed")
    submitted(journal, "mine")
    assert journal.adopt(ENDPOINT, handle("mine")).request_key == KEY


def test_summary_is_small_and_secret_free(journal):
    journal.begin(
        KEY,
        ENDPOINT,
        summary={
            "prompt": "x" * 5000,
            "image_url": "data:image/png;base64," + "A" * 100_000,
            "api_key": "anything",
            "extra": {"auth_token": "t0k3n", "keyframes": 3},
        },
    )
    summary = journal.entries()[0].summary
    assert summary["image_url"] == "<data:image/png, 100022 chars>"
    assert summary["prompt"].startswith("xxx") and len(summary["prompt"]) < 400
    assert summary["api_key"] == "<redacted>" and summary["extra"] == {
        "auth_token": "<redacted>",
        "keyframes": 3,
    }


FAKE_KEY = "0a1b2c3d-fake-key-id:f4k3s3cr3tv4lu3f0rt3st1ng"


def db_bytes() -> bytes:
    return b"".join(p.read_bytes() for p in data_dir().glob("fal-avatar.sqlite3*"))


@pytest.mark.parametrize("source", ["env", "saved"])
def test_the_fal_key_is_never_written(journal, tmp_path, monkeypatch, source):
    if source == "env":
        monkeypatch.setenv("FAL_KEY", FAKE_KEY)
    else:
        save_key(FAKE_KEY)
    secret = FAKE_KEY.split(":", 1)[1]
    leaky = f"Authorization: Key {FAKE_KEY}"
    row_id = journal.begin(KEY, ENDPOINT, summary={"prompt": leaky, "note": secret, "fal_key": FAKE_KEY})
    journal.record_submit(row_id, handle("req-1"))
    journal.mark_completed("req-1", {"echo": leaky, "nested": [{"s": secret}]})
    journal.mark_downloaded("req-1", tmp_path / "out.mp4")
    submitted(journal, "req-2")
    journal.mark_failed("req-2", leaky)
    journal.fail_submitting(journal.begin(KEY, ENDPOINT), f"outcome unknown ({secret})")

    stored = db_bytes()
    assert stored and FAKE_KEY.encode() not in stored and secret.encode() not in stored
    assert journal.get("req-1").summary["prompt"] == "Authorization: Key <redacted>"
    assert journal.get("req-2").error == "Authorization: Key <redacted>"


def test_entries_survive_the_database_file_being_deleted(tmp_path):
    """The journal writes what it knows into a replaced (deleted) database file: in-flight jobs keep ids."""
    journal = Journal()
    done = journal.begin("k-done", "fal-ai/infinitalk", cost_estimate_usd=1.0)
    journal.record_submit(done, handle("req-done"))
    journal.mark_completed("req-done", {"video": {"url": "https://x/v.mp4"}})
    flying = journal.begin("k-flying", "fal-ai/infinitalk")
    for path in data_dir().glob("fal-avatar.sqlite3*"):
        path.unlink()
    journal.record_submit(flying, handle("req-flying"))  # used to raise: "journal row ... does not exist"
    assert Journal().find_reusable("k-done").state == "completed"
    assert Journal().find_reusable("k-flying").request_id == "req-flying"
    assert journal.mark_downloaded("req-flying", tmp_path / "v.mp4").state == "downloaded"
