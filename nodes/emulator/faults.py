"""Fault injection plans: HTTP-level faults per route and job-level faults for the next submitted jobs.

Answers a hostile or broken server could send, on any route: ``slow`` (the real answer at ``bytes_per_s``,
1 for a trickle), ``endless`` (a 200 JSON body that never ends, until the client hangs up) and ``nested``
(a 200 body of ``depth`` nested ``[``, 100,000 unless given).

A job fault may ``match`` submit arguments (it then applies only to jobs submitted with those values), and
any job fault may take ``release`` (a ``threading.Event``): its job stays IN_PROGRESS until the event is set,
and ``start`` (one too): its job stays IN_QUEUE until that event is set.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from .recorder import ROUTES

INGRESS = {"ingress_502": 502, "ingress_503": 503, "ingress_504": 504}
HTTP_FAULTS = {
    *INGRESS,
    "http_500",
    "rate_limit",
    "drop",
    "drop_before",
    "slow",
    "truncate",
    "damaged",
    "forced_422",
    "locked",
    "hang",
    "endless",
    "nested",
}
_FILE_ONLY = {"file_get"}
_ROUTE_ONLY = {"truncate": _FILE_ONLY, "damaged": _FILE_ONLY, "forced_422": {"submit"}}
DAMAGED_BODIES = ("half", "html")  # the "damaged" fault's ``body`` parameter
JOB_FAULTS = {"runner_error", "corrupt_video", "stuck_queue", "slow", "gather"}


@dataclass
class Fault:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    remaining: int = 1
    match: dict[str, Any] | None = None  # job faults: argument values a job must be submitted with

    def applies_to(self, arguments: Any) -> bool:
        if not self.match:
            return True
        return isinstance(arguments, dict) and all(
            k in arguments and arguments[k] == v for k, v in self.match.items()
        )


class FaultPlan:
    """FIFO of faults per route (and one FIFO for jobs); each fault applies ``times`` times, then is gone.
    A job takes the first job fault that matches its arguments."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._http: dict[str, deque[Fault]] = defaultdict(deque)
        self._jobs: deque[Fault] = deque()

    def inject(self, route: str, fault: str, times: int, params: dict[str, Any]) -> None:
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {', '.join(ROUTES)}")
        if fault not in HTTP_FAULTS:
            raise ValueError(
                f"unknown HTTP fault {fault!r}; expected one of {', '.join(sorted(HTTP_FAULTS))}"
            )
        allowed = _ROUTE_ONLY.get(fault)
        if allowed and route not in allowed:
            raise ValueError(f"fault {fault!r} only applies to route(s) {', '.join(sorted(allowed))}")
        if fault == "damaged" and params.get("body", DAMAGED_BODIES[0]) not in DAMAGED_BODIES:
            raise ValueError(f"fault 'damaged' takes body= one of {', '.join(DAMAGED_BODIES)}")
        _check_times(times)
        with self._lock:
            self._http[route].append(Fault(fault, dict(params), times))

    def inject_job(
        self, fault: str, times: int, params: dict[str, Any], match: dict[str, Any] | None = None
    ) -> None:
        if fault not in JOB_FAULTS:
            raise ValueError(f"unknown job fault {fault!r}; expected one of {', '.join(sorted(JOB_FAULTS))}")
        for name in ("release", "start"):
            if not isinstance(params.get(name, threading.Event()), threading.Event):
                raise ValueError(f"job fault parameter {name}= must be a threading.Event")
        _check_times(times)
        with self._lock:
            self._jobs.append(Fault(fault, dict(params), times, dict(match) if match else None))

    def take(self, route: str) -> Fault | None:
        with self._lock:
            return _pop(self._http.get(route))

    def take_job(self, arguments: Any = None) -> Fault | None:
        """The first job fault that applies to a job submitted with ``arguments`` (one use of it)."""
        with self._lock:
            for index, fault in enumerate(self._jobs):
                if fault.applies_to(arguments):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._jobs[index]
                    return Fault(fault.name, fault.params, 1, fault.match)
            return None

    def clear(self) -> None:
        with self._lock:
            self._http.clear()
            self._jobs.clear()


def _check_times(times: int) -> None:
    if times < 1:
        raise ValueError("times must be >= 1")


def _pop(queue: deque[Fault] | None) -> Fault | None:
    if not queue:
        return None
    head = queue[0]
    head.remaining -= 1
    if head.remaining <= 0:
        queue.popleft()
    return Fault(head.name, head.params, 1)
