"""A loopback fal.ai emulator (queue, REST storage, CDN on one port) with real rendering models.

Otherwise it behaves as fal's queue documentation (https://docs.fal.ai/model-endpoints/queue) and
fal-client 1.0.3 (PyPI) expect. Behaviour worth knowing when testing against it:

* App-level errors (422 validation or undecodable/unreachable inputs, 404 unknown sub-path) end as a plain
  ``COMPLETED`` status (no ``error``); the error surfaces on the result route, as on real fal. Infra errors
  (``inject_job("runner_error")``) and cancellations end ``COMPLETED`` + ``error``/``error_type``.
* Inputs: ``data:`` URIs, the emulator's own file URLs (read in-process, not logged as ``file_get``) and other
  loopback URLs (fetched over HTTP); anything else is a 422 ``file_download_error`` — it never goes online.
* StableAvatar has no ``num_frames``: its length is ceil(audio_seconds * 25) rounded up to 4n+1, clamped to
  41..7501 (5 minutes).
* fal's website part: ``GET /api/openapi/queue/openapi.json?endpoint_id=<id>`` serves the endpoint's OpenAPI
  document built from the emulator's schemas (no key; 404 for unknown ids). ``serve_openapi`` serves a
  drifted copy, ``retire`` makes the document and submits to that endpoint answer 404.
* Namespaced ids (``comfy/…``, ``workflows/…``) run the app named by the rest of the id; their status URLs
  keep the namespace segment.
"""

from .jobs import Job
from .recorder import RecordedRequest
from .server import FalEmulator
from .storage import StoredFile

__all__ = ["FalEmulator", "Job", "RecordedRequest", "StoredFile"]
