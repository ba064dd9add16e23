"""fal's published OpenAPI document of one endpoint: ``GET <FAL_OPENAPI_URL>?endpoint_id=<id>``.

The document is public and lives on fal's website, not on the queue or REST hosts, so it is fetched
without any Authorization header. A 404 means fal no longer lists the endpoint.
"""

from __future__ import annotations

from typing import Any

from .http import Auth, FalHttp
from .http_errors import json_object


async def fetch_openapi(http: FalHttp, base_url: str, endpoint_id: str) -> dict[str, Any] | None:
    """The endpoint's OpenAPI document, or ``None`` when fal answers 404 (the endpoint is not listed)."""
    response = await http.call(
        "GET",
        base_url,
        what=f"OpenAPI document of {endpoint_id}",
        auth=Auth.NONE,
        params={"endpoint_id": endpoint_id},
        headers={"Accept": "application/json"},
        outcomes=(404,),
    )
    if response.status_code == 404:
        return None
    return json_object(response, what=f"the request for the OpenAPI document of {endpoint_id}", request_id=None)
