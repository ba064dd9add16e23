"""fal's published OpenAPI document of one endpoint: ``GET <FAL_OPENAPI_URL>?endpoint_id=<id>``.

The document is public and lives on fal's website, not on the queue or REST hosts, so it is fetched
without any Authorization header. A 404 means fal no longer lists the endpoint.
"""

from __future__ import annotations

from typing import Any

from ..errors import UnreadableAnswerError
from .bounded import SCHEMA, NotJson, json_value
from .http import Auth, FalHttp


async def fetch_openapi(http: FalHttp, base_url: str, endpoint_id: str) -> dict[str, Any] | None:
    """The endpoint's OpenAPI document, or ``None`` when fal answers 404 (the endpoint is not listed).
    Read within ``bounded.SCHEMA``; UnreadableAnswerError when the answer is not a JSON object."""
    response = await http.call(
        "GET",
        base_url,
        what=f"OpenAPI document of {endpoint_id}",
        auth=Auth.NONE,
        params={"endpoint_id": endpoint_id},
        headers={"Accept": "application/json"},
        outcomes=(404,),
        limit=SCHEMA,
    )
    if response.status_code == 404:
        return None
    try:
        document = json_value(response)
    except NotJson as exc:
        reason = str(exc)
    else:
        if isinstance(document, dict):
            return document
        reason = f"it is a JSON {type(document).__name__}, not an object"
    raise UnreadableAnswerError(
        f"fal's answer was not a schema ({response.request.url}: {reason})", status=response.status_code
    )
