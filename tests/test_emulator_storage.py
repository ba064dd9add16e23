"""The emulator's storage and CDN routes: CDN token, uploads (single, multipart, signed PUT), file serving."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import _http
import httpx
import pytest

from comfyui_fal_avatar.nodes.emulator import FalEmulator

KEY = "kid:ksecret"
AUTH = {"Authorization": f"Key {KEY}"}


@pytest.fixture
def emu():
    with FalEmulator(KEY) as emulator:
        yield emulator


@pytest.fixture
def http(emu):
    with _http.client(base_url=emu.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def bearer(http):
    token = http.post(
        "/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, headers=AUTH, json={}
    ).json()
    return {"Authorization": f"{token['token_type']} {token['token']}"}


def test_cdn_token_shape(emu, http):
    response = http.post("/storage/auth/token?storage_type=fal-cdn-v3", headers=AUTH, json={})
    body = response.json()
    assert response.status_code == 200 and set(body) == {"token", "token_type", "base_url", "expires_at"}
    assert body["token_type"] == "Bearer" and body["base_url"] == emu.base_url
    assert body["expires_at"].endswith("+00:00")
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(timezone.utc)
    assert http.post("/storage/auth/token?storage_type=nope", headers=AUTH).status_code == 400


def test_single_upload_and_plain_get(emu, http, bearer):
    response = http.post(
        "/files/upload",
        content=b"\x89PNG data",
        headers={**bearer, "Content-Type": "image/png", "X-Fal-File-Name": "my face.png"},
    )
    url = response.json()["access_url"]
    assert url.startswith(emu.base_url + "/files/") and url.endswith("_my_face.png")
    served = _http.get(url)  # no auth
    assert served.content == b"\x89PNG data"
    assert served.headers["content-type"] == "image/png" and served.headers["content-length"] == "9"
    assert served.headers["accept-ranges"] == "bytes"
    stored = emu.files[url[len(emu.base_url) :]]
    assert (stored.content_type, stored.data) == ("image/png", b"\x89PNG data")
    del emu.files[url[len(emu.base_url) :]]  # simulate the CDN expiring the file
    assert _http.get(url).status_code == 404
    unnamed = http.post("/files/upload", content=b"x", headers={**bearer, "Content-Type": "audio/wav"}).json()
    assert unnamed["access_url"].endswith(".wav")


def test_cdn_routes_need_the_cdn_token_not_the_key(http):
    for headers in ({}, AUTH, {"Authorization": f"Bearer {KEY}"}):
        assert http.post("/files/upload", content=b"x", headers=headers).status_code == 401
        assert http.post("/files/upload/multipart", headers=headers).status_code == 401


def test_range_requests(emu, http, bearer):
    data = bytes(range(256)) * 4
    url = http.post(
        "/files/upload", content=data, headers={**bearer, "Content-Type": "application/octet-stream"}
    ).json()["access_url"]
    part = _http.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert (
        part.headers["content-range"] == f"bytes 10-19/{len(data)}" and part.headers["content-length"] == "10"
    )
    assert _http.get(url, headers={"Range": "bytes=1000-"}).content == data[1000:]
    assert _http.get(url, headers={"Range": "bytes=-5"}).content == data[-5:]
    assert _http.get(url, headers={"Range": "bytes=10-99999"}).content == data[10:]
    unsatisfiable = _http.get(url, headers={"Range": "bytes=5000-"})
    assert (
        unsatisfiable.status_code == 416 and unsatisfiable.headers["content-range"] == f"bytes */{len(data)}"
    )
    head = httpx.head(url)
    assert (
        head.status_code == 200 and head.headers["content-length"] == str(len(data)) and head.content == b""
    )
    assert _http.get(emu.base_url + "/files/nope/missing.bin").status_code == 404


def _create(http, bearer, name="clip.mp4"):
    created = http.post(
        "/files/upload/multipart", headers={**bearer, "Content-Type": "video/mp4", "X-Fal-File-Name": name}
    ).json()
    return created["access_url"], created["uploadId"]


def _put_parts(http, bearer, access_url, upload_id, chunks):
    etags = {}
    for number, chunk in chunks:
        response = http.put(f"{access_url}/multipart/{upload_id}/{number}", content=chunk, headers=bearer)
        assert response.status_code == 200
        etags[number] = response.headers["etag"]
        assert etags[number].startswith('"') and etags[number].endswith('"')
    return etags


def test_multipart_with_unsorted_parts(emu, http, bearer):
    chunks = [(1, b"a" * 1000), (2, b"b" * 1000), (3, b"c" * 10)]
    access_url, upload_id = _create(http, bearer)
    etags = _put_parts(http, bearer, access_url, upload_id, reversed(chunks))
    parts = [{"partNumber": n, "etag": etags[n]} for n in (2, 3, 1)]
    done = http.post(f"{access_url}/multipart/{upload_id}/complete", json={"parts": parts}, headers=bearer)
    assert done.status_code == 200
    served = _http.get(access_url)
    assert served.content == b"a" * 1000 + b"b" * 1000 + b"c" * 10
    assert served.headers["content-type"] == "video/mp4"
    assert emu.routes().count("multipart_part") == 3


@pytest.mark.parametrize(
    ("chunks", "parts", "problem"),
    [
        ([(1, b"a" * 10), (2, b"b" * 10)], [(1, "etag"), (2, None)], "ETag mismatch"),
        (
            [(1, b"a" * 10), (2, b"b" * 10)],
            [(1, "strip"), (2, None)],
            "ETag mismatch",
        ),  # quotes are part of the ETag
        (
            [(1, b"a" * 10), (2, b"")],
            [(1, None), (2, None)],
            "part sizes",
        ),  # fal-client <1.0.2 empty-part bug
        ([(1, b"a" * 10), (2, b"b" * 5), (3, b"c" * 10)], [(1, None), (2, None), (3, None)], "part sizes"),
        ([(1, b"a" * 10), (3, b"c" * 10)], [(1, None), (3, None)], "without gaps"),
        ([(1, b"a" * 10)], [(1, None), (2, None)], "never uploaded"),
    ],
)
def test_multipart_complete_validates(http, bearer, chunks, parts, problem):
    access_url, upload_id = _create(http, bearer)
    etags = _put_parts(http, bearer, access_url, upload_id, chunks)
    listed = []
    for number, tweak in parts:
        etag = etags.get(number, '"missing"')
        listed.append(
            {"partNumber": number, "etag": {"etag": '"0000"', "strip": etag.strip('"')}.get(tweak, etag)}
        )
    response = http.post(
        f"{access_url}/multipart/{upload_id}/complete", json={"parts": listed}, headers=bearer
    )
    assert response.status_code == 400 and problem in response.json()["detail"]
    assert _http.get(access_url).status_code == 404


def test_multipart_unknown_upload_id(http, bearer):
    access_url, _ = _create(http, bearer)
    assert http.put(f"{access_url}/multipart/deadbeef/1", content=b"x", headers=bearer).status_code == 404


def test_storage_initiate_and_signed_put(emu, http):
    for storage_type in ("gcs", "fal-cdn-v3"):
        init = http.post(
            f"/storage/upload/initiate?storage_type={storage_type}",
            headers=AUTH,
            json={"file_name": "voice.wav", "content_type": "audio/wav"},
        ).json()
        assert set(init) == {"upload_url", "file_url"} and init["file_url"].endswith("_voice.wav")
        put = http.put(
            init["upload_url"],
            content=b"RIFF....",
            headers={"Content-Type": "audio/wav", "Authorization": "Key something:else"},
        )  # extra auth is ignored
        assert put.status_code == 200
        served = _http.get(init["file_url"])
        assert served.content == b"RIFF...." and served.headers["content-type"] == "audio/wav"
    tampered = init["upload_url"].replace("signature=", "signature=0")
    assert http.put(tampered, content=b"x").status_code == 403
    assert emu.count("signed_put") == 3 and emu.count("storage_initiate") == 2


def test_large_single_upload_round_trip(http, bearer):
    data = hashlib.sha256(b"seed").digest() * (1 << 16)  # 2 MiB
    url = http.post(
        "/files/upload", content=data, headers={**bearer, "Content-Type": "application/octet-stream"}
    ).json()["access_url"]
    assert hashlib.sha256(_http.get(url).content).digest() == hashlib.sha256(data).digest()
