"""Uploading inputs to fal storage: CDN v3 (single or multipart), falling back to a signed PUT.

Order as in fal-client 1.0.3 (PyPI, ``fal_client/client.py``: ``_upload_v3``, ``MultipartUpload``,
``_upload_via_storage``): CDN token → ``POST {cdn}/files/upload`` (multipart above the threshold); if that
fails for any reason except a bad key or a locked account, ``POST {rest}/storage/upload/initiate`` +
``PUT upload_url``. Unlike fal-client, the PUT carries no Authorization: the URL is signed, and a strict
presigned-URL host may refuse a request with a second credential.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import AccountLockedError, AuthError, ConfigError, FalAvatarError, FalServerError
from ..settings import FalUrls
from . import multipart
from .bounded import json_value
from .cdn_token import STORAGE_TYPE, TokenManager
from .http import Auth, FalHttp
from .source import Progress, ProgressCallback, UploadSource

log = logging.getLogger(__name__)

MULTIPART_THRESHOLD = 100 * 1024 * 1024  # above this, upload in parts (read at call time: tests lower it)
DATA_URI_MAX_BYTES = 64 * 1024  # inputs up to this size may be sent inline as data URIs instead

_FATAL = (AuthError, AccountLockedError, ConfigError)  # a fallback cannot fix these


def data_uri(data: bytes, content_type: str) -> str:
    """``data:<type>;base64,<...>``: for tiny inputs only (33 % larger, sent inside the submit body)."""
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def header_file_name(name: str) -> str:
    """A file name safe for an HTTP header (ASCII, no separators)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._")
    return cleaned or "upload.bin"


def _field(response, name: str) -> str:
    try:
        value = json_value(response)[name]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise FalServerError(
            f"fal's upload answer has no usable {name}; try again.", status=response.status_code
        )
    return value


class Uploader:
    def __init__(self, http: FalHttp, tokens: TokenManager, urls: Callable[[], FalUrls]) -> None:
        self._http = http
        self._tokens = tokens
        self._urls = urls

    async def upload(
        self,
        data: bytes | Path,
        *,
        content_type: str,
        file_name: str,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        source = UploadSource.of(data)
        name = header_file_name(file_name)
        try:
            return await self._via_cdn(source, content_type, name, Progress(source.size, on_progress))
        except _FATAL:
            raise
        except FalAvatarError as exc:
            log.warning("fal CDN upload failed (%s); trying fal's storage upload instead", exc)
        return await self._via_storage(source, content_type, name, Progress(source.size, on_progress))

    async def _via_cdn(self, source: UploadSource, content_type: str, name: str, progress: Progress) -> str:
        cdn = self._urls().cdn
        token = await self._tokens.get(cdn)
        try:
            if source.size > MULTIPART_THRESHOLD:
                return await multipart.upload_multipart(
                    self._http,
                    source,
                    base_url=token.base_url or cdn,
                    token=token.token,
                    content_type=content_type,
                    file_name=name,
                    progress=progress,
                )
            response = await self._http.call(
                "POST",
                f"{cdn}/files/upload",
                what=f"upload of {name}",
                auth=Auth.BEARER,
                bearer=token.token,
                body=source.body(progress=progress),
                headers={
                    "Content-Type": content_type,
                    "Content-Length": str(source.size),
                    "X-Fal-File-Name": name,
                    "Accept": "application/json",
                },
                timeout=self._http.timeouts.transfer,
            )
        except AuthError:
            self._tokens.invalidate()  # the CDN refused the token, not the key: fall back
            raise FalServerError(f"fal's CDN refused the upload token for {name}") from None
        return _field(response, "access_url")

    async def _via_storage(
        self, source: UploadSource, content_type: str, name: str, progress: Progress
    ) -> str:
        initiated = await self._http.call(
            "POST",
            f"{self._urls().rest}/storage/upload/initiate",
            what=f"upload start of {name}",
            params={"storage_type": STORAGE_TYPE},
            json={"file_name": name, "content_type": content_type},
            headers={"Accept": "application/json"},
        )
        upload_url = _field(initiated, "upload_url")
        file_url = _field(initiated, "file_url")
        await self._http.call(
            "PUT",
            upload_url,
            what=f"upload of {name}",
            auth=Auth.NONE,
            body=source.body(progress=progress),
            headers={"Content-Type": content_type, "Content-Length": str(source.size)},
            timeout=self._http.timeouts.transfer,
        )
        return file_url
