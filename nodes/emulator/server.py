"""FalEmulator: a loopback fal.ai (queue + REST storage + CDN on one port) for tests and offline demos."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

from . import openapi
from .api import Api
from .catalogue import ABSENT, STATUSES
from .fal_schemas import build_schemas
from .faults import FaultPlan
from .handler import EmulatorHTTPServer
from .jobs import NAMESPACES, Job, JobQueue
from .models import DELISTED
from .recorder import RecordedRequest, RequestLog
from .render_cache import RenderCache
from .storage import FileStore, StoredFile

POLL_INTERVAL_S = 0.1  # how often the serving loop looks for a stop request it was not woken for


class FalEmulator:
    """Real HTTP server on ``host:port`` (0 = random) speaking fal's queue, storage and CDN protocols.

    ``processing_time`` is the minimum time a job spends IN_PROGRESS, ``queue_delay`` the time it spends
    IN_QUEUE, ``log_lines`` how many "Generating frames i/N" log lines a successful job emits.
    ``max_output_side`` (tests) shrinks every output video so its long side is at most this many pixels
    (aspect ratio kept; fps, frame count, duration and audio unchanged; the output JSON reports the real
    size); ``None`` renders at the model's own size. ``render_cache`` (tests) is a folder where emulators
    keep their output videos by their inputs, so emulators sharing it (a test session's) encode a job once.
    """

    def __init__(
        self,
        key: str = "id:secret",
        *,
        processing_time: float = 0.3,
        queue_delay: float = 0.0,
        log_lines: int = 3,
        host: str = "127.0.0.1",
        port: int = 0,
        sse_ping_interval: float = 15.0,
        max_output_side: int | None = None,
        render_cache: Path | None = None,
    ):
        self.key = key
        self.host, self.port = host, port
        self.sse_ping_interval = sse_ping_interval
        self.locked = False
        self._files = FileStore()
        self._faults = FaultPlan()
        self._log = RequestLog()
        self._schemas = build_schemas()
        self._openapi_overrides: dict[str, dict] = {}
        self._retired: set[str] = set()
        self._catalogue: dict[str, str] = {endpoint_id: ABSENT for endpoint_id in DELISTED}
        self._withdrawn: set[str] = set()
        self._jobs = JobQueue(
            files=self._files,
            schemas=self._schemas,
            processing_time=processing_time,
            queue_delay=queue_delay,
            log_lines=log_lines,
            resolve_local=self._resolve_local,
            max_output_side=max_output_side,
            render_cache=None if render_cache is None else RenderCache(render_cache),
        )
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url = ""

    def __repr__(self) -> str:  # never show the key
        return f"FalEmulator(base_url={self._base_url or None!r})"

    # lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FalEmulator already started")
        if self._jobs.stopping:
            raise RuntimeError("A stopped FalEmulator cannot be restarted; create a new one")
        api = Api(self, self._jobs, self._files, self._faults)
        self._server = EmulatorHTTPServer((self.host, self.port), api, self._faults, self._log, self._jobs)
        host, port = self._server.server_address[:2]
        self._base_url = f"http://{host}:{port}"
        self._files.base_url = self._base_url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name="fal-emulator-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._jobs.stop()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FalEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (serves queue, REST and CDN routes alike)."""
        if not self._base_url:
            raise RuntimeError("FalEmulator is not started; call start() or use it as a context manager")
        return self._base_url

    # request log --------------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        return self._log.snapshot()

    def count(self, route: str) -> int:
        return sum(1 for r in self._log.snapshot() if r.route == route)

    def routes(self) -> list[str]:
        return [r.route for r in self._log.snapshot()]

    def clear_log(self) -> None:
        self._log.clear()

    # faults -------------------------------------------------------------------------------------------------
    def inject(self, route: str, fault: str, *, times: int = 1, **params: Any) -> None:
        """Make the next ``times`` requests on ``route`` fail with ``fault`` (see faults.HTTP_FAULTS)."""
        self._faults.inject(route, fault, times, params)

    def inject_job(
        self, fault: str, *, times: int = 1, match: dict[str, Any] | None = None, **params: Any
    ) -> None:
        """Apply ``fault`` to the next ``times`` submitted jobs (see faults.JOB_FAULTS); with ``match``, only
        to jobs whose arguments hold those values (``match={"seed": 2}``). Any job fault takes
        ``release=threading.Event()``: the job then stays IN_PROGRESS until the event is set, and
        ``start=threading.Event()``: it stays IN_QUEUE until that one is set."""
        self._faults.inject_job(fault, times, params, match)

    def clear_faults(self) -> None:
        """Drop every pending HTTP and job fault."""
        self._faults.clear()

    # fal's published OpenAPI documents --------------------------------------------------------------------
    def openapi_document(self, endpoint_id: str) -> dict | None:
        """The document served for ``endpoint_id`` (a copy): the one set by :meth:`serve_openapi`, else one
        built from the emulator's input schemas; ``None`` (served as 404) for unknown or retired ids."""
        if endpoint_id in self._retired or endpoint_id in self._withdrawn:
            return None
        override = self._openapi_overrides.get(endpoint_id)
        if override is not None:
            return copy.deepcopy(override)
        schema = self._schemas.get(endpoint_id)
        return None if schema is None else openapi.document(endpoint_id, schema, self.base_url)

    def serve_openapi(self, endpoint_id: str, document: dict) -> None:
        """Serve ``document`` for ``endpoint_id`` from now on (e.g. a drifted :meth:`openapi_document`)."""
        self._openapi_overrides[endpoint_id] = copy.deepcopy(document)

    def retire(self, endpoint_id: str) -> None:
        """Act as if fal removed ``endpoint_id``: its OpenAPI document and its submits answer 404, and fal's
        model catalogue no longer lists it."""
        self._retired.add(endpoint_id.strip("/"))
        self._catalogue[endpoint_id.strip("/")] = ABSENT

    def withdraw_openapi(self, endpoint_id: str) -> None:
        """Answer 404 for ``endpoint_id``'s OpenAPI document only (the endpoint still runs, still listed)."""
        self._withdrawn.add(endpoint_id.strip("/"))

    # fal's model catalogue (Platform API /v1/models) ------------------------------------------------------
    def set_catalogue_status(self, endpoint_id: str, status: str) -> None:
        """List ``endpoint_id`` in fal's model catalogue as ``active`` or ``deprecated``, or leave it out
        (``absent``, as fal did with StableAvatar). Its queue and OpenAPI document are unaffected (see
        :meth:`retire` for those)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)} (got {status!r})")
        self._catalogue[endpoint_id.strip("/")] = status

    def catalogue_statuses(self) -> dict[str, str]:
        """Catalogue status by endpoint id (ids not in the dict are ``active``)."""
        return dict(self._catalogue)

    def is_retired(self, endpoint_id: str) -> bool:
        first, _, rest = endpoint_id.strip("/").partition("/")
        return (rest if first in NAMESPACES else endpoint_id.strip("/")) in self._retired

    # state --------------------------------------------------------------------------------------------------
    @property
    def jobs(self) -> dict[str, Job]:
        return self._jobs.snapshot()

    @property
    def files(self) -> dict[str, StoredFile]:
        """The live store (path -> file): tests may delete entries to simulate fal's CDN expiring them."""
        return self._files.files

    def _resolve_local(self, url: str) -> bytes | None:
        """Bytes of one of our own file URLs; None if the URL is not ours; KeyError if no such file."""
        if not self._base_url or not url.startswith(self._base_url + "/"):
            return None
        path = url[len(self._base_url) :].split("?", 1)[0].split("#", 1)[0]
        stored = self._files.get(path)
        if stored is None:
            raise KeyError(path)
        return stored.data
