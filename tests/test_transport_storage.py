"""Uploads (CDN token, single, fallback, multipart) and downloads over httpx.MockTransport."""

from __future__ import annotations

import errno
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from test_transport_support import KEY, NGINX, jresp, make_client, run

from comfyui_fal_avatar.nodes.errors import AccountLockedError, AuthError, DownloadError, LocalStorageError
from comfyui_fal_avatar.nodes.fal import multipart, upload

FAR = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
SOON = (datetime.now(timezone.utc) + timedelta(seconds=30)).isoformat()
TOKEN_PATH = "/storage/auth/token"


def token_body(expires_at=FAR, base_url="https://cdn.test"):
    return {"token": "cdn-token-xyz", "token_type": "Bearer", "base_url": base_url, "expires_at": expires_at}


class FakeStorage:
    """REST token + CDN single/multipart + initiate/signed-PUT, with per-route scripted failures."""

    def __init__(self, expires_at=FAR):
        self.expires_at = expires_at
        self.fail: dict[str, list[httpx.Response]] = {}
        self.parts: dict[int, bytes] = {}
        self.stored: bytes | None = None
        self.completed: list | None = None

    def _failure(self, route):
        queue = self.fail.get(route)
        return queue.pop(0) if queue else None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        route = {
            ("rest.test", TOKEN_PATH): "token",
            ("cdn.test", "/files/upload"): "cdn_upload",
            ("cdn.test", "/files/upload/multipart"): "multipart_create",
            ("rest.test", "/storage/upload/initiate"): "initiate",
            ("signed.test", "/put/abc"): "signed_put",
        }.get((host, path))
        if route is None and path.startswith("/files/x/big.bin/multipart/up-1/"):
            route = "multipart_complete" if path.endswith("/complete") else "multipart_part"
        if (failure := self._failure(route)) is not None:
            return failure
        if route == "token":
            assert request.url.params["storage_type"] == "fal-cdn-v3"
            assert json.loads(request.content) == {}
            return jresp(200, token_body(self.expires_at))
        if route == "cdn_upload":
            self.stored = request.read()
            return jresp(200, {"access_url": "https://cdn.test/files/x/a.png"})
        if route == "multipart_create":
            return jresp(200, {"access_url": "https://cdn.test/files/x/big.bin", "uploadId": "up-1"})
        if route == "multipart_part":
            number = int(path.rsplit("/", 1)[1])
            self.parts[number] = request.read()
            return httpx.Response(200, headers={"ETag": f'"etag-{number}"'})
        if route == "multipart_complete":
            self.completed = json.loads(request.content)["parts"]
            return jresp(200, {})
        if route == "initiate":
            assert request.url.params["storage_type"] == "fal-cdn-v3"
            return jresp(
                200, {"upload_url": "https://signed.test/put/abc?sig=1", "file_url": "https://cdn.test/f.png"}
            )
        if route == "signed_put":
            self.stored = request.read()
            return httpx.Response(200)
        raise AssertionError(f"unexpected {request.method} {request.url}")


def auth_by_host(rec):
    return {(r.method, r.url.host, r.url.path): r.headers.get("authorization") for r in rec.requests}


def test_single_upload_uses_cdn_token_not_the_key():
    storage = FakeStorage()
    client, rec = make_client(storage)
    progress = []
    url = run(
        client.upload(
            b"PNGDATA",
            content_type="image/png",
            file_name="face.png",
            on_progress=lambda d, t: progress.append((d, t)),
        )
    )
    assert url == "https://cdn.test/files/x/a.png"
    assert storage.stored == b"PNGDATA"
    auth = auth_by_host(rec)
    assert auth[("POST", "rest.test", TOKEN_PATH)] == f"Key {KEY}"
    assert auth[("POST", "cdn.test", "/files/upload")] == "Bearer cdn-token-xyz"
    cdn_request = rec.requests[1]
    assert cdn_request.headers["content-type"] == "image/png"
    assert cdn_request.headers["x-fal-file-name"] == "face.png"
    assert progress[-1] == (7, 7)


def test_token_is_cached_until_it_nearly_expires():
    client, rec = make_client(FakeStorage())

    async def two():
        await client.upload(b"a", content_type="image/png", file_name="a.png")
        await client.upload(b"b", content_type="image/png", file_name="b.png")

    run(two())
    assert rec.count("POST", TOKEN_PATH) == 1

    client, rec = make_client(FakeStorage(expires_at=SOON))  # expires within the refresh margin
    run(two())
    assert rec.count("POST", TOKEN_PATH) == 2


