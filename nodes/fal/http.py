"""The HTTP layer: authorization per host, per-call timeouts, retries and error mapping.

The fal key goes only to the configured queue, REST and Platform API origins (scheme, host and port
compared); CDN calls carry the CDN token; signed PUT URLs and file downloads carry no Authorization at all.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..credentials import Credentials
from ..errors import (
    ConfigError,
    FalAvatarError,
    FalTimeoutError,
    SubmitOutcomeUnknownError,
    UnreadableAnswerError,
)
from ..settings import FalUrls
from .bounded import QUEUE_ANSWER, AnswerTooLarge, ReadLimit, buffered, read_body, within
from .http_errors import error_from_response, transport_error
from .pool import ClientPool
from .retry import (
    CallKind,
    RetryEvent,
    RetryPolicy,
    never_sent,
    parse_retry_after,
    should_retry_exception,
    should_retry_response,
)

log = logging.getLogger(__name__)

# A request body: bytes, or a factory of a fresh async byte stream (so a retry can send it again).
Body = bytes | Callable[[], AsyncIterator[bytes]] | None


class Auth(enum.Enum):
    FAL_KEY = "fal_key"  # "Authorization: Key <key>", queue, REST and Platform API origins only
    BEARER = "bearer"  # "Authorization: Bearer <cdn token>"
    NONE = "none"  # signed URLs, file downloads


@dataclass(frozen=True)
class Timeouts:
    """Per-call timeouts. There is no total limit on transfers, only on silence."""

    queue: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(120.0, connect=10.0))
    transfer: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(300.0, connect=10.0))
    stream_idle_s: float = 40.0  # SSE: fal sends a keep-alive comment every 15 s


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parsed = httpx.URL(str(url))
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, parsed.host, port


class FalHttp:
    """Sends one logical call (with retries) through the current loop's pool."""

    def __init__(
        self,
        pool: ClientPool,
        *,
        credentials: Callable[[], Credentials],
        urls: Callable[[], FalUrls],
        retry: RetryPolicy,
        timeouts: Timeouts,
        on_retry: Callable[[RetryEvent], Any] | None = None,
    ) -> None:
        self._pool = pool
        self._credentials = credentials
        self._urls = urls
        self.retry = retry
        self.timeouts = timeouts
        self._on_retry = on_retry

    # --- headers -------------------------------------------------------------------------------

    def _authorization(self, url: str, auth: Auth, bearer: str | None) -> dict[str, str]:
        if auth is Auth.NONE:
            return {}
        if auth is Auth.BEARER:
            return {"Authorization": f"Bearer {bearer}"}
        urls = self._urls()
        if origin(url) not in (origin(urls.queue), origin(urls.rest), origin(urls.api)):
            target = httpx.URL(url).copy_with(path="/", query=None, fragment=None)
            raise ConfigError(
                f"Refusing to send the fal key to {target}: it is not the configured queue ({urls.queue}), "
                f"REST ({urls.rest}) or Platform API ({urls.api}) host. If fal moved, set FAL_QUEUE_URL / "
                "FAL_REST_URL / FAL_API_URL accordingly."
            )
        return {"Authorization": self._credentials().header_value()}

    def scrub(self, err: FalAvatarError) -> FalAvatarError:
        """Belt and braces: no error text may ever contain the key, even if a server echoed it."""
        try:
            key = self._credentials().key
        except FalAvatarError:
            return err
        return err.redact(key) if key and key in err.message else err

    def _request(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        auth: Auth,
        bearer: str | None,
        params: dict | None,
        json: Any,
        body: Body,
        headers: dict | None,
        timeout: httpx.Timeout,
    ) -> httpx.Request:
        merged = {**(headers or {}), **self._authorization(url, auth, bearer)}
        content = body() if callable(body) else body
        return client.build_request(
            method, url, params=params, json=json, content=content, headers=merged, timeout=timeout
        )

    # --- calls ---------------------------------------------------------------------------------

    async def backoff(self, what: str, url: str, attempt: int, delay: float, reason: str) -> None:
        """Report a retry (log + ``on_retry``) and sleep ``delay`` seconds."""
        log.info("fal %s: %s; retry %d/%d in %.2fs", what, reason, attempt, self.retry.attempts - 1, delay)
        if self._on_retry is not None:
            bare = url.split("?", 1)[0]  # signed URLs carry their signature in the query
            self._on_retry(RetryEvent(what=what, url=bare, attempt=attempt, delay_s=delay, reason=reason))
        await asyncio.sleep(delay)

    async def call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        kind: CallKind = CallKind.IDEMPOTENT,
        auth: Auth = Auth.FAL_KEY,
        bearer: str | None = None,
        params: dict | None = None,
        json: Any = None,
        body: Body = None,
        headers: dict | None = None,
        timeout: httpx.Timeout | None = None,
        request_id: str | None = None,
        outcomes: tuple[int, ...] = (),
        limit: ReadLimit | None = None,
    ) -> httpx.Response:
        """One logical call. Returns a 2xx response (or one whose status is in ``outcomes``), read in full
        within ``limit`` (its size and overall deadline; a submit's or an upload's deadline counts from the
        answer's headers, as the time to send depends on the request)."""
        timeout = timeout or self.timeouts.queue
        limit = limit or QUEUE_ANSWER
        attempt = 0
        while True:
            attempt += 1
            client = self._pool.client()
            request = self._request(
                client,
                method,
                url,
                auth=auth,
                bearer=bearer,
                params=params,
                json=json,
                body=body,
                headers=headers,
                timeout=timeout,
            )
            try:
                response = await _exchange(
                    client, request, limit, answer_only=callable(body) or kind is CallKind.SUBMIT
                )
            except asyncio.TimeoutError:
                bare = url.split("?", 1)[0]
                if kind is CallKind.SUBMIT:
                    why = f"its answer did not finish within {limit.deadline_s:g} s"
                    raise self.scrub(_submit_unknown(what, why)) from None
                if attempt >= self.retry.attempts:
                    raise self.scrub(
                        FalTimeoutError(
                            f"fal's answer was too slow ({what}: {bare} did not finish answering within "
                            f"{limit.deadline_s:g} s). Check your connection and try again.",
                            request_id=request_id,
                        )
                    ) from None
                await self.backoff(what, url, attempt, self.retry.delay(attempt), "answer too slow")
                continue
            except AnswerTooLarge as exc:
                if kind is CallKind.SUBMIT:
                    raise self.scrub(_submit_unknown(what, f"its answer was too large ({exc})")) from None
                raise self.scrub(
                    UnreadableAnswerError(
                        f"fal's answer was too large ({what}: {url.split('?', 1)[0]} sent {exc}; the "
                        "connection was closed). This is not what fal sends; try again later.",
                        request_id=request_id,
                    )
                ) from None
            except httpx.TransportError as exc:
                if kind is CallKind.SUBMIT and not never_sent(exc):
                    raise self.scrub(_submit_unknown(what, type(exc).__name__)) from exc
                if attempt >= self.retry.attempts or not should_retry_exception(exc, kind):
                    raise self.scrub(transport_error(exc, what=what, url=url, request_id=request_id)) from exc
                reason = f"{type(exc).__name__}"
                await self.backoff(what, url, attempt, self.retry.delay(attempt), reason)
                continue
            if response.is_success or response.status_code in outcomes:
                return response
            if attempt < self.retry.attempts and should_retry_response(response, kind):
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                reason = f"HTTP {response.status_code}"
                await self.backoff(what, url, attempt, self.retry.delay(attempt, retry_after), reason)
                continue
            raise self.scrub(error_from_response(response, what=what, request_id=request_id))

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        auth: Auth = Auth.NONE,
        params: dict | None = None,
        headers: dict | None = None,
        timeout: httpx.Timeout | None = None,
        follow_redirects: bool = False,
    ) -> AsyncIterator[httpx.Response]:
        """One streamed attempt (no retries: the caller resumes or reconnects). Always closed on exit."""
        client = self._pool.client()
        request = self._request(
            client,
            method,
            url,
            auth=auth,
            bearer=None,
            params=params,
            json=None,
            body=None,
            headers=headers,
            timeout=timeout or self.timeouts.transfer,
        )
        response = await client.send(request, stream=True, follow_redirects=follow_redirects)
        try:
            yield response
        finally:
            await response.aclose()


async def _exchange(
    client: httpx.AsyncClient, request: httpx.Request, limit: ReadLimit, *, answer_only: bool
):
    """Send ``request`` and read its whole answer within ``limit`` (asyncio.TimeoutError past the deadline,
    AnswerTooLarge past the size); with ``answer_only`` the deadline starts once the headers arrived."""

    async def read(response: httpx.Response) -> httpx.Response:
        try:
            return buffered(response, await read_body(response, limit.max_bytes))
        finally:
            await response.aclose()

    async def send_and_read() -> httpx.Response:
        return await read(await client.send(request, stream=True))

    if answer_only:
        response = await client.send(request, stream=True)
        try:
            return await within(limit.deadline_s, read(response))
        finally:
            await response.aclose()
    return await within(limit.deadline_s, send_and_read())


def _submit_unknown(what: str, why: str) -> SubmitOutcomeUnknownError:
    return SubmitOutcomeUnknownError(
        f"The {what} request reached fal but no answer came back ({why}). A job may exist on "
        "fal and may be billed; it was NOT sent again, so nothing was duplicated. Check your request history "
        "at https://fal.ai/dashboard (Requests) before running again; if the job is there, re-attach to it "
        "by its request id instead of submitting a new one."
    )
