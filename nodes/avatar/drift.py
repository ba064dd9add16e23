"""Compare fal's published input schema with one endpoint row: every field the pack sends against what fal
accepts today. Each difference is a typed record whose message says what a user can do about it.

What is not a difference: a field fal lists that the pack does not send (fal's default applies); a bound
fal does not state (the pack's widgets may be stricter than fal); the 4n+1 frame rule, which is the
pack's own (InfiniTalk renders blocks of 4 frames), not fal's. ``num_frames`` is compared over the frame
counts the pack sends (the row's frame rule), not over the widget's 0 = auto; a field left out for one
widget value (StableAvatar's seed -1) is compared over the values that are sent. Fields carry fal's names
(``Param.field``); a widget that sets a field inside an object is compared as that object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .endpoints import NOT_SENT, EndpointSpec, Param
from .fal_schema import MISSING, FalField, FalInputSchema, SchemaFormatError, parse_openapi

BREAKING = "breaking"  # a run can be refused (HTTP 422, not billed) or not do what the node says
CHANGED = "changed"  # fal differs from the row; runs still work

# Endpoint check outcomes
OK, DRIFT, NOT_LISTED, UNREACHABLE = "ok", "drift", "not_listed", "unreachable"

_JSON_TYPE = {"text": "string", "enum": "string", "int": "integer", "float": "number", "bool": "boolean"}
_UPDATE = "Update comfyui-fal-avatar (or check its issue tracker)."
_REFUSED = "fal refuses such runs (HTTP 422, not billed)"


@dataclass(frozen=True)
class Difference:
    """One way fal's schema differs from the row. ``kind``: other_endpoint, unreadable, field_dropped,
    required_added, now_required, type_changed, options_removed, options_added, options_imposed,
    options_lifted, minimum_changed, maximum_changed, default_changed."""

    kind: str
    field: str | None
    severity: str
    message: str
    ours: Any = None
    fal: Any = None

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "field": self.field,
            "severity": self.severity,
            "ours": _plain(self.ours),
            "fal": _plain(self.fal),
            "message": self.message,
        }


@dataclass(frozen=True)
class SentField:
    """A field as the pack sends it: JSON type, options, the range of values sent, fal's default as the row
    records it (``MISSING``: not compared), and whether it is always sent."""

    name: str
    json_type: str
    options: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = MISSING
    always: bool = True
    omitted_when: Any = None  # the widget value that leaves the field out (when not ``always``)


@dataclass(frozen=True)
class EndpointCheck:
    """The outcome for one row: ``status`` is ok, drift, not_listed or unreachable."""

    endpoint_id: str
    node_id: str
    display_name: str
    status: str
    differences: tuple[Difference, ...] = ()
    error: str | None = None

    def to_json(self) -> dict:
        return {
            "endpoint_id": self.endpoint_id,
            "node_id": self.node_id,
            "display_name": self.display_name,
            "status": self.status,
            "differences": [d.to_json() for d in self.differences],
            "error": self.error,
        }


def _plain(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, tuple | frozenset | set):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return ", ".join(_show(v) for v in value)
    return str(value)


# --- what the pack sends -----------------------------------------------------------------------------------


def _param_field(spec: EndpointSpec, p: Param) -> SentField:
    low, high = p.minimum, p.maximum
    default = MISSING if p.kind == "text" else p.default  # text defaults are the pack's own examples
    always = p.omit_value is NOT_SENT
    if not always:
        default = MISSING  # the omitted value stands for "fal chooses"
        if p.kind == "int" and low is not None and p.omit_value == low:
            low += 1
    if p.name == "num_frames" and spec.frames is not None:
        rule = spec.frames
        low, high, default = rule.min_frames, rule.max_frames, rule.default_frames
    if "." in p.field:  # a field inside an object (sync-3's options.prompt): fal's document states the object
        return SentField(
            name=p.field.split(".")[0], json_type="object", always=False, omitted_when=p.omit_value
        )
    return SentField(
        name=p.field,
        json_type=_JSON_TYPE[p.kind],
        options=tuple(p.options) if p.kind == "enum" else None,
        minimum=low,
        maximum=high,
        default=default,
        always=always,
        omitted_when=None if always else p.omit_value,
    )


def sent_fields(spec: EndpointSpec) -> tuple[SentField, ...]:
    """Every field the row sends: media URL fields (always; alternative sockets share one field) and the
    widgets that go to fal."""
    fields: dict[str, SentField] = {}
    for slot in spec.media:
        if slot.fal_field and slot.fal_field not in fields:
            fields[slot.fal_field] = SentField(slot.fal_field, "string")
    for p in spec.params:
        if p.fal:
            sent = _param_field(spec, p)
            fields.setdefault(sent.name, sent)
    return tuple(fields.values())


# --- comparison --------------------------------------------------------------------------------------------


def _type_difference(ours: SentField, fal: FalField) -> Difference | None:
    if not fal.types or ours.json_type in fal.types:
        return None
    name = ours.name
    if ours.json_type == "integer" and "number" in fal.types:
        message = f"fal now takes '{name}' as any number; the pack sends whole numbers, which still work."
        return Difference("type_changed", name, CHANGED, message, ours.json_type, fal.types)
    if ours.json_type == "number" and "integer" in fal.types:
        message = (
            f"fal now takes '{name}' as a whole number but the pack sends decimals: use whole values, or "
            f"{_REFUSED}. {_UPDATE}"
        )
    else:
        message = (
            f"fal now expects '{name}' as {' or '.join(sorted(fal.types))}, the pack sends a "
            f"{ours.json_type}: {_REFUSED}. {_UPDATE}"
        )
    return Difference("type_changed", name, BREAKING, message, ours.json_type, fal.types)


def _option_differences(ours: SentField, fal: FalField) -> list[Difference]:
    name = ours.name
    if fal.enum is None:
        if ours.options is not None and fal.types <= {"string"}:
            message = f"fal no longer limits '{name}' to a list of options; the pack's options still work."
            return [Difference("options_lifted", name, CHANGED, message, ours.options, None)]
        return []
    if ours.options is None:
        if ours.json_type != "string":
            return []  # a numeric field with an enum: the range checks say what matters
        message = f"fal now limits '{name}' to {_show(fal.enum)}, but the node accepts any text. {_UPDATE}"
        return [Difference("options_imposed", name, BREAKING, message, None, fal.enum)]
    removed = tuple(o for o in ours.options if o not in fal.enum)
    added = tuple(o for o in fal.enum if o not in ours.options)
    found = []
    if removed:
        choices = _show(fal.enum) if len(fal.enum) <= 8 else f"fal's {len(fal.enum)} options"
        message = (
            f"fal no longer accepts {_show(removed)} for '{name}': choose one of {choices} "
            "(fal refuses other values with HTTP 422, not billed)."
        )
        found.append(Difference("options_removed", name, BREAKING, message, removed, fal.enum))
    if added:
        message = f"fal offers new option(s) {_show(added)} for '{name}' that the node does not list yet."
        found.append(Difference("options_added", name, CHANGED, message, ours.options, added))
    return found


def _bound_difference(ours: SentField, fal: FalField, side: str) -> Difference | None:
    """``side`` is "minimum" or "maximum"; a bound fal does not state is never a difference."""
    lower = side == "minimum"
    limit = ours.minimum if lower else ours.maximum
    inclusive = fal.minimum if lower else fal.maximum
    exclusive = fal.exclusive_minimum if lower else fal.exclusive_maximum
    fal_bound = inclusive if inclusive is not None else exclusive
    if fal_bound is None:
        return None
    name = ours.name
    pack = "the pack sets no " + side if limit is None else f"the pack allows {_show(limit)}"
    if exclusive is not None and inclusive is None:
        outside = limit is None or (limit <= exclusive if lower else limit >= exclusive)
        word = "above" if lower else "below"
        if outside:
            message = f"fal needs '{name}' {word} {_show(exclusive)} but {pack}: {_REFUSED} otherwise."
            return Difference(f"{side}_changed", name, BREAKING, message, limit, exclusive)
        return None
    if limit is None or (limit < inclusive if lower else limit > inclusive):
        keep = "or more" if lower else "or less"
        message = (
            f"fal's {side} for '{name}' is {_show(inclusive)} but {pack}: keep {name} at {_show(inclusive)} "
            f"{keep}, or {_REFUSED}."
        )
        return Difference(f"{side}_changed", name, BREAKING, message, limit, inclusive)
    if limit != inclusive:
        reach = "from" if lower else "up to"
        stop = "starts at" if lower else "stops at"
        message = f"fal now accepts '{name}' {reach} {_show(inclusive)}; the pack {stop} {_show(limit)}."
        return Difference(f"{side}_changed", name, CHANGED, message, limit, inclusive)
    return None


def _default_difference(ours: SentField, fal: FalField) -> Difference | None:
    if ours.default is MISSING or fal.default is MISSING or ours.default == fal.default:
        return None
    message = (
        f"fal's default for '{ours.name}' is now {_show(fal.default)} (the pack's: {_show(ours.default)}); "
        f"runs are unaffected because the pack always sends '{ours.name}'."
    )
    return Difference("default_changed", ours.name, CHANGED, message, ours.default, fal.default)


def _field_differences(ours: SentField, fal: FalField | None, required: bool) -> list[Difference]:
    name = ours.name
    if fal is None:
        message = (
            f"fal no longer lists '{name}', which the pack sends: fal may refuse runs (HTTP 422, not billed) "
            f"or ignore the value. {_UPDATE}"
        )
        return [Difference("field_dropped", name, BREAKING, message, name, None)]
    found: list[Difference | None] = []
    if required and not ours.always:
        message = (
            f"fal now requires '{name}', which the pack leaves out when it is {_show(ours.omitted_when)}: "
            f"set {name} to another value."
        )
        found.append(Difference("now_required", name, BREAKING, message, ours.omitted_when, None))
    found.append(_type_difference(ours, fal))
    found.extend(_option_differences(ours, fal))
    if ours.json_type in ("integer", "number"):
        found.append(_bound_difference(ours, fal, "minimum"))
        found.append(_bound_difference(ours, fal, "maximum"))
    found.append(_default_difference(ours, fal))
    return [d for d in found if d is not None]


def compare(spec: EndpointSpec, schema: FalInputSchema) -> tuple[Difference, ...]:
    """Every difference between the row and fal's input schema (empty: they match)."""
    found: list[Difference] = []
    if schema.endpoint_id is not None and schema.endpoint_id != spec.endpoint_id:
        message = (
            f"fal answered with the schema of '{schema.endpoint_id}' for '{spec.endpoint_id}': fal may have "
            f"renamed or merged the endpoint. {_UPDATE}"
        )
        found.append(
            Difference("other_endpoint", None, CHANGED, message, spec.endpoint_id, schema.endpoint_id)
        )
    sent = sent_fields(spec)
    for ours in sent:
        found.extend(_field_differences(ours, schema.get(ours.name), ours.name in schema.required))
    names = {f.name for f in sent}
    position = {f.name: i for i, f in enumerate(schema.fields)}
    for name in sorted(schema.required - names, key=lambda n: (position.get(n, len(position)), n)):
        message = (
            f"fal now requires '{name}', which the pack does not send: every run would be refused. {_UPDATE}"
        )
        found.append(Difference("required_added", name, BREAKING, message, None, name))
    return tuple(found)