def test_cdn_failure_falls_back_to_signed_put_without_authorization():
    storage = FakeStorage()
    storage.fail["cdn_upload"] = [httpx.Response(500, json={"detail": "boom"})]
    client, rec = make_client(storage)
    url = run(client.upload(b"WAV", content_type="audio/wav", file_name="a.wav"))
    assert url == "https://cdn.test/f.png"
    assert storage.stored == b"WAV"
    auth = auth_by_host(rec)
    assert auth[("POST", "rest.test", "/storage/upload/initiate")] == f"Key {KEY}"
    assert auth[("PUT", "signed.test", "/put/abc")] is None  # no fal Authorization to a signed URL
    initiate = next(r for r in rec.requests if r.url.path == "/storage/upload/initiate")
    assert json.loads(initiate.content) == {"file_name": "a.wav", "content_type": "audio/wav"}


def test_cdn_rejecting_the_token_falls_back_and_forgets_the_token():
    storage = FakeStorage()
    storage.fail["cdn_upload"] = [jresp(401, {"detail": "bad token"})]
    client, rec = make_client(storage)

    async def two():
        await client.upload(b"1", content_type="image/png", file_name="a.png")
        await client.upload(b"2", content_type="image/png", file_name="a.png")

    run(two())
    assert rec.count("PUT", "/put/abc") == 1
    assert rec.count("POST", TOKEN_PATH) == 2


def test_locked_account_is_not_hidden_by_the_fallback():
    storage = FakeStorage()
    storage.fail["cdn_upload"] = [jresp(403, {"detail": "User is locked. Reason: Exhausted balance."})]
    client, rec = make_client(storage)
    with pytest.raises(AccountLockedError, match="dashboard/billing"):
        run(client.upload(b"x", content_type="image/png", file_name="a.png"))
    assert rec.count("POST", "/storage/upload/initiate") == 0


def test_bad_key_on_token_request_is_an_auth_error():
    storage = FakeStorage()
    storage.fail["token"] = [jresp(401, {"detail": "No user found for Key ID and Secret"})]
    client, rec = make_client(storage)
    with pytest.raises(AuthError):
        run(client.upload(b"x", content_type="image/png", file_name="a.png"))
    assert [r.url.path for r in rec.requests] == [TOKEN_PATH]


def test_multipart_streams_parts_from_disk_with_per_part_retries(tmp_path, monkeypatch):
    monkeypatch.setattr(upload, "MULTIPART_THRESHOLD", 1000)
    monkeypatch.setattr(multipart, "PART_SIZE", 400)
    data = bytes(range(256)) * 9  # 2304 bytes → 6 parts
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    storage = FakeStorage()
    storage.fail["multipart_part"] = [httpx.Response(503, content=NGINX)]  # one part fails once (ingress)
    client, rec = make_client(storage)
    progress = []
    url = run(
        client.upload(
            path,
            content_type="application/octet-stream",
            file_name="big.bin",
            on_progress=lambda d, t: progress.append((d, t)),
        )
    )
    assert url == "https://cdn.test/files/x/big.bin"
    assert b"".join(storage.parts[n] for n in sorted(storage.parts)) == data
    assert sorted(storage.parts) == [1, 2, 3, 4, 5, 6]
    assert storage.completed == [{"partNumber": n, "etag": f'"etag-{n}"'} for n in range(1, 7)]  # quotes kept
    assert rec.count("POST", "/files/upload/multipart") == 1
    part_puts = [r for r in rec.requests if r.method == "PUT"]
    assert len(part_puts) == 7  # 6 parts + 1 retry
    assert all(r.headers["authorization"] == "Bearer cdn-token-xyz" for r in part_puts)
    assert progress[-1] == (len(data), len(data))
    assert max(done for done, _ in progress) == len(data)  # a retried part is not counted twice


# --- downloads ---------------------------------------------------------------------------------

BLOB = bytes(range(256)) * 64  # 16 KiB


def file_server(*, drop_first_at=None, ignore_range=False, short=False, status=None):
    calls = []

    def handler(request):
        calls.append(request)
        if status is not None:
            return status
        start = 0
        if (rng := request.headers.get("range")) and not ignore_range:
            start = int(rng.split("=")[1].rstrip("-"))
        body = BLOB[start:]
        limit = None
        if drop_first_at is not None and len(calls) == 1:
            limit = drop_first_at
        if short:
            limit = len(body) // 2

        async def stream():
            if limit is None:
                yield body
                return
            yield body[:limit]
            if not short:
                raise httpx.ReadError("connection reset by peer")

        headers = {"content-type": "video/mp4", "content-length": str(len(body))}
        if start:
            headers["content-range"] = f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"
        return httpx.Response(206 if start else 200, headers=headers, content=stream())

    return handler, calls


def test_download_is_atomic_with_progress_and_no_authorization(tmp_path):
    handler, calls = file_server()
    client, rec = make_client(handler)
    dest = tmp_path / "out" / "video.mp4"
    progress = []
    assert run(
        client.download("https://files.test/v.mp4", dest, on_progress=lambda d, t: progress.append((d, t)))
    )
    assert dest.read_bytes() == BLOB
    assert "authorization" not in calls[0].headers
    assert progress[-1] == (len(BLOB), len(BLOB))
    assert [p.name for p in dest.parent.iterdir()] == ["video.mp4"]


