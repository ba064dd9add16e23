"""`fal-avatar doctor`: the health check as a table (or one JSON document with --json)."""

from __future__ import annotations

import asyncio
import json
import textwrap

from ..avatar.drift import BREAKING
from ..doctor.check import DOCTOR_RETRY, DOCTOR_TIMEOUTS, DoctorReport, run_doctor
from ..fal import FalClient

WIDTH = 100
STATUS_WORDS = {
    "ok": "ok",
    "drift": "DRIFT",
    "no_document": "NO OPENAPI DOCUMENT",
    "not_in_catalogue": "NOT IN FAL'S CATALOGUE",
    "deprecated": "DEPRECATED",
    "delisted": "delisted (expected)",
    "unreachable": "UNREACHABLE",
}


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")


async def _report() -> DoctorReport:
    async with FalClient(retry=DOCTOR_RETRY, timeouts=DOCTOR_TIMEOUTS) as client:
        return await run_doctor(client)


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def render_table(report: DoctorReport) -> str:
    """The report as a plain-text table (no colours: it is also read in logs)."""
    key = report.key
    lines = ["fal-avatar doctor: read-only checks (nothing is submitted, uploaded or billed)", ""]
    lines += textwrap.wrap(f"key      {key.state.upper()}: {key.message}", WIDTH, subsequent_indent=" " * 9)
    for index, host in enumerate(report.hosts):
        label = "hosts    " if index == 0 else "         "
        if host.reachable:
            state = f"reachable  {host.rtt_ms:.0f} ms  (HTTP {host.status} on GET /)"
        else:
            state = f"UNREACHABLE  {host.error}"
        lines.append(f"{label}{host.name:<6} {host.url:<34} {state}")
    catalogue = report.catalogue
    if catalogue is not None:
        state = "read" if catalogue.error is None else f"UNREACHABLE  {catalogue.error}"
        lines += textwrap.wrap(f"catalog  {catalogue.url}  {state}", WIDTH, subsequent_indent=" " * 9)
    lines += [""] + textwrap.wrap(
        f"endpoints (checked against {report.openapi_url}?endpoint_id=… and fal's model catalogue)", WIDTH
    )
    width = max(len(c.endpoint_id) for c in report.endpoints) if report.endpoints else 0
    for check in report.endpoints:
        lines.append(f"  {check.endpoint_id:<{width}}  {STATUS_WORDS.get(check.status, check.status)}")
        if check.error:
            lines += _wrap(check.error, "      ")
        for diff in check.differences:
            mark = "!" if diff.severity == BREAKING else "~"
            lines += _wrap(f"{mark} {diff.message}", "      ")
    lines += ["", f"result: {report.summary} (exit {report.exit_code})"]
    if any(d.severity == BREAKING for c in report.endpoints for d in c.differences):
        lines.append("  ! a run can be refused or differ from the node   ~ fal changed, runs still work")
    return "\n".join(lines)


def run(args) -> int:
    report = asyncio.run(_report())
    print(json.dumps(report.to_json(), indent=1) if args.json else render_table(report))
    return report.exit_code
