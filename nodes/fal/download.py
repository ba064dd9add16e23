"""Download a result file: streamed to a temp file beside ``dest``, resumed with Range after a drop,
checked against the advertised length, then renamed into place. Never sends an Authorization header.
A failed local write (disk full, no permission) is a LocalStorageError that says the paid job is kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from pathlib import Path

import httpx

from ..errors import DownloadError, FalAvatarError, LocalStorageError, ResultFileGoneError
from .bounded import SMALL_ANSWER, buffered, within
from .http import Auth, FalHttp
from .http_errors import detail_text
from .retry import CallKind, parse_retry_after, should_retry_response
from .source import Progress, ProgressCallback

log = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


_GONE = (401, 403, 404, 410)


class _Incomplete(Exception):
    """The body ended before the advertised length: resume."""


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    total = match.group(3)
    return int(match.group(1)), (None if total == "*" else int(total))


def _length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


class _WriteFailed(Exception):
    """A local file operation of the download failed (disk full, no permission, ...)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Target:
    """The temporary file being written (blocking I/O runs in threads; its OSErrors become _WriteFailed)."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.path = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        self.size = 0
        self.total: int | None = None  # advertised length, once known
        self.resumable = True
        self._fh = None

    @staticmethod
    async def _io(fn, *args):
        try:
            return await asyncio.to_thread(fn, *args)
        except OSError as exc:
            raise _WriteFailed(exc) from exc

    async def open(self) -> None:
        await self._io(self.dest.parent.mkdir, 0o777, True, True)
        self._fh = await self._io(open, self.path, "wb")

    async def restart(self) -> None:
        await self._io(self._fh.seek, 0)
        await self._io(self._fh.truncate, 0)
        self.size = 0
        self.resumable = True

    async def write(self, chunk: bytes) -> None:
        await self._io(self._fh.write, chunk)
        self.size += len(chunk)

    async def commit(self) -> None:
        def finish() -> None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self.path, self.dest)

        await self._io(finish)

    def discard(self) -> None:
        """Remove the temp file (never raises: closing may flush into the same full disk)."""
        if self._fh is not None and not self._fh.closed:
            try:
                self._fh.close()
            except OSError:
                pass
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove the partial download %s", self.path)


class Downloader:
    def __init__(self, http: FalHttp) -> None:
        self._http = http

    async def exists(self, url: str) -> bool:
        """Whether a public file URL still answers (HEAD, or a 1-byte GET where HEAD is refused).

        Any doubt (errors after retries, unexpected answers) counts as "no": the caller re-uploads.
        """
        try:
            _check_url(url, None)
            for method, headers in (("HEAD", {}), ("GET", {"Range": "bytes=0-0"})):
                response = await self._http.call(
                    method, url, what="file check", auth=Auth.NONE, headers=headers, outcomes=_GONE + (405,)
                )
                if response.status_code != 405:
                    return response.is_success
        except FalAvatarError as exc:
            log.info("file check of %s failed (%s); treating it as gone", httpx.URL(url).path, exc)
        return False

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        on_progress: ProgressCallback | None = None,
        request_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> Path:
        _check_url(url, request_id)
        target = _Target(Path(dest))
        progress = Progress(None, on_progress)
        try:
            try:
                await target.open()
                await self._fetch(url, target, progress, request_id)
                await target.commit()
            finally:
                target.discard()
        except _WriteFailed as failed:  # measured after the partial file is gone
            raise _saving_failed(failed.error, target, request_id, endpoint_id) from None
        return target.dest

    async def _fetch(self, url: str, target: _Target, progress: Progress, request_id: str | None) -> None:
        policy = self._http.retry
        failures = 0
        while True:
            before = target.size
            try:
                await self._attempt(url, target, progress, request_id)
                return
            except (httpx.TransportError, _Incomplete, _Retryable) as exc:
                failures = 1 if target.size > before else failures + 1  # progress resets the budget
                if failures >= policy.attempts:
                    raise DownloadError(
                        f"The result file download kept failing ({_why(exc)}): got {target.size} of "
                        f"{target.total if target.total is not None else 'unknown'} bytes after {failures} "
                        "attempts in a row. Check your connection and run again (the job result is kept by "
                        "fal for a while).",
                        request_id=request_id,
                    ) from exc
                retry_after = exc.retry_after if isinstance(exc, _Retryable) else None
                reason = f"download interrupted at {target.size} bytes ({_why(exc)})"
                await self._http.backoff(
                    "download", url, failures, policy.delay(failures, retry_after), reason
                )

    async def _attempt(self, url: str, target: _Target, progress: Progress, request_id: str | None) -> None:
        """One GET (ranged when resuming). Returns when the file is complete; raises to resume or fail."""
        headers = {"Accept-Encoding": "identity"}
        if target.size and not target.resumable:
            await target.restart()
        if target.size:
            headers["Range"] = f"bytes={target.size}-"
        async with self._http.stream(
            "GET", url, auth=Auth.NONE, headers=headers, follow_redirects=True
        ) as resp:
            if resp.status_code == 416 and target.total is not None and target.size == target.total:
                return
            if resp.status_code == 206 and (span := _content_range(resp.headers.get("content-range"))):
                start, target.total = span
                if start != target.size:
                    await target.restart()
                    raise _Incomplete(f"server resumed at byte {start}, not {target.size}")
            elif resp.status_code == 200:
                if target.size:
                    log.info("server ignored the Range request; downloading from the start")
                    await target.restart()
                target.total = _length(resp)
            else:
                resp = await _error_answer(resp)
                if should_retry_response(resp, CallKind.IDEMPOTENT):
                    raise _Retryable(resp)
                raise _http_failure(resp, url, request_id)
            if resp.headers.get("content-encoding", "identity").lower() != "identity":
                # compressed despite Accept-Encoding: identity: the length is not the file's,
                # offsets can't resume
                target.total, target.resumable = None, False
            progress.total = target.total
            progress_part = progress.counter()
            progress_part(target.size)
            async for chunk in resp.aiter_bytes():
                await target.write(chunk)
                progress_part(len(chunk))
        if target.total is not None and target.size < target.total:
            raise _Incomplete(f"body ended at {target.size} of {target.total} bytes")
        if target.total is not None and target.size > target.total:
            await target.restart()
            raise _Incomplete(f"server sent more than the advertised {target.total} bytes")


class _Retryable(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.retry_after = parse_retry_after(response.headers.get("retry-after"))


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, (_Incomplete, _Retryable)) else type(exc).__name__


def _check_url(url: object, request_id: str | None) -> None:
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else None
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise DownloadError(
            f"Cannot download {str(url)[:80]!r}: only http(s) URLs are supported.", request_id=request_id
        )


def _saving_failed(
    exc: OSError, target: _Target, request_id: str | None, endpoint_id: str | None
) -> LocalStorageError:
    """The result could not be written locally: the job is paid and its result stays on fal for a while."""
    if request_id:
        then = (
            f"run the same generation again: the fal job {request_id} is finished and paid for, and fal "
            "keeps its result for a while, so it is downloaded at no new charge. Or recover it by its id: "
            f"`fal-avatar fetch {request_id} --endpoint {endpoint_id or '<its endpoint id>'}` "
            "(in ComfyUI: the 'fal Avatar: Fetch Result' node)."
        )
    else:
        then = "download it again."
    return LocalStorageError.from_os_error(
        exc,
        action="Saving the result video",
        path=target.dest.parent,
        then=then,
        needed_bytes=target.total,
        request_id=request_id,
    )


def _http_failure(response: httpx.Response, url: str, request_id: str | None) -> DownloadError:
    status = response.status_code
    detail = detail_text(response)
    advice = (
        "The file is gone (fal's CDN files expire); run the job again."
        if status in (404, 410)
        else "Try again; if it keeps failing, the file may be restricted or expired."
    )
    error = ResultFileGoneError if status in (404, 410) else DownloadError
    return error(
        f"Downloading the result file from {httpx.URL(url).host} failed with HTTP {status}"
        f"{f' ({detail})' if detail else ''}. {advice}",
        status=status,
        request_id=request_id or response.headers.get("x-fal-request-id"),  # the job's id: what `fetch` needs
    )


async def _error_answer(response: httpx.Response) -> httpx.Response:
    """A download's error answer, its body read up to ``SMALL_ANSWER`` (what is past it, or too slow, is
    dropped: only the status and the start of fal's message matter)."""
    chunks: list[bytes] = []

    async def read() -> None:
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk[: SMALL_ANSWER.max_bytes - size])
            size += len(chunks[-1])
            if size >= SMALL_ANSWER.max_bytes:
                return

    try:
        await within(SMALL_ANSWER.deadline_s, read())
    except asyncio.TimeoutError:
        pass
    return buffered(response, b"".join(chunks))
