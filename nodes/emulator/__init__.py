"""A loopback fal.ai emulator (queue, REST storage, CDN on one port) with real rendering models.

Otherwise it behaves as fal's queue documentation (https://docs.fal.ai/model-endpoints/queue) and
fal-client 1.0.3 (PyPI) expect. Behaviour worth knowing when testing against it:

* App-level errors (422 validation or undecodable/unreachable inputs, 404 unknown sub-path) end as a plain
  ``COMPLETED`` status (no ``error``); the error surfaces on the result route, as on real fal. Infra errors
  (``inject_job("runner_error")``) and cancellations end ``COMPLETED`` + ``error``/``error_type``.
* Inputs: ``data:`` URIs, the emulator's own file URLs (read in-process, not logged as ``file_get``) and other
  loopback URLs (fetched over HTTP); anything else is a 422 ``file_download_error`` — it never goes online.
* Every talking-avatar endpoint of the pack's catalogue is served (``models.MODELS``): fal's input schema
  (strict where fal is: an unknown field is a 422 ``extra_forbidden``), the row's own length rule (audio,
  ``num_frames``, LongCat's ``num_segments``, the spoken text, footage vs audio by ``sync_mode``), frame rate
  and size (never resampled to 25: see models.py for which are fal's facts and which the emulator's choice),
  output fields (``seed``, ``duration``, ``timings``, a VideoFile with fps and size) and fal's length limits.
* StableAvatar has no ``num_frames``: its length is ceil(audio_seconds * 25) rounded up to 4n+1, clamped to
  41..7501 (5 minutes).
* fal's website part: ``GET /api/openapi/queue/openapi.json?endpoint_id=<id>`` serves the endpoint's OpenAPI
  document built from the emulator's schemas (no key; 404 for unknown ids). ``serve_openapi`` serves a
  drifted copy, ``retire`` makes the document and submits to that endpoint answer 404 (and drops it from
  fal's model catalogue), ``withdraw_openapi`` answers 404 for the document only.
* fal's Platform API: ``GET /v1/models`` (model search: every endpoint ``active`` except StableAvatar, which
  fal delisted, so it is absent; ``set_catalogue_status`` marks one deprecated or absent) and
  ``GET /v1/models/requests/by-endpoint`` (request history of every endpoint).
* Namespaced ids (``comfy/…``, ``workflows/…``) run the app named by the rest of the id; their status URLs
  keep the namespace segment.
"""

from .jobs import Job
from .recorder import RecordedRequest
from .server import FalEmulator
from .storage import StoredFile

__all__ = ["FalEmulator", "Job", "RecordedRequest", "StoredFile"]
