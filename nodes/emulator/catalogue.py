"""fal's Platform API "Model search" (``GET /v1/models``, https://docs.fal.ai/platform-apis/v1/models) over
the emulated endpoints.

Query: ``endpoint_id`` (repeatable, 1..50 ids: "find mode"), ``q`` (free text over id, name and category),
``category``, ``status`` (active | deprecated), ``limit`` (≥ 1, default 50 here), ``cursor`` (base64 of the
page number, as fal's example ``Mg==``) and ``expand=openapi-3.0`` (the endpoint's OpenAPI document in an
``openapi`` field). Answer: ``{"models": [{"endpoint_id", "metadata": {display_name, category, description,
status, tags, updated_at, is_favorited, thumbnail_url, model_url, date, highlighted, pinned}}, ...],
"next_cursor", "has_more"}``. The key is optional (fal: "Providing an API key grants higher rate limits").

Every emulated endpoint is listed ``active`` except those fal removed from its catalogue (StableAvatar): an
absent endpoint is simply missing from the answer (what fal answers for an unknown id is not documented; an
empty list is the emulator's choice). Tests can mark any endpoint deprecated or absent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from .models import MODELS, Model

ACTIVE, DEPRECATED, ABSENT = "active", "deprecated", "absent"
STATUSES = (ACTIVE, DEPRECATED, ABSENT)
MAX_IDS, DEFAULT_LIMIT = 50, 50
OPENAPI_EXPANSION = "openapi-3.0"


class _QueryError(ValueError):
    def __init__(self, name: str, type_: str, message: str, value: Any, ctx: dict | None = None) -> None:
        super().__init__(message)
        self.item = {"type": type_, "loc": ["query", name], "msg": message, "input": value}
        if ctx:
            self.item["ctx"] = ctx


def search_models(
    query: dict[str, list[str]],
    statuses: dict[str, str],
    base_url: str,
    document: Callable[[str], dict | None],
) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` of one page; ``statuses`` maps endpoint ids to active / deprecated / absent."""
    try:
        ids = _ids(query.get("endpoint_id", []))
        status = _status(_last(query, "status"))
        limit = _limit(_last(query, "limit"))
        page = _page(_last(query, "cursor"))
    except _QueryError as exc:
        return 422, {"detail": [exc.item]}
    text = (_last(query, "q") or "").strip().lower()
    category = _last(query, "category")
    expand = {part.strip() for value in query.get("expand", []) for part in value.split(",")}
    chosen = [
        model
        for model in sorted(MODELS, key=lambda m: m.endpoint_id)
        if statuses.get(model.endpoint_id, ACTIVE) != ABSENT
        and (not ids or model.endpoint_id in ids)
        and (status is None or statuses.get(model.endpoint_id, ACTIVE) == status)
        and (not category or model.category == category)
        and (not text or text in f"{model.endpoint_id} {model.display_name} {model.category}".lower())
    ]
    first = (page - 1) * limit
    has_more = first + limit < len(chosen)
    entries = []
    for model in chosen[first : first + limit]:
        entry = _entry(model, statuses.get(model.endpoint_id, ACTIVE), base_url)
        if OPENAPI_EXPANSION in expand:
            entry["openapi"] = document(model.endpoint_id)
        entries.append(entry)
    next_cursor = base64.b64encode(str(page + 1).encode()).decode() if has_more else None
    return 200, {"models": entries, "next_cursor": next_cursor, "has_more": has_more}


def _entry(model: Model, status: str, base_url: str) -> dict[str, Any]:
    return {
        "endpoint_id": model.endpoint_id,
        "metadata": {
            "display_name": model.display_name,
            "category": model.category,
            "description": f"{model.display_name} ({model.category}), served by the fal emulator.",
            "status": status,
            "tags": [],
            "updated_at": model.published,
            "is_favorited": False,
            "thumbnail_url": f"{base_url}/models/{model.endpoint_id}/thumbnail.jpg",
            "model_url": f"{base_url}/{model.endpoint_id}",
            "date": model.published,
            "highlighted": False,
            "pinned": False,
        },
    }


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _ids(values: list[str]) -> set[str]:
    ids = {value.strip().strip("/") for value in values if value.strip()}
    if len(ids) > MAX_IDS:
        raise _QueryError(
            "endpoint_id",
            "too_long",
            f"List should have at most {MAX_IDS} items after validation, not {len(ids)}",
            values,
            {"field_type": "List", "max_length": MAX_IDS, "actual_length": len(ids)},
        )
    return ids


def _status(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw not in (ACTIVE, DEPRECATED):
        raise _QueryError(
            "status",
            "enum",
            "Input should be 'active' or 'deprecated'",
            raw,
            {"expected": "'active' or 'deprecated'"},
        )
    return raw


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise _QueryError(
            "limit",
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            raw,
        ) from None
    if value < 1:
        raise _QueryError(
            "limit", "greater_than_equal", "Input should be greater than or equal to 1", value, {"ge": 1}
        )
    return value


def _page(raw: str | None) -> int:
    if not raw:
        return 1
    try:
        page = int(base64.b64decode(raw, validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _QueryError("cursor", "value_error", "Invalid cursor", raw) from None
    if page < 1:
        raise _QueryError("cursor", "value_error", "Invalid cursor", raw)
    return page
