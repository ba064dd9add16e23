"""fal's model catalogue: the Platform API "Model search" in find mode (https://docs.fal.ai/platform-apis/v1/models).

``GET {FAL_API_URL}/v1/models?endpoint_id=<id>&endpoint_id=<id>…`` (1..50 ids a call) answers
``{"models": [{"endpoint_id", "metadata": {"status": "active" | "deprecated", "display_name", …}}, …],
"next_cursor", "has_more"}``. An id fal does not list is simply missing from ``models``. The key is optional
there ("Providing an API key grants higher rate limits"): it is sent as for the request history, and when
there is no key, or fal refuses it, the lookup is made without one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AuthError, FalServerError, MissingKeyError
from .http import Auth, FalHttp
from .http_errors import json_object

MODELS_PATH = "/v1/models"
IDS_PER_CALL = 50  # the API's maximum
ACTIVE, DEPRECATED = "active", "deprecated"


@dataclass(frozen=True)
class CatalogueEntry:
    """One endpoint as fal's catalogue lists it (``status``: active or deprecated, as fal says)."""

    endpoint_id: str
    status: str
    display_name: str = ""


async def fetch_catalogue(http: FalHttp, api_url: str, endpoint_ids: list[str]) -> dict[str, CatalogueEntry]:
    """The catalogue entries of ``endpoint_ids`` that fal lists (an id missing from the result is not in fal's
    catalogue; an entry without a status counts as active). Raises ``FalAvatarError`` when the catalogue
    cannot be read."""
    found: dict[str, CatalogueEntry] = {}
    for start in range(0, len(endpoint_ids), IDS_PER_CALL):
        batch = endpoint_ids[start : start + IDS_PER_CALL]
        page = await _find(http, f"{api_url}{MODELS_PATH}", batch)
        found.update(_entries(page, set(batch)))
    return found


async def _find(http: FalHttp, url: str, ids: list[str]) -> dict:
    params = {"endpoint_id": ids, "limit": str(len(ids))}
    what = "the model catalogue lookup"
    try:
        response = await http.call("GET", url, what=what, params=params)
    except (MissingKeyError, AuthError):  # the catalogue is public: ask again without a key
        response = await http.call("GET", url, what=what, params=params, auth=Auth.NONE)
    return json_object(response, what=what, request_id=None)


def _entries(page: dict, wanted: set[str]) -> dict[str, CatalogueEntry]:
    models = page.get("models")
    if not isinstance(models, list):
        raise FalServerError(
            "fal's model catalogue answered without a 'models' list; fal may have changed its format.",
            status=200,
        )
    entries: dict[str, CatalogueEntry] = {}
    for item in models:
        if not isinstance(item, dict) or item.get("endpoint_id") not in wanted:
            continue
        metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        entries[item["endpoint_id"]] = CatalogueEntry(
            item["endpoint_id"],
            str(metadata.get("status") or ACTIVE),
            str(metadata.get("display_name") or ""),
        )
    return entries
