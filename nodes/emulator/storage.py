"""In-memory fal storage: CDN tokens, single-shot and multipart uploads, signed PUT targets, served files."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

_ANIMALS = ("penguin", "koala", "zebra", "rabbit", "tiger", "panda", "lion", "monkey", "elephant", "kangaroo")
TOKEN_LIFETIME = timedelta(hours=1)


class StorageError(Exception):
    """A client error on a storage route (answered as ``status`` with ``{"detail": message}``)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class StoredFile:
    content_type: str
    data: bytes
    file_name: str


@dataclass
class _Multipart:
    path: str
    content_type: str
    file_name: str
    parts: dict[int, bytes] = field(default_factory=dict)
    etags: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Signed:
    path: str
    signature: str
    content_type: str
    file_name: str


def safe_name(name: str | None, default: str = "upload.bin") -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", (name or "").strip()).strip("._")
    return cleaned[:120] or default


class FileStore:
    """Thread-safe store; file paths look like ``/files/<animal>/<id>_<name>`` (served by plain GET)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.base_url = ""  # set by the emulator once it listens
        self.files: dict[str, StoredFile] = {}
        self._tokens: dict[str, datetime] = {}
        self._multipart: dict[str, _Multipart] = {}
        self._signed: dict[str, _Signed] = {}

    # tokens -------------------------------------------------------------------------------------------
    def issue_token(self) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(24)
        expires = datetime.now(timezone.utc).replace(microsecond=0) + TOKEN_LIFETIME
        with self._lock:
            self._tokens[token] = expires
        return token, expires

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and datetime.now(timezone.utc) < expires

    # files --------------------------------------------------------------------------------------------
    def new_path(self, file_name: str) -> str:
        return f"/files/{secrets.choice(_ANIMALS)}/{secrets.token_urlsafe(15)}_{safe_name(file_name)}"

    def put(self, data: bytes, content_type: str, file_name: str | None, path: str | None = None) -> str:
        name = safe_name(file_name)
        path = path or self.new_path(name)
        with self._lock:
            self.files[path] = StoredFile(content_type or "application/octet-stream", bytes(data), name)
        return path

    def url_for(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str) -> StoredFile | None:
        with self._lock:
            return self.files.get(path)

    # multipart (fal CDN v3 dialect) ---------------------------------------------------------------------
    def multipart_create(self, content_type: str, file_name: str | None) -> tuple[str, str]:
        name = safe_name(file_name)
        upload_id = uuid.uuid4().hex
        path = self.new_path(name)
        with self._lock:
            self._multipart[upload_id] = _Multipart(path, content_type or "application/octet-stream", name)
        return path, upload_id

    def multipart_part(self, path: str, upload_id: str, number: int, data: bytes) -> str:
        if number < 1 or number > 10000:
            raise StorageError(400, f"Invalid part number {number}: must be between 1 and 10000")
        etag = '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
        with self._lock:
            upload = self._upload(path, upload_id)
            upload.parts[number] = bytes(data)
            upload.etags[number] = etag
        return etag

    def multipart_complete(self, path: str, upload_id: str, parts: object) -> str:
        with self._lock:
            upload = self._upload(path, upload_id)
            numbers = _validate_parts(upload, parts)
            data = b"".join(upload.parts[n] for n in numbers)
            self.files[upload.path] = StoredFile(upload.content_type, data, upload.file_name)
            del self._multipart[upload_id]
        return upload.path

    def _upload(self, path: str, upload_id: str) -> _Multipart:
        upload = self._multipart.get(upload_id)
        if upload is None or upload.path != path:
            raise StorageError(404, f"Multipart upload {upload_id} not found for {path}")
        return upload

    # signed PUT targets (storage/upload/initiate) --------------------------------------------------------
    def initiate(self, content_type: str, file_name: str | None) -> tuple[str, str, str]:
        """Return (signed id, signature, file path) of a new PUT target."""
        name = safe_name(file_name)
        signed_id = uuid.uuid4().hex
        target = _Signed(
            self.new_path(name), secrets.token_hex(16), content_type or "application/octet-stream", name
        )
        with self._lock:
            self._signed[signed_id] = target
        return signed_id, target.signature, target.path

    def signed_put(self, signed_id: str, signature: str, data: bytes, content_type: str | None) -> str:
        with self._lock:
            target = self._signed.get(signed_id)
        if target is None or not secrets.compare_digest(target.signature, signature):
            raise StorageError(403, "Invalid or expired upload URL signature")
        return self.put(data, content_type or target.content_type, target.file_name, target.path)


def _validate_parts(upload: _Multipart, parts: object) -> list[int]:
    """Sort the client's (unordered) part list and check numbers, ETags and sizes; return the part numbers."""
    if not isinstance(parts, list) or not parts:
        raise StorageError(
            400, "Body must be {'parts': [{'partNumber': n, 'etag': '...'}, ...]} with at least one part"
        )
    listed: dict[int, str] = {}
    for item in parts:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("partNumber"), int)
            or not isinstance(item.get("etag"), str)
        ):
            raise StorageError(400, f"Invalid part entry {item!r}: needs integer partNumber and string etag")
        if item["partNumber"] in listed:
            raise StorageError(400, f"Part {item['partNumber']} listed twice")
        listed[item["partNumber"]] = item["etag"]
    numbers = sorted(listed)
    if numbers != list(range(1, len(numbers) + 1)):
        raise StorageError(400, f"Part numbers must be 1..N without gaps, got {numbers}")
    for n in numbers:
        if n not in upload.parts:
            raise StorageError(400, f"Part {n} was never uploaded")
        if listed[n] != upload.etags[n]:
            raise StorageError(
                400, f"ETag mismatch for part {n}: got {listed[n]}, expected {upload.etags[n]}"
            )
    sizes = [len(upload.parts[n]) for n in numbers]
    if (
        any(size == 0 for size in sizes)
        or any(size != sizes[0] for size in sizes[:-1])
        or sizes[-1] > sizes[0]
    ):
        raise StorageError(
            400, f"Inconsistent part sizes {sizes}: all parts but the last must be equal and non-empty"
        )
    return numbers
