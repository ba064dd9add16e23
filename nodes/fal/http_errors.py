"""Turn a failed HTTP answer (or a network failure) into a typed error a ComfyUI user can act on."""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import (
    AccountLockedError,
    AuthError,
    FalAvatarError,
    FalHTTPError,
    FalServerError,
    FalTimeoutError,
    FalValidationError,
    NotFoundError,
    RateLimitedError,
)
from .bounded import json_value

MAX_DETAIL_CHARS = 600


def _body(response: httpx.Response) -> Any:
    try:
        return json_value(response)
    except ValueError:
        return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


def render_detail_item(item: Any) -> str:
    """One FastAPI/pydantic detail entry as ``field: message`` (``num_frames: Input should be ...``)."""
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc") or () if part != "body"]
    message = str(item.get("msg") or item.get("message") or item.get("type") or item)
    return f"{'.'.join(loc)}: {message}" if loc else message


def detail_text(response: httpx.Response) -> str:
    """fal's ``detail`` (string or list) or the raw body, shortened; empty if there is nothing useful."""
    body = _body(response)
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):
            return _short("; ".join(render_detail_item(item) for item in detail))
        return _short(str(detail))
    return _short(response.text) if response.text.strip() else ""


def error_type_of(response: httpx.Response) -> str | None:
    body = _body(response)
    if isinstance(body, dict) and body.get("error_type"):
        return str(body["error_type"])
    return response.headers.get("x-fal-error-type") or None


def error_from_response(
    response: httpx.Response, *, what: str, request_id: str | None = None
) -> FalAvatarError:
    """Map a non-2xx answer to the matching :mod:`..errors` class (the body must have been read)."""
    status = response.status_code
    detail = detail_text(response)
    said = f" fal said: {detail}" if detail else ""
    facts: dict[str, Any] = {
        "status": status,
        "error_type": error_type_of(response),
        "request_id": response.headers.get("x-fal-request-id") or request_id,
    }
    if status == 401:
        return AuthError(
            f"fal rejected the API key ({what}).{said} Check FAL_KEY (or FAL_KEY_ID/FAL_KEY_SECRET) or the "
            "key saved in Settings → fal avatar; keys are made at https://fal.ai/dashboard/keys.",
            **facts,
        )
    if status == 403:
        return AccountLockedError(
            f"fal refused {what}: the account is locked.{said} Top up your balance at "
            "https://fal.ai/dashboard/billing (or contact support@fal.ai if it is locked for another "
            "reason).",
            **facts,
        )
    if status == 422:
        body = _body(response)
        items = body.get("detail") if isinstance(body, dict) else None
        if isinstance(items, str):
            items = [{"loc": ["body"], "msg": items, "type": "value_error"}]
        return FalValidationError(
            f"fal rejected the arguments ({what}): {detail or 'no details given'}. Fix the input and run "
            "again; nothing was charged.",
            items=items if isinstance(items, list) else [],
            **facts,
        )
    if status == 404:
        return NotFoundError(
            f"fal could not find this ({what}).{said} Check the endpoint id; results and files expire "
            "(fal keeps queue results for about 1 hour).",
            **facts,
        )
    if status == 429:
        return RateLimitedError(
            f"fal is rate-limiting requests ({what}) and did not clear within the retry budget.{said} "
            "Wait a minute and run again.",
            **facts,
        )
    if status == 504 and "x-fal-request-timeout-type" in response.headers:
        return FalTimeoutError(
            f"The job did not start within the requested start timeout ({what}).{said} Try again later.",
            **facts,
        )
    if status == 408:
        return FalTimeoutError(f"fal timed out waiting for the request ({what}).{said} Try again.", **facts)
    if status >= 500:
        return FalServerError(
            f"fal had a server error ({what}).{said} This is on fal's side and failed requests are not "
            "billed; try again in a moment.",
            **facts,
        )
    return FalHTTPError(f"fal answered HTTP {status} ({what}).{said}", **facts)


def endpoint_not_found(response: httpx.Response, endpoint_id: str) -> NotFoundError:
    """404 on a submit: fal does not know the endpoint (no job was created, nothing was charged)."""
    detail = detail_text(response)
    said = f" fal said: {detail}" if detail else ""
    return NotFoundError(
        f"fal has no endpoint {endpoint_id} (HTTP 404 on submit): fal may have retired or renamed it. "
        f"Nothing was charged.{said} Run `fal-avatar doctor` (or Settings → fal avatar → Check fal "
        "endpoints) to see which endpoints fal still lists, and update comfyui-fal-avatar.",
        status=response.status_code,
        error_type=error_type_of(response),
        request_id=response.headers.get("x-fal-request-id"),
    )


def transport_error(exc: httpx.TransportError, *, what: str, url: str, request_id: str | None = None):
    """A network failure that outlasted the retries (never includes headers, so never the key)."""
    origin = httpx.URL(url).copy_with(path="/", query=None, fragment=None)
    if isinstance(exc, httpx.TimeoutException):
        return FalTimeoutError(
            f"fal did not answer in time ({what}, {type(exc).__name__} at {origin}). Check your connection "
            "and try again.",
            request_id=request_id,
        )
    return FalAvatarError(
        f"Could not reach fal ({what}) at {origin}: {type(exc).__name__}: {exc or 'connection failed'}. "
        "Check your internet connection (and FAL_QUEUE_URL / FAL_REST_URL / FAL_CDN_URL / FAL_API_URL if you "
        "set them).",
        request_id=request_id,
    )


def json_object(response: httpx.Response, *, what: str, request_id: str | None) -> dict:
    """The answer's JSON object, else a FalServerError saying what was asked."""
    try:
        data = json_value(response)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise FalServerError(
            f"fal answered {what} with something that is not a JSON object (HTTP {response.status_code}). "
            "This is a fal-side problem; try again.",
            status=response.status_code,
            request_id=request_id,
        )
    return data
