"""Looking requests up in fal's request history, for a submit whose outcome is unknown.

fal's Platform API "List requests by endpoint" (https://docs.fal.ai/platform-apis/v1/models/requests/by-endpoint):
``GET {FAL_API_URL}/v1/models/requests/by-endpoint`` with ``Authorization: Key <key>``; query ``endpoint_id``
(required), ``start`` / ``end`` (ISO 8601; default the last 24 hours), ``limit`` (at most 100), ``cursor``;
answer ``{"items": [...], "next_cursor": ..., "has_more": ...}``. The same page documents ``expand=payloads``
to include the input and output payloads (``json_input`` / ``json_output``); without it they are absent.
fal keeps payloads for 30 days and not at all for requests sent with ``X-Fal-Store-IO: 0``
(https://docs.fal.ai/documentation/model-apis/media-expiration), so a record may have no ``json_input``.
The docs do not say whether requests that have not ended yet are listed: a request missing from the
answer may still be queued or running, so "not found" is weaker evidence than "found".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import ConfigError, FalAvatarError, RequestLookupUnavailableError
from ..settings import FalUrls
from .bounded import json_value
from .http import FalHttp
from .http_errors import detail_text

HISTORY_PATH = "/v1/models/requests/by-endpoint"
PAGE_SIZE = 100  # the API's maximum
MAX_PAGES = 20  # 2000 requests: more in the window makes the lookup inconclusive (an error), never partial


@dataclass(frozen=True)
class RequestRecord:
    """One request in fal's history. Times are UTC; ``None`` where fal gave none (e.g. not ended yet).
    ``json_input`` / ``json_output`` are ``None`` when fal has no payload for it."""

    request_id: str
    endpoint_id: str
    sent_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    status_code: int | None
    duration_s: float | None
    json_input: Any = None
    json_output: Any = None

    @classmethod
    def from_json(cls, item: dict) -> RequestRecord:
        """Parse one item of the answer (``ValueError`` when it has no request id)."""
        request_id = item.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise ValueError(f"a request history item without request_id: {str(item)[:120]}")
        return cls(
            request_id=request_id,
            endpoint_id=str(item.get("endpoint_id") or ""),
            sent_at=parse_time(item.get("sent_at")),
            started_at=parse_time(item.get("started_at")),
            ended_at=parse_time(item.get("ended_at")),
            status_code=_int_or_none(item.get("status_code")),
            duration_s=_float_or_none(item.get("duration")),
            json_input=item.get("json_input"),
            json_output=item.get("json_output"),
        )


@dataclass(frozen=True)
class ArgumentsMatch:
    """Which records were submitted with given arguments. ``unverifiable``: records without ``json_input``
    (fal stored no payload), which may or may not be the request looked for."""

    matches: tuple[RequestRecord, ...]  # newest first
    unverifiable: tuple[RequestRecord, ...]

    @property
    def best(self) -> RequestRecord | None:
        """The newest matching record."""
        return self.matches[0] if self.matches else None

    @property
    def conclusive(self) -> bool:
        """A match was found, or every record could be compared (so none matches)."""
        return bool(self.matches) or not self.unverifiable


def normalised_arguments(value: Any) -> Any:
    """The JSON meaning of ``value``, so that equal meanings compare equal: tuples become lists, whole floats
    become ints (fal may echo ``5.0`` as ``5``), and ``None``-valued fields are dropped (absent = null)."""
    return _normalise(json.loads(json.dumps(value)))


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def match_by_arguments(records: list[RequestRecord], arguments: dict) -> ArgumentsMatch:
    """The records whose ``json_input`` means the same as ``arguments`` (both normalised), newest first."""
    wanted = normalised_arguments(arguments)
    matches, unverifiable = [], []
    for record in records:
        if record.json_input is None:
            unverifiable.append(record)
        elif normalised_arguments(record.json_input) == wanted:
            matches.append(record)
    matches.sort(key=_sent_key, reverse=True)
    return ArgumentsMatch(tuple(matches), tuple(unverifiable))


def _sent_key(record: RequestRecord) -> float:
    return record.sent_at.timestamp() if record.sent_at else float("-inf")


class RequestHistory:
    """Reads fal's request history through the transport (key, retries, origin allow-list)."""

    def __init__(self, http: FalHttp, urls: Callable[[], FalUrls]) -> None:
        self._http = http
        self._urls = urls

    async def find(
        self, endpoint_id: str, *, since: datetime, until: datetime, page_size: int = PAGE_SIZE
    ) -> list[RequestRecord]:
        """Every request of ``endpoint_id`` in ``[since, until)``, following pagination (at most
        ``MAX_PAGES``).

        Raises :class:`RequestLookupUnavailableError` when the history cannot be read completely.
        """
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{PAGE_SIZE} (got {page_size})")
        api = self._urls().api
        url = f"{api}{HISTORY_PATH}"
        params = {
            "endpoint_id": endpoint_id,
            "start": iso_utc(since),
            "end": iso_utc(until),
            "limit": str(page_size),
            "expand": "payloads",
        }
        records: list[RequestRecord] = []
        for _ in range(MAX_PAGES):
            page = await self._page(url, params, api)
            try:
                records.extend(RequestRecord.from_json(item) for item in page["items"])
            except (ValueError, TypeError, AttributeError) as exc:
                raise _unavailable(f"its answer could not be read ({exc})", api) from None
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return records
            params["cursor"] = str(cursor)
        raise _unavailable(
            f"more than {MAX_PAGES * page_size} requests of {endpoint_id} fall in the time window, so the "
            "lookup would be incomplete",
            api,
        )

    async def _page(self, url: str, params: dict, api: str) -> dict:
        try:
            response = await self._http.call("GET", url, what="request history lookup", params=params)
        except ConfigError:
            raise  # no key, or a URL setting that is wrong: the user must fix that first
        except FalAvatarError as exc:
            raise _failed(exc, api) from None
        try:
            page = json_value(response)
        except ValueError:
            page = None
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise _unavailable(
                f"its answer is not a request list (HTTP {response.status_code}: "
                f"{detail_text(response)[:120]})",
                api,
            )
        return page


