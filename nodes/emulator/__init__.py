"""A loopback fal.ai emulator (queue, REST storage, CDN) with real rendering models, for tests and demos."""

from .jobs import Job
from .recorder import RecordedRequest
from .server import FalEmulator
from .storage import StoredFile

__all__ = ["FalEmulator", "Job", "RecordedRequest", "StoredFile"]
