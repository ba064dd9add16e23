"""Queue jobs: lifecycle IN_QUEUE → IN_PROGRESS → COMPLETED, logs, cancellation, status and result bodies.

Each job runs in its own thread: it waits out the queue delay, then runs the app in a worker thread while
the job thread publishes logs ("Generating frames i/N", spread over ``processing_time``) and watches for
cancellation. ``processing_time`` is the minimum time a job spends IN_PROGRESS.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import apps, render
from .faults import Fault
from .inputs import LocalResolver
from .render_cache import RenderCache
from .schemas import Schema
from .storage import FileStore

logger = logging.getLogger(__name__)

NAMESPACES = ("workflows", "comfy")
CANCEL_MESSAGE = "Request cancelled by the client."
_ERROR_MESSAGES = {
    "runner_disconnected": "Runner disconnected",
    "runner_scheduling_failure": "Runner scheduling failure",
    "runner_connection_timeout": "Runner connection timeout",
    "runner_incomplete_response": "Runner returned an incomplete response",
    "runner_server_error": "Runner server error",
    "internal_error": "Internal error",
    "request_timeout": "Request timed out",
    "startup_timeout": "Startup timed out",
}


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Job:
    """One queued request (``app`` is ``[ns/]owner/alias``, ``endpoint_id`` the full id incl. sub-path)."""

    request_id: str
    endpoint_id: str
    app: str
    arguments: Any = field(repr=False)  # as submitted (may hold megabytes of data URIs)
    headers: dict[str, str] = field(repr=False)  # submit headers minus authorization
    seq: int = 0
    fault: Fault | None = None
    state: str = "IN_QUEUE"
    cancelled: bool = False
    error: str | None = None
    error_type: str | None = None
    output: dict | None = None
    result_status: int | None = None
    result_body: Any = field(default=None, repr=False)
    result_headers: dict[str, str] = field(default_factory=dict)
    logs: list[dict[str, str]] = field(default_factory=list)
    submitted_at: float = field(default_factory=time.monotonic)
    sent_at: datetime = field(
        default_factory=lambda: datetime.now(timezone.utc)
    )  # wall clock of submitted_at
    started_at: float | None = None
    completed_at: float | None = None
    stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def urls(self, base_url: str) -> dict[str, str]:
        base = f"{base_url}/{self.app}/requests/{self.request_id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    @property
    def model_id(self) -> str:
        """The endpoint id without its namespace (``comfy/fal-ai/x`` runs the app ``fal-ai/x``)."""
        first, _, rest = self.endpoint_id.partition("/")
        return rest if first in NAMESPACES else self.endpoint_id

    @property
    def fault_name(self) -> str | None:
        return self.fault.name if self.fault else None


@dataclass
class _Outcome:
    done: int = 0
    total: int = 0
    output: dict | None = None
    failure: Exception | None = None
    billable_units: float = 0.0


class JobQueue:
    """All jobs of one emulator; thread-safe. ``changed`` is notified on every visible change."""

    def __init__(
        self,
        *,
        files: FileStore,
        schemas: dict[str, Schema],
        processing_time: float,
        queue_delay: float,
        log_lines: int,
        resolve_local: LocalResolver,
        max_output_side: int | None = None,
        render_cache: RenderCache | None = None,
    ) -> None:
        self.files = files
        self.schemas = schemas
        self.processing_time = processing_time
        self.queue_delay = queue_delay
        self.log_lines = log_lines
        self.resolve_local = resolve_local
        self.max_output_side = max_output_side
        self.render_cache = render_cache
        self.jobs: dict[str, Job] = {}
        self.changed = threading.Condition()
        self._lock = threading.RLock()
        self._seq = 0
        self._stopping = threading.Event()

    # public operations ----------------------------------------------------------------------------------
    def submit(
        self, endpoint_id: str, app: str, arguments: Any, headers: dict[str, str], fault: Fault | None
    ) -> Job:
        headers = {k: v for k, v in headers.items() if k != "authorization"}  # the job never holds the key
        with self._lock:
            self._seq += 1
            job = Job(str(uuid.uuid4()), endpoint_id, app, arguments, headers, self._seq, fault)
            self.jobs[job.request_id] = job
        threading.Thread(
            target=self._run, args=(job,), name=f"fal-emulator-job-{job.seq}", daemon=True
        ).start()
        return job

    def find(self, app: str, request_id: str) -> Job | None:
        """Request ids are scoped per app: a job is found only under the app it was submitted to."""
        with self._lock:
            job = self.jobs.get(request_id)
        return job if job is not None and job.app == app else None

    def cancel(self, job: Job) -> bool:
        """Request cancellation; False when the job already completed."""
        with self._lock:
            if job.state == "COMPLETED":
                return False
            job.cancelled = True
            job.stop.set()
            if job.state == "IN_QUEUE":  # queued requests are simply removed
                self._finish_cancelled(job)
        self._touch()
        return True

    def status(self, job: Job, base_url: str, with_logs: bool) -> tuple[int, dict[str, Any]]:
        with self._lock:
            body: dict[str, Any] = {"status": job.state, "request_id": job.request_id, **job.urls(base_url)}
            if job.state == "IN_QUEUE":
                body["queue_position"] = self._position(job)
                body["logs"] = None
            else:
                body["logs"] = [dict(entry) for entry in job.logs] if with_logs else None
            if job.state == "COMPLETED":
                if job.error is None:
                    body["metrics"] = {"inference_time": round(self._inference_time(job), 4)}
                else:
                    body.update(metrics={}, error=job.error, error_type=job.error_type)
            return (200 if job.state == "COMPLETED" else 202), body

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_changed(self, timeout: float) -> None:
        with self.changed:
            self.changed.wait(timeout)

    def snapshot(self) -> dict[str, Job]:
        with self._lock:
            return dict(self.jobs)

    def history(self) -> list[HistoryEntry]:
        """Every job as fal's request history shows it (wall-clock times; None where not reached yet)."""
        with self._lock:
            return [_history_entry(job) for job in self.jobs.values()]

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for job in self.jobs.values():
                job.stop.set()
        self._touch()

    # lifecycle --------------------------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        try:
            if self._wait_in_queue(job):
                self._process(job)
        except Exception:  # never let a job thread die silently: fail the job like a crashed runner
            logger.exception("fal emulator: job %s crashed", job.request_id)
            with self._lock:
                if job.state != "COMPLETED":
                    self._complete(job, 500, {"detail": "Internal Server Error"}, error=None)
            self._touch()

    def _wait_in_queue(self, job: Job) -> bool:
        stuck = job.fault_name == "stuck_queue"
        start = job.fault.params.get("start") if job.fault else None  # held IN_QUEUE until it is set
        while not job.stop.is_set():
            remaining = job.submitted_at + self.queue_delay - time.monotonic()
            held = start is not None and not start.is_set()
            if not stuck and not held and remaining <= 0 and self._gathered(job):
                with self._lock:
                    if job.state != "IN_QUEUE":
                        return False
                    job.state, job.started_at = "IN_PROGRESS", time.monotonic()
                self._touch()
                return True
            job.stop.wait(0.05 if stuck or held else min(max(remaining, 0.001), 0.05))
        return False  # cancelled while queued (already finished by cancel()) or emulator stopping

    def _gathered(self, job: Job) -> bool:
        """A "gather" job starts only once the emulator holds ``jobs`` jobs (proof that a client submits
        them side by side: one that waits for each job before the next would wait forever)."""
        if job.fault_name != "gather":
            return True
        with self._lock:
            return len(self.jobs) >= int(job.fault.params.get("jobs", 1))

    def _process(self, job: Job) -> None:
        processing = (
            float(job.fault.params.get("processing_time", self.processing_time))
            if job.fault_name == "slow"
            else self.processing_time
        )
        release = job.fault.params.get("release") if job.fault else None  # held IN_PROGRESS until it is set
        outcome = _Outcome()
        worker = threading.Thread(
            target=self._run_app, args=(job, outcome), daemon=True, name=f"fal-emulator-app-{job.seq}"
        )
        worker.start()
        emitted = 0
        while True:
            elapsed = time.monotonic() - (job.started_at or 0.0)
            emitted = self._emit_logs(job, outcome, emitted, elapsed, processing)
            if job.stop.is_set():
                worker.join()
                if self._stopping.is_set():
                    return
                with self._lock:
                    self._finish_cancelled(job)
                self._touch()
                return
            if not worker.is_alive() and elapsed >= processing and (release is None or release.is_set()):
                break
            job.stop.wait(0.02)
        if outcome.failure is None:
            self._emit_logs(job, outcome, emitted, math.inf, processing)
        with self._lock:  # a cancel may have arrived after the loop: it wins (cancel() already answered 202)
            if job.stop.is_set() and self._stopping.is_set():
                return
            if job.stop.is_set():
                self._finish_cancelled(job)
            else:
                self._finish(job, outcome)
        self._touch()

    def _run_app(self, job: Job, outcome: _Outcome) -> None:
        def progress(done: int, total: int) -> None:
            outcome.done, outcome.total = done, total

        ctx = apps.RunContext(
            resolve_local=self.resolve_local,
            store_output=self._store_output,
            progress=progress,
            should_stop=job.stop.is_set,
            corrupt_output=job.fault_name == "corrupt_video",
            max_output_side=self.max_output_side,
            render_cache=self.render_cache,
        )
        try:
            outcome.output = apps.run_app(job.model_id, job.arguments, self.schemas, ctx)
            outcome.billable_units = ctx.billable_units
        except Exception as exc:  # AppError, Cancelled, or a bug (reported as 500)
            outcome.failure = exc
            if not isinstance(exc, (apps.AppError, render.Cancelled)):
                logger.exception("fal emulator: app %s failed", job.endpoint_id)

    def _store_output(self, data: bytes, content_type: str, file_name: str) -> dict[str, Any]:
        path = self.files.put(data, content_type, file_name)
        name = path.rsplit("/", 1)[-1]
        return {
            "url": self.files.url_for(path),
            "content_type": content_type,
            "file_name": name,
            "file_size": len(data),
        }

    def _emit_logs(self, job: Job, outcome: _Outcome, emitted: int, elapsed: float, processing: float) -> int:
        total, lines = outcome.total, self.log_lines
        while total and emitted < lines:
            frames = math.ceil((emitted + 1) * total / lines)
            if outcome.done < frames or elapsed < processing * (emitted + 1) / (lines + 1):
                break
            entry = {
                "message": f"Generating frames {frames}/{total}",
                "level": "INFO",
                "source": "USER",
                "timestamp": _now_iso(),
            }
            with self._lock:
                job.logs.append(entry)
            emitted += 1
            self._touch()
        return emitted

    def _finish(self, job: Job, outcome: _Outcome) -> None:
        failure = outcome.failure
        if job.fault_name == "runner_error":
            params = job.fault.params
            error_type = str(params.get("error_type", "runner_disconnected"))
            message = str(
                params.get(
                    "error", _ERROR_MESSAGES.get(error_type, error_type.replace("_", " ").capitalize())
                )
            )
            self._complete(
                job,
                int(params.get("status", 503)),
                {"detail": message, "error_type": error_type},
                error=message,
                error_type=error_type,
            )
        elif failure is None:
            job.output = outcome.output
            self._complete(job, 200, outcome.output, billable=outcome.billable_units)
        elif isinstance(failure, apps.AppError):
            self._complete(job, failure.status, failure.body)
        else:
            self._complete(job, 500, {"detail": "Internal Server Error"})

    def _finish_cancelled(self, job: Job) -> None:
        self._complete(
            job,
            499,
            {"detail": CANCEL_MESSAGE, "error_type": "client_cancelled"},
            error=CANCEL_MESSAGE,
            error_type="client_cancelled",
        )

    def _complete(
        self,
        job: Job,
        status: int,
        body: Any,
        *,
        error: str | None = None,
        error_type: str | None = None,
        billable: float = 0.0,
    ) -> None:
        job.result_status, job.result_body = status, body
        job.error, job.error_type = error, error_type
        job.result_headers = {"x-fal-billable-units": _units(billable)}
        if error_type:
            job.result_headers["x-fal-error-type"] = error_type
        job.completed_at = time.monotonic()
        job.state = "COMPLETED"

    # helpers ----------------------------------------------------------------------------------------------
    def _position(self, job: Job) -> int:
        return sum(
            1
            for other in self.jobs.values()
            if other.app == job.app and other.state == "IN_QUEUE" and other.seq < job.seq
        )

    @staticmethod
    def _inference_time(job: Job) -> float:
        if job.started_at is None or job.completed_at is None:
            return 0.0
        return job.completed_at - job.started_at

    def _touch(self) -> None:
        with self.changed:
            self.changed.notify_all()


@dataclass(frozen=True)
class HistoryEntry:
    request_id: str
    endpoint_id: str
    sent_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    status_code: int | None
    arguments: Any = field(repr=False)
    output: Any = field(repr=False)


def _history_entry(job: Job) -> HistoryEntry:
    def wall(moment: float | None) -> datetime | None:
        return None if moment is None else job.sent_at + timedelta(seconds=moment - job.submitted_at)

    ended = job.state == "COMPLETED"
    return HistoryEntry(
        request_id=job.request_id,
        endpoint_id=job.endpoint_id,
        sent_at=job.sent_at,
        started_at=wall(job.started_at),
        ended_at=wall(job.completed_at) if ended else None,
        status_code=job.result_status if ended else None,
        arguments=job.arguments,
        output=job.result_body if ended else None,
    )


def _units(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
