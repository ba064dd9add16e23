"""When to retry one HTTP call, and how long to wait before the next attempt.

Rules as in fal-client 1.0.3 (PyPI, ``fal_client/client.py``: ``_should_retry``, ``_is_ingress_error``):
idempotent calls retry transport errors, timeouts, 408/409/429 and ingress 502/503/504 (nginx body, no
``x-fal-request-id``). 4xx validation and 500 are never retried, nor is a 504 carrying
``X-Fal-Request-Timeout-Type`` (fal's start timeout ran out). Unlike fal-client, SUBMIT retries only what
provably created no job: a connection that was never established, 429, and ingress errors. A submit re-sent
after a read timeout can start a second paid job (fal's queue has no idempotency key).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({408, 409, 429})
INGRESS_STATUSES = frozenset({502, 503, 504})


class CallKind(enum.Enum):
    IDEMPOTENT = "idempotent"  # status, result, cancel, token, uploads, downloads
    SUBMIT = "submit"  # creates a paid job: never re-sent after an ambiguous failure


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff per HTTP call. ``attempts`` counts the first try."""

    attempts: int = 6
    base_s: float = 0.25
    cap_s: float = 10.0
    retry_after_cap_s: float = 30.0
    jitter: float = 0.5  # each delay is multiplied by uniform(1 - jitter, 1 + jitter)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based). Retry-After wins, capped."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap_s)
        raw = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return min(self.cap_s, raw * random.uniform(1 - self.jitter, 1 + self.jitter))


@dataclass(frozen=True)
class RetryEvent:
    """Reported to ``on_retry`` before each backoff sleep (for logs and UI: "fal busy, retrying")."""

    what: str
    url: str
    attempt: int
    delay_s: float
    reason: str


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date. ``None`` if absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def is_ingress_error(response: httpx.Response) -> bool:
    """A 502/503/504 from fal's front proxy: the request never reached an app (so no job exists)."""
    if response.status_code not in INGRESS_STATUSES or "x-fal-request-id" in response.headers:
        return False
    if "x-fal-request-timeout-type" in response.headers:
        return False
    return "nginx" in response.text.lower()


def should_retry_response(response: httpx.Response, kind: CallKind) -> bool:
    if "x-fal-request-timeout-type" in response.headers:
        return False
    if is_ingress_error(response) or response.status_code == 429:
        return True
    return kind is CallKind.IDEMPOTENT and response.status_code in RETRY_STATUSES


# The request never left this machine: no job can exist, whatever the call.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NEVER_RETRY = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def never_sent(exc: httpx.TransportError) -> bool:
    return isinstance(exc, _NOT_SENT)


def should_retry_exception(exc: httpx.TransportError, kind: CallKind) -> bool:
    if isinstance(exc, _NEVER_RETRY):
        return False
    return kind is CallKind.IDEMPOTENT or never_sent(exc)
