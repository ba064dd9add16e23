"""``fal-avatar doctor``: a read-only, free health check of the fal key, fal's hosts and the endpoint rows.

It never submits and never uploads. The key is checked with one authenticated call fal does not bill
(a CDN upload token); the hosts with a plain ``GET /`` without the key; each endpoint row against the
OpenAPI document fal publishes for it (public, fetched without the key) — see ``avatar.drift`` — and against
fal's model catalogue (one Platform API lookup for every row) — see ``doctor.catalogue``.

Exit codes (:attr:`DoctorReport.exit_code`), first match wins: 1 an endpoint drifted, has no OpenAPI
document, is not in fal's catalogue or is deprecated there; 3 fal (a host, a document, the catalogue or the
key check) could not be reached; 2 no key, or fal refused it; 0 everything matches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from ..avatar.drift import (
    DRIFT,
    UNREACHABLE,
    EndpointCheck,
    check_document,
    unreachable,
    unreadable,
)
from ..avatar.endpoints import GENERATION_ENDPOINTS, EndpointSpec
from ..credentials import key_source
from ..errors import (
    AccountLockedError,
    AuthError,
    ConfigError,
    FalAvatarError,
    FalServerError,
    MissingKeyError,
    UnreadableAnswerError,
)
from ..fal import FalClient, RetryPolicy, Timeouts
from ..fal.catalogue import MODELS_PATH
from ..fal.probe import HostProbe
from ..settings import openapi_url
from .catalogue import DELISTED, DEPRECATED, NO_DOCUMENT, NOT_IN_CATALOGUE, CatalogueLookup, verdict

# A health check should answer within seconds: one retry, short timeouts.
DOCTOR_RETRY = RetryPolicy(attempts=2, base_s=0.25, cap_s=1.0)
DOCTOR_TIMEOUTS = Timeouts(queue=httpx.Timeout(15.0, connect=5.0), transfer=httpx.Timeout(15.0, connect=5.0))

KEY_SOURCES = {"env": "FAL_KEY from the environment", "saved": "the key saved in Settings → fal avatar"}


@dataclass(frozen=True)
class KeyCheck:
    """``state``: valid, missing, rejected (401), locked (403) or unreachable. Never holds the key."""

    present: bool
    source: str | None
    state: str
    message: str

    def to_json(self) -> dict:
        return {"present": self.present, "source": self.source, "state": self.state, "message": self.message}


FINDINGS = (DRIFT, NO_DOCUMENT, NOT_IN_CATALOGUE, DEPRECATED)
_WORDS = {
    DRIFT: "drifted",
    NO_DOCUMENT: "without an OpenAPI document",
    NOT_IN_CATALOGUE: "not in fal's catalogue",
    DEPRECATED: "deprecated",
    UNREACHABLE: "unreachable",
}


@dataclass(frozen=True)
class DoctorReport:
    key: KeyCheck
    hosts: tuple[HostProbe, ...]
    openapi_url: str
    endpoints: tuple[EndpointCheck, ...]
    catalogue: CatalogueLookup | None = None

    @property
    def exit_code(self) -> int:
        statuses = {check.status for check in self.endpoints}
        if statuses & set(FINDINGS):
            return 1
        if (
            UNREACHABLE in statuses
            or not all(h.reachable for h in self.hosts)
            or self.key.state == "unreachable"
            or (self.catalogue is not None and self.catalogue.error is not None)
        ):
            return 3
        if self.key.state != "valid":
            return 2
        return 0

    @property
    def summary(self) -> str:
        counts = {s: sum(1 for c in self.endpoints if c.status == s) for s in _WORDS}
        parts = [f"{n} endpoint(s) {_WORDS[s]}" for s, n in counts.items() if n]
        if self.catalogue is not None and self.catalogue.error is not None:
            parts.append("fal's model catalogue could not be read")
        down = [h.name for h in self.hosts if not h.reachable]
        if down:
            parts.append(f"host(s) unreachable: {', '.join(down)}")
        if self.key.state != "valid":
            parts.append(f"key {self.key.state}")
        if not parts:
            delisted = sum(1 for c in self.endpoints if c.status == DELISTED)
            live = len(self.endpoints) - delisted
            tail = f" ({delisted} delisted, as expected)" if delisted else ""
            return f"All {live} endpoints match fal's schemas{tail}; the key works and fal is reachable."
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "key": self.key.to_json(),
            "hosts": [h.to_json() for h in self.hosts],
            "openapi_url": self.openapi_url,
            "catalogue": self.catalogue.to_json() if self.catalogue is not None else None,
            "endpoints": [c.to_json() for c in self.endpoints],
        }


async def _check_key(client: FalClient) -> KeyCheck:
    try:
        source = key_source()
    except FalAvatarError as exc:  # a saved key file that cannot be read
        return KeyCheck(False, None, "missing", str(exc))
    if source is None:
        return KeyCheck(False, None, "missing", "No fal key is set, so runs cannot start. " + _HOW_TO_SET)
    where = KEY_SOURCES.get(source, source)
    try:
        await client.verify_key()
    except MissingKeyError:
        return KeyCheck(False, None, "missing", "No fal key is set, so runs cannot start. " + _HOW_TO_SET)
    except AuthError:
        return KeyCheck(True, source, "rejected", f"fal rejected {where} (HTTP 401). {_HOW_TO_SET}")
    except AccountLockedError as exc:
        return KeyCheck(
            True, source, "locked", f"{where} is known to fal but the account is locked: {exc.message}"
        )
    except FalAvatarError as exc:
        return KeyCheck(True, source, "unreachable", f"The key could not be checked: {exc}")
    return KeyCheck(
        True, source, "valid", f"{where} works (fal issued a CDN upload token; nothing is billed)."
    )


_HOW_TO_SET = (
    "Set FAL_KEY (or FAL_KEY_ID and FAL_KEY_SECRET), or paste the key in Settings → fal avatar; keys are "
    "made at https://fal.ai/dashboard/keys."
)


async def _check_endpoint(client: FalClient, url: str, spec: EndpointSpec) -> EndpointCheck:
    try:
        document = await client.openapi_document(url, spec.endpoint_id)
    except UnreadableAnswerError as exc:
        if exc.status is not None and exc.status < 500:  # answered in time, but not with a schema
            return unreadable(spec, f"is not readable (HTTP {exc.status}): {exc.message}")
        return unreachable(spec, str(exc))  # too large: not fal's document
    except FalServerError as exc:
        if exc.status is not None and exc.status < 500:  # answered, but not with a JSON document
            return unreadable(spec, f"is not a JSON object (HTTP {exc.status})")
        return unreachable(spec, str(exc))
    except FalAvatarError as exc:
        return unreachable(spec, str(exc))
    return check_document(spec, document)


async def _look_up_catalogue(client: FalClient, specs: tuple[EndpointSpec, ...]) -> CatalogueLookup:
    url = client.urls.api + MODELS_PATH
    try:
        entries = await client.model_catalogue([spec.endpoint_id for spec in specs])
    except ConfigError:
        raise
    except FalAvatarError as exc:
        return CatalogueLookup(url, None, f"fal's model catalogue could not be read: {exc}")
    return CatalogueLookup(url, entries)


async def run_doctor(client: FalClient | None = None, *, url: str | None = None) -> DoctorReport:
    """Check the key, the three hosts, fal's catalogue and every endpoint row, concurrently. Raises only
    ``ConfigError`` (a malformed FAL_*_URL setting)."""
    client = client or FalClient(retry=DOCTOR_RETRY, timeouts=DOCTOR_TIMEOUTS)
    url = url or openapi_url()
    urls = client.urls
    hosts = asyncio.gather(
        *(
            client.probe(name, u)
            for name, u in (("queue", urls.queue), ("rest", urls.rest), ("cdn", urls.cdn))
        )
    )
    endpoints = asyncio.gather(*(_check_endpoint(client, url, spec) for spec in GENERATION_ENDPOINTS))
    key, host_probes, documents, catalogue = await asyncio.gather(
        _check_key(client), hosts, endpoints, _look_up_catalogue(client, GENERATION_ENDPOINTS)
    )
    checks = tuple(
        verdict(spec, doc, catalogue) for spec, doc in zip(GENERATION_ENDPOINTS, documents, strict=True)
    )
    return DoctorReport(
        key=key, hosts=tuple(host_probes), openapi_url=url, endpoints=checks, catalogue=catalogue
    )