def test_download_resumes_with_range_after_a_drop(tmp_path):
    handler, calls = file_server(drop_first_at=5000)
    client, _ = make_client(handler)
    dest = tmp_path / "v.mp4"
    run(client.download("https://files.test/v.mp4", dest))
    assert dest.read_bytes() == BLOB
    assert [c.headers.get("range") for c in calls] == [None, "bytes=5000-"]


def test_download_restarts_cleanly_when_range_is_ignored(tmp_path):
    handler, calls = file_server(drop_first_at=5000, ignore_range=True)
    client, _ = make_client(handler)
    dest = tmp_path / "v.mp4"
    run(client.download("https://files.test/v.mp4", dest))
    assert dest.read_bytes() == BLOB
    assert len(calls) == 2


def test_short_body_is_an_error_after_the_budget_never_a_truncated_file(tmp_path):
    handler, calls = file_server(short=True)
    client, _ = make_client(handler)
    dest = tmp_path / "v.mp4"
    with pytest.raises(DownloadError, match="kept failing"):
        run(client.download("https://files.test/v.mp4", dest, request_id="rid-7"))
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left behind
    # each short answer makes progress (so the budget restarts) until none is possible; then it gives up
    assert len(calls) >= 4


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:video/mp4;base64,AAAA", "ftp://x/y", "", None])
def test_download_only_http_urls(url, tmp_path):
    client, rec = make_client(lambda r: httpx.Response(200))
    with pytest.raises(DownloadError, match="only http"):
        run(client.download(url, tmp_path / "x.mp4"))
    assert rec.requests == []


def test_download_http_errors_and_retries(tmp_path):
    handler, calls = file_server(status=jresp(404, {"detail": "not found"}))
    client, _ = make_client(handler)
    with pytest.raises(DownloadError) as info:
        run(client.download("https://files.test/v.mp4", tmp_path / "x.mp4", request_id="rid-7"))
    assert info.value.status == 404 and "expire" in str(info.value) and info.value.request_id == "rid-7"
    assert len(calls) == 1

    answers = [httpx.Response(503, content=NGINX), httpx.Response(200, content=b"ok")]
    client, rec = make_client(lambda r: answers.pop(0))
    run(client.download("https://files.test/v.mp4", tmp_path / "ok.bin"))
    assert (tmp_path / "ok.bin").read_bytes() == b"ok" and len(rec.requests) == 2


def test_a_failed_local_write_is_a_storage_error_that_keeps_the_paid_job(tmp_path):
    handler, calls = file_server()
    client, _ = make_client(handler)
    (tmp_path / "a-file").write_bytes(b"")  # a file where a folder should be: mkdir fails with ENOTDIR
    dest = tmp_path / "a-file" / "media" / "v.mp4"
    with pytest.raises(LocalStorageError) as info:
        run(
            client.download(
                "https://files.test/v.mp4", dest, request_id="rid-7", endpoint_id="fal-ai/infinitalk"
            )
        )
    error = info.value
    assert error.errno == errno.ENOTDIR and error.path == str(dest.parent) and error.request_id == "rid-7"
    assert error.exit_code == 3 and calls == []  # nothing downloaded before the folder failed
    assert "Saving the result video failed: a part of the path is not a directory" in str(error)
    assert "`fal-avatar fetch rid-7 --endpoint fal-ai/infinitalk`" in str(error)


# --- file checks (cached upload URLs) ----------------------------------------------------------


@pytest.mark.parametrize(
    "answers, exists, methods",
    [
        ([httpx.Response(200)], True, ["HEAD"]),
        ([httpx.Response(404)], False, ["HEAD"]),
        ([httpx.Response(405), httpx.Response(206, content=b"x")], True, ["HEAD", "GET"]),
        ([httpx.Response(503, content=NGINX), httpx.Response(200)], True, ["HEAD", "HEAD"]),
        ([httpx.Response(500)], False, ["HEAD"]),
    ],
    ids=["present", "gone", "head-refused", "ingress-retried", "server-error-means-no"],
)
def test_file_exists(answers, exists, methods):
    client, rec = make_client(lambda r: answers.pop(0))
    assert run(client.file_exists("https://cdn.test/files/x/a.png")) is exists
    assert [r.method for r in rec.requests] == methods
    assert all("authorization" not in r.headers for r in rec.requests)
    if "GET" in methods:
        assert rec.requests[-1].headers["range"] == "bytes=0-0"


def test_file_exists_rejects_non_http_urls():
    client, rec = make_client(lambda r: httpx.Response(200))
    assert run(client.file_exists("data:image/png;base64,AAAA")) is False
    assert rec.requests == []


def test_endpoint_key_names_the_queue_host_and_full_id_never_the_key():
    client, _ = make_client(lambda r: httpx.Response(200))
    assert (
        client.endpoint_key("fal-ai/infinitalk/video-to-video")
        == "https://queue.test/fal-ai/infinitalk/video-to-video"
    )
    assert KEY not in client.endpoint_key("12345-my-app")
