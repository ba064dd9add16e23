"""``FalClient``: the one object the rest of the pack uses to talk to fal (queue, storage, downloads).

Key, URLs and wait limits are resolved lazily at first use (a missing key raises ``MissingKeyError`` then,
not at construction). The client holds no loop-bound state: connections come from the pool of the
running event loop, so one instance may serve several ``asyncio.run`` loops in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ..credentials import Credentials, resolve_credentials
from ..settings import FalUrls, WaitLimits
from .catalogue import CatalogueEntry, fetch_catalogue
from .cdn_token import TokenManager
from .download import Downloader
from .http import FalHttp, Timeouts
from .models import AppId, CancelOutcome, QueueHandle, QueueStatus
from .openapi import fetch_openapi
from .pool import SHARED_POOL, ClientPool
from .probe import HostProbe, probe_host
from .queue import QueueApi
from .request_history import PAGE_SIZE, RequestHistory, RequestRecord
from .retry import RetryEvent, RetryPolicy
from .source import ProgressCallback
from .upload import Uploader
from .waiter import PollSchedule, Waiter


class FalClient:
    def __init__(
        self,
        credentials: Credentials | None = None,
        urls: FalUrls | None = None,
        limits: WaitLimits | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        poll: PollSchedule | None = None,
        use_stream: bool = True,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        pool: ClientPool | None = None,
    ) -> None:
        self._credentials = credentials
        self._urls = urls
        self._limits = limits
        self._poll = poll or PollSchedule()
        self._use_stream = use_stream
        self._pool = ClientPool(transport) if transport is not None else pool or SHARED_POOL
        self._http = FalHttp(
            self._pool,
            credentials=self._get_credentials,
            urls=self._get_urls,
            retry=retry or RetryPolicy(),
            timeouts=timeouts or Timeouts(),
            on_retry=on_retry,
        )
        self._queue = QueueApi(self._http, self._get_urls)
        self._tokens = TokenManager(self._http, lambda: self._get_urls().rest)
        self._uploader = Uploader(self._http, self._tokens, self._get_urls)
        self._downloader = Downloader(self._http)
        self._history = RequestHistory(self._http, self._get_urls)

    def __repr__(self) -> str:
        source = self._credentials.source if self._credentials else "unresolved"
        return f"FalClient(urls={self._urls!r}, key_source={source!r})"

    # --- lazily resolved settings --------------------------------------------------------------

    def _get_credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = resolve_credentials()
        return self._credentials

    def _get_urls(self) -> FalUrls:
        if self._urls is None:
            self._urls = FalUrls.from_env()
        return self._urls

    def _get_limits(self) -> WaitLimits:
        if self._limits is None:
            self._limits = WaitLimits.from_env()
        return self._limits

    @property
    def urls(self) -> FalUrls:
        """The base URLs in use (resolved from the environment at first use)."""
        return self._get_urls()

    # --- queue ---------------------------------------------------------------------------------

    async def submit(self, endpoint_id: str, arguments: dict, *, headers: dict | None = None) -> QueueHandle:
        """Create a job. Re-sent only when it provably created none (else ``SubmitOutcomeUnknownError``)."""
        return await self._queue.submit(endpoint_id, arguments, headers=headers)

    async def status(self, handle: QueueHandle, *, logs: bool = True) -> QueueStatus:
        return await self._queue.status(handle, logs=logs)

    async def wait(
        self, handle: QueueHandle, *, on_status: Callable[[QueueStatus], Any] | None = None
    ) -> QueueStatus:
        """Wait for COMPLETED (status stream, else polling). Raises on failure or an exceeded wait limit."""
        waiter = Waiter(
            self._queue,
            self._get_limits(),
            self._poll,
            use_stream=self._use_stream,
            stream_slots=self._pool.stream_slots,
        )
        return await waiter.wait(handle, on_status)

    async def result(self, handle: QueueHandle) -> dict:
        return await self._queue.result(handle)

    async def cancel(self, handle: QueueHandle) -> CancelOutcome:
        return await self._queue.cancel(handle)

    async def find_requests(
        self, endpoint_id: str, *, since: datetime, until: datetime, page_size: int = PAGE_SIZE
    ) -> list[RequestRecord]:
        """fal's history of ``endpoint_id`` requests sent in ``[since, until)`` (timezone-aware), with their
        input payloads where fal has them; see :mod:`.request_history`. Use ``match_by_arguments`` on the
        result.

        Raises ``RequestLookupUnavailableError`` when the history cannot be read (no permission, fal or
        network failure): that means "unknown", never "no job".
        """
        return await self._history.find(
            AppId.parse(endpoint_id).full, since=since, until=until, page_size=page_size
        )

    def endpoint_key(self, endpoint_id: str) -> str:
        """Where jobs of ``endpoint_id`` run: ``<queue URL>/<full endpoint id>`` (no key). Used to scope
        request keys, so jobs on an emulator or another fal host are never mistaken for each other."""
        return f"{self._get_urls().queue}/{AppId.parse(endpoint_id).full}"

    # --- files ---------------------------------------------------------------------------------

    async def file_exists(self, url: str) -> bool:
        """Whether an uploaded/result file URL still answers (no Authorization sent). Doubt means False."""
        return await self._downloader.exists(url)

    async def upload(
        self,
        data: bytes | Path,
        *,
        content_type: str,
        file_name: str,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """Upload bytes or a file (streamed from disk) to fal storage; returns its public URL."""
        return await self._uploader.upload(
            data, content_type=content_type, file_name=file_name, on_progress=on_progress
        )

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        on_progress: ProgressCallback | None = None,
        request_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> Path:
        """Download a result file to ``dest`` (atomically; resumed after drops; no Authorization).

        A failed local write raises ``LocalStorageError``; ``request_id`` / ``endpoint_id`` let its message
        say how to recover the paid result.
        """
        return await self._downloader.download(
            url, Path(dest), on_progress=on_progress, request_id=request_id, endpoint_id=endpoint_id
        )

    # --- health checks (read-only, never billed) -------------------------------------------------------

    async def verify_key(self) -> None:
        """One authenticated call fal does not bill (a CDN upload token). Raises ``AuthError`` (401),
        ``AccountLockedError`` (403) or a network error; returns when fal accepted the key."""
        await self._tokens.refresh(self._get_urls().cdn)

    async def openapi_document(self, openapi_url: str, endpoint_id: str) -> dict | None:
        """fal's public OpenAPI document of ``endpoint_id`` (no key sent); ``None`` when fal answers 404."""
        return await fetch_openapi(self._http, openapi_url, endpoint_id)

    async def model_catalogue(self, endpoint_ids: list[str]) -> dict[str, CatalogueEntry]:
        """fal's model catalogue entries of ``endpoint_ids`` (Platform API model search); an id missing from
        the result is not in fal's catalogue. See :mod:`.catalogue`."""
        return await fetch_catalogue(self._http, self._get_urls().api, endpoint_ids)

    async def probe(self, name: str, url: str) -> HostProbe:
        """Whether the host of ``url`` answers (no key sent), with the round-trip time."""
        return await probe_host(self._pool, name, url, self._http.timeouts)

    # --- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the current event loop's connection pool (the next call opens a new one)."""
        await self._pool.aclose()

    async def __aenter__(self) -> FalClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