def unreadable(spec: EndpointSpec, reason: str) -> EndpointCheck:
    """The outcome when fal's answer cannot be read as an input schema (``reason`` says what was wrong)."""
    message = (
        f"fal's OpenAPI document of {spec.endpoint_id} {reason}; fal may have changed its format, so the "
        f"fields cannot be checked. {_UPDATE}"
    )
    difference = Difference("unreadable", None, BREAKING, message)
    return EndpointCheck(spec.endpoint_id, spec.node_id, spec.display_name, DRIFT, (difference,))


def check_document(spec: EndpointSpec, document: Any | None) -> EndpointCheck:
    """The outcome for ``spec`` given fal's OpenAPI document (``None``: fal answered 404)."""
    if document is None:
        error = (
            f"fal no longer lists {spec.endpoint_id} (its OpenAPI document answers HTTP 404): fal may have "
            f"retired or renamed it, and runs of the {spec.display_name} node will fail. {_UPDATE}"
        )
        return EndpointCheck(spec.endpoint_id, spec.node_id, spec.display_name, NOT_LISTED, error=error)
    try:
        schema = parse_openapi(document, spec.endpoint_id)
    except SchemaFormatError as exc:
        return unreadable(spec, f"has {exc}")
    differences = compare(spec, schema)
    status = DRIFT if differences else OK
    return EndpointCheck(spec.endpoint_id, spec.node_id, spec.display_name, status, differences)


def unreachable(spec: EndpointSpec, error: str) -> EndpointCheck:
    """The outcome when fal's document could not be fetched (network, server error)."""
    return EndpointCheck(spec.endpoint_id, spec.node_id, spec.display_name, UNREACHABLE, error=error)
