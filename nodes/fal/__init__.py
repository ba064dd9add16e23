"""fal transport: async httpx client for fal's queue, storage and result files (no ComfyUI imports)."""

from .client import FalClient
from .http import Timeouts
from .models import AppId, CancelOutcome, LogEntry, QueueHandle, QueueStatus
from .retry import RetryEvent, RetryPolicy
from .upload import DATA_URI_MAX_BYTES, MULTIPART_THRESHOLD, data_uri
from .waiter import PollSchedule

__all__ = [
    "DATA_URI_MAX_BYTES",
    "MULTIPART_THRESHOLD",
    "AppId",
    "CancelOutcome",
    "FalClient",
    "LogEntry",
    "PollSchedule",
    "QueueHandle",
    "QueueStatus",
    "RetryEvent",
    "RetryPolicy",
    "Timeouts",
    "data_uri",
]
