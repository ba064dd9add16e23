"""fal's Platform API "List requests by endpoint" (``GET /v1/models/requests/by-endpoint``) over the
emulator's jobs: ``endpoint_id`` (required), ``start`` / ``end`` (ISO 8601 or a date; default the last 24
hours; end exclusive), ``limit`` (1..100, default 50), ``cursor`` (base64 of the page number, as fal's example
``Mg==``), ``expand=payloads`` for ``json_input`` (the submitted arguments) and ``json_output``. Newest end
first; requests not ended yet are listed first, with ``ended_at`` null (fal's docs do not say whether it lists
them).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, timezone
from typing import Any

from .jobs import HistoryEntry

DEFAULT_LIMIT, MAX_LIMIT = 50, 100


class QueryError(ValueError):
    """A bad query parameter, answered 422 like fal's FastAPI validation."""

    def __init__(self, name: str, message: str, kind: str = "value_error") -> None:
        super().__init__(message)
        self.item = {"type": kind, "loc": ["query", name], "msg": message, "input": None}


def list_requests(entries: list[HistoryEntry], query: dict[str, str], now: datetime) -> tuple[int, Any]:
    """``(status, body)`` of one page."""
    try:
        endpoint_id = query.get("endpoint_id", "").strip()
        if not endpoint_id:
            raise QueryError("endpoint_id", "Field required", "missing")
        limit = _limit(query.get("limit"))
        start = _time("start", query.get("start")) or now - timedelta(hours=24)
        end = _time("end", query.get("end")) or now
        page = _page(query.get("cursor"))
    except QueryError as exc:
        return 422, {"detail": [exc.item]}
    payloads = "payloads" in {part.strip() for part in query.get("expand", "").split(",")}
    chosen = [e for e in entries if e.endpoint_id == endpoint_id and start <= e.sent_at < end]
    chosen.sort(key=lambda e: (e.ended_at or now + timedelta(days=1), e.sent_at), reverse=True)
    first = (page - 1) * limit
    has_more = first + limit < len(chosen)
    items = [_item(e, payloads) for e in chosen[first : first + limit]]
    next_cursor = base64.b64encode(str(page + 1).encode()).decode() if has_more else None
    return 200, {"items": items, "next_cursor": next_cursor, "has_more": has_more}


def _item(entry: HistoryEntry, payloads: bool) -> dict[str, Any]:
    item = {
        "request_id": entry.request_id,
        "endpoint_id": entry.endpoint_id,
        "sent_at": _iso(entry.sent_at),
        "started_at": _iso(entry.started_at),
        "ended_at": _iso(entry.ended_at),
        "status_code": entry.status_code,
        "duration": round((entry.ended_at - entry.sent_at).total_seconds(), 3) if entry.ended_at else None,
    }
    if payloads:
        item.update(json_input=entry.arguments, json_output=entry.output)
    return item


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise QueryError("limit", "Input should be a valid integer", "int_parsing") from None
    if not 1 <= value <= MAX_LIMIT:
        raise QueryError("limit", f"Input should be between 1 and {MAX_LIMIT}")
    return value


def _time(name: str, raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(name, "Input should be an ISO 8601 date or time") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _page(raw: str | None) -> int:
    if not raw:
        return 1
    try:
        page = int(base64.b64decode(raw, validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise QueryError("cursor", "Invalid cursor") from None
    if page < 1:
        raise QueryError("cursor", "Invalid cursor")
    return page
