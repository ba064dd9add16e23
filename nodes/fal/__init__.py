"""fal transport: async httpx client for fal's queue, storage and result files (no ComfyUI imports)."""

from .client import FalClient
from .http import Timeouts
from .models import AppId, CancelOutcome, LogEntry, QueueHandle, QueueStatus
from .request_history import ArgumentsMatch, RequestRecord, match_by_arguments, normalised_arguments
from .retry import RetryEvent, RetryPolicy
from .upload import DATA_URI_MAX_BYTES, MULTIPART_THRESHOLD, data_uri
from .waiter import PollSchedule

__all__ = [
    "DATA_URI_MAX_BYTES",
    "MULTIPART_THRESHOLD",
    "AppId",
    "ArgumentsMatch",
    "CancelOutcome",
    "FalClient",
    "LogEntry",
    "PollSchedule",
    "QueueHandle",
    "QueueStatus",
    "RequestRecord",
    "RetryEvent",
    "RetryPolicy",
    "Timeouts",
    "data_uri",
    "match_by_arguments",
    "normalised_arguments",
]
