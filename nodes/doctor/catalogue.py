"""Where each row stands in fal's model catalogue, and the row's verdict from that and its OpenAPI document.

The two facts are told apart (fal's Platform API model search, https://docs.fal.ai/platform-apis/v1/models,
carries a status of active or deprecated; an endpoint fal removed is missing from it):

* ``no_document``: fal lists the endpoint as active but publishes no OpenAPI document for it (HTTP 404), so
  its fields cannot be checked;
* ``not_in_catalogue``: fal's catalogue does not list it (with or without a document: fal delisted, retired
  or renamed it);
* ``deprecated``: fal still lists it, marked deprecated (it runs for now, but may go);
* ``delisted``: a row the pack itself marks delisted (kept so saved workflows open) and fal's catalogue
  indeed leaves out: expected, so not a finding (unless its document drifted: the node still runs on it).

When the catalogue cannot be read, each row keeps its document's verdict (a 404 then reads ``no_document``)
and the report says the catalogue was not checked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..avatar.drift import DRIFT, NOT_LISTED, EndpointCheck
from ..avatar.endpoints import EndpointSpec
from ..fal.catalogue import DEPRECATED as FAL_DEPRECATED
from ..fal.catalogue import CatalogueEntry

NO_DOCUMENT, NOT_IN_CATALOGUE, DEPRECATED, DELISTED = (
    "no_document",
    "not_in_catalogue",
    "deprecated",
    "delisted",
)
ROW_DELISTED = "delisted"  # EndpointSpec.status of a row fal removed


@dataclass(frozen=True)
class CatalogueLookup:
    """fal's catalogue entries of the rows (``entries`` None if it could not be read: ``error`` says why)."""

    url: str
    entries: dict[str, CatalogueEntry] | None
    error: str | None = None

    def to_json(self) -> dict:
        return {"url": self.url, "checked": self.entries is not None, "error": self.error}


def verdict(spec: EndpointSpec, document: EndpointCheck, catalogue: CatalogueLookup) -> EndpointCheck:
    """The row's outcome from its document's check and its place in fal's catalogue."""
    no_document = document.status == NOT_LISTED
    if catalogue.entries is None:
        return _no_document(spec, document) if no_document else document
    entry = catalogue.entries.get(spec.endpoint_id)
    if entry is None:
        if spec.status == ROW_DELISTED:  # expected; a drifted document still matters while the node runs
            status = DRIFT if document.status == DRIFT else DELISTED
            return replace(document, status=status, error=_delisted(spec, no_document))
        return replace(
            document, status=NOT_IN_CATALOGUE, error=_not_in_catalogue(spec, no_document, catalogue.url)
        )
    if entry.status == FAL_DEPRECATED:
        return replace(document, status=DEPRECATED, error=_deprecated(spec, no_document))
    return _no_document(spec, document) if no_document else document


def _no_document(spec: EndpointSpec, document: EndpointCheck) -> EndpointCheck:
    error = (
        f"fal publishes no OpenAPI document for {spec.endpoint_id} (HTTP 404), so the {spec.display_name} "
        "node's fields could not be checked against fal's. Runs may still work; if they fail, update "
        "comfyui-fal-avatar (or check its issue tracker)."
    )
    return replace(document, status=NO_DOCUMENT, error=error)


def _not_in_catalogue(spec: EndpointSpec, no_document: bool, url: str) -> str:
    where = f"fal's model catalogue ({url}) does not list {spec.endpoint_id}"
    if no_document:
        return (
            f"{where} and its OpenAPI document answers HTTP 404: fal has retired or renamed it, so runs of "
            f"the {spec.display_name} node will fail. Update comfyui-fal-avatar (or check its issue tracker)."
        )
    return (
        f"{where}, though fal still publishes its OpenAPI document: fal has delisted it, so runs of the "
        f"{spec.display_name} node may stop working at any time. Choose another model for new work."
    )


def _deprecated(spec: EndpointSpec, no_document: bool) -> str:
    document = " (and publishes no OpenAPI document for it)" if no_document else ""
    return (
        f"fal marks {spec.endpoint_id} deprecated in its model catalogue{document}: it runs for now but fal "
        f"may remove it. Plan to move the {spec.display_name} node's work to another model."
    )


def _delisted(spec: EndpointSpec, no_document: bool) -> str:
    queue = (
        "its OpenAPI document answers HTTP 404 too"
        if no_document
        else "fal still publishes its OpenAPI document"
    )
    note = f" ({spec.status_note})" if spec.status_note else ""
    return (
        f"Delisted, as the pack expects{note}: not in fal's model catalogue; {queue}. The node stays so "
        "saved workflows open."
    )