def _unavailable(why: str, api: str, **facts) -> RequestLookupUnavailableError:
    return RequestLookupUnavailableError(
        f"fal's request history ({api}) could not be read: {why}. Whether fal has the job is unknown; check "
        "https://fal.ai/dashboard (Requests) before submitting again.",
        **facts,
    )


def _failed(exc: FalAvatarError, api: str) -> RequestLookupUnavailableError:
    status = exc.status
    facts = {"status": status, "error_type": exc.error_type}
    if status == 401:
        why = "fal rejected the key"
    elif status == 403:
        why = (
            "the key is not allowed to read it (fal's Platform API answers 403 when a key lacks the scope an "
            "API needs; an ADMIN-scope key from https://fal.ai/dashboard/keys may be required)"
        )
    elif status == 404:
        why = "the route was not found (check FAL_API_URL)"
    elif status == 429:
        why = "fal is rate-limiting the lookup"
    elif status is not None and status >= 500:
        why = f"fal's Platform API failed (HTTP {status})"
    elif status is not None:
        why = f"fal answered HTTP {status}"
    else:
        why = f"fal could not be reached ({exc.message})"
    return _unavailable(why, api, **facts)


def iso_utc(moment: datetime) -> str:
    """``2025-01-01T00:00:00.000Z`` (a timezone-aware time, in UTC)."""
    if moment.tzinfo is None:
        raise ValueError("request history times must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_FRACTION = re.compile(r"(\.\d+)")


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time from fal (``Z`` or an offset; a date alone means midnight UTC), or ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = _FRACTION.sub(
        lambda m: m.group(1)[:7].ljust(7, "0"), text, count=1
    )  # Python 3.10 wants 3 or 6 digits
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
