"""Protocol objects of fal's queue: endpoint ids, request handles, statuses, cancel outcomes.

Follows fal's queue API (https://docs.fal.ai/model-endpoints/queue) and fal-client 1.0.3
(``AppId.from_endpoint_id``): submit goes to the full endpoint id, status/result/cancel only to
``[namespace/]owner/alias``; only IN_QUEUE / IN_PROGRESS / COMPLETED exist; a failure is COMPLETED + error.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import FalServerError, InputError

APP_NAMESPACES = ("workflows", "comfy")
_LEGACY_APP_ID = re.compile(r"^([0-9]+)-([a-zA-Z0-9-]+)$")
STATES = ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")


@dataclass(frozen=True)
class AppId:
    """A parsed endpoint id ``[namespace/]owner/alias[/path...]`` (fal-client ``AppId.from_endpoint_id``)."""

    owner: str
    alias: str
    path: str | None = None
    namespace: str | None = None

    @classmethod
    def parse(cls, endpoint_id: str) -> AppId:
        raw = endpoint_id.strip().strip("/")
        if "/" not in raw:
            legacy = _LEGACY_APP_ID.match(raw)
            if not legacy:
                raise InputError(
                    f"'{endpoint_id}' is not a fal endpoint id; expected 'owner/app[/path]', "
                    "e.g. 'fal-ai/infinitalk'",
                    field="endpoint_id",
                )
            raw = f"{legacy.group(1)}/{legacy.group(2)}"
        parts = raw.split("/")
        namespace = parts.pop(0) if parts[0] in APP_NAMESPACES else None
        if len(parts) < 2 or not all(parts):
            raise InputError(
                f"'{endpoint_id}' is not a fal endpoint id (owner/app missing)", field="endpoint_id"
            )
        return cls(owner=parts[0], alias=parts[1], path="/".join(parts[2:]) or None, namespace=namespace)

    @property
    def base(self) -> str:
        """``[namespace/]owner/alias``: the part status, result and cancel URLs use."""
        prefix = f"{self.namespace}/" if self.namespace else ""
        return f"{prefix}{self.owner}/{self.alias}"

    @property
    def full(self) -> str:
        """The full id including the sub-path: the part the submit URL uses."""
        return f"{self.base}/{self.path}" if self.path else self.base


@dataclass(frozen=True)
class QueueHandle:
    """Where a submitted job lives. URLs are the ones fal returned (owner/alias only)."""

    endpoint_id: str
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str

    @classmethod
    def for_request(cls, endpoint_id: str, request_id: str, queue_url: str) -> QueueHandle:
        """Rebuild the URLs of a known request id (re-attach after a restart), as fal-client does."""
        base = f"{queue_url.rstrip('/')}/{AppId.parse(endpoint_id).base}/requests/{request_id}"
        return cls(endpoint_id, request_id, f"{base}/status", base, f"{base}/cancel")

    def to_dict(self) -> dict[str, str]:
        return {
            "endpoint_id": self.endpoint_id,
            "request_id": self.request_id,
            "status_url": self.status_url,
            "response_url": self.response_url,
            "cancel_url": self.cancel_url,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueueHandle:
        return cls(
            endpoint_id=str(data["endpoint_id"]),
            request_id=str(data["request_id"]),
            status_url=str(data["status_url"]),
            response_url=str(data["response_url"]),
            cancel_url=str(data["cancel_url"]),
        )


@dataclass(frozen=True)
class LogEntry:
    message: str
    level: str = "INFO"
    timestamp: str | None = None

    @classmethod
    def from_json(cls, item: Any) -> LogEntry:
        if not isinstance(item, dict):
            return cls(message=str(item))
        return cls(
            message=str(item.get("message", "")),
            level=str(item.get("level") or "INFO"),
            timestamp=item.get("timestamp"),
        )


@dataclass(frozen=True)
class QueueStatus:
    """One status report. ``logs`` is cumulative when it comes from :meth:`FalClient.wait`."""

    state: str
    queue_position: int | None = None
    logs: tuple[LogEntry, ...] = ()
    metrics: dict = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    request_id: str | None = None

    @property
    def done(self) -> bool:
        return self.state == "COMPLETED"

    @property
    def failed(self) -> bool:
        return self.done and bool(self.error or self.error_type)

    @classmethod
    def from_json(cls, data: Any, *, request_id: str | None = None) -> QueueStatus:
        """Parse a status body; anything outside the three documented states is a protocol error."""
        state = data.get("status") if isinstance(data, dict) else None
        if state not in STATES:
            raise FalServerError(
                f"fal answered with an unknown job status {state!r} (expected one of {', '.join(STATES)}). "
                "This is a fal protocol problem, not your input; check the job on fal.ai/dashboard.",
                request_id=request_id,
            )
        position = data.get("queue_position")
        return cls(
            state=state,
            queue_position=position if isinstance(position, int) and state == "IN_QUEUE" else None,
            logs=tuple(LogEntry.from_json(item) for item in data.get("logs") or ()),
            metrics=dict(data.get("metrics") or {}),
            error=data.get("error") or None,
            error_type=data.get("error_type") or None,
            request_id=data.get("request_id") or request_id,
        )


class CancelOutcome(enum.Enum):
    """What fal said to a cancel request (these are outcomes, not errors)."""

    REQUESTED = "CANCELLATION_REQUESTED"
    ALREADY_COMPLETED = "ALREADY_COMPLETED"
    NOT_FOUND = "NOT_FOUND"
