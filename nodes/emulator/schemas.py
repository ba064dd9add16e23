"""How the emulated fal endpoints validate their input: FastAPI/pydantic-v2-shaped fields and 422 items.

The endpoints' own fields are in ``fal_schemas`` (fal's documents, kept independent of the pack's rows).
Lax coercion as pydantic v2: ints from whole floats and numeric strings, floats from numbers and strings,
booleans from 0/1 and "true"/"false"-like strings. A strict schema (``additionalProperties: false``) answers
every unknown field with an ``extra_forbidden`` item; a lax one ignores it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VOICES = (
    "Aria", "Roger", "Sarah", "Laura", "Charlie", "George", "Callum", "River", "Liam", "Charlotte",
    "Alice", "Matilda", "Will", "Jessica", "Eric", "Chris", "Brian", "Daniel", "Lily", "Bill",
)  # fmt: skip

_MISSING = object()


class ValidationFailed(Exception):
    """Raised with a FastAPI ``detail`` list (each item: type, loc, msg, input[, ctx])."""

    def __init__(self, items: list[dict[str, Any]]):
        super().__init__(f"{len(items)} validation error(s)")
        self.items = items


def error_item(field_name: str | None, type_: str, msg: str, value: Any, ctx: dict | None = None) -> dict:
    loc: list[Any] = ["body"] if field_name is None else ["body", field_name]
    item: dict[str, Any] = {"type": type_, "loc": loc, "msg": msg, "input": value}
    if ctx:
        item["ctx"] = ctx
    return item


def _expected(choices: tuple[str, ...]) -> str:
    quoted = [f"'{c}'" for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


@dataclass(frozen=True)
class Field:
    """One input field: ``kind`` is str | int | float | bool | literal | object; bounds are inclusive
    (ge/le); ``min_length``/``max_length`` bound a str; ``fields`` are an object's own (checked when
    present)."""

    name: str
    kind: str
    required: bool = False
    default: Any = None
    nullable: bool = False
    choices: tuple[str, ...] = ()
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    fields: tuple[Field, ...] = ()

    def check(self, value: Any) -> tuple[Any, dict | None]:
        """Return (coerced value, None) or (None, error item) like pydantic v2 in lax mode."""
        if value is None and self.nullable:
            return None, None
        coerce: Callable[[Any], tuple[Any, dict | None]] = getattr(self, f"_{self.kind}")
        coerced, error = coerce(value)
        if error is None:
            error = self._bounds(coerced)
        return (None, error) if error else (coerced, None)

    def _err(self, type_: str, msg: str, value: Any, ctx: dict | None = None) -> tuple[None, dict]:
        return None, error_item(self.name, type_, msg, value, ctx)

    def _str(self, value: Any) -> tuple[Any, dict | None]:
        if not isinstance(value, str):
            return self._err("string_type", "Input should be a valid string", value)
        if self.min_length is not None and len(value) < self.min_length:
            unit = "character" if self.min_length == 1 else "characters"
            return self._err(
                "string_too_short",
                f"String should have at least {self.min_length} {unit}",
                value,
                {"min_length": self.min_length},
            )
        if self.max_length is not None and len(value) > self.max_length:
            unit = "character" if self.max_length == 1 else "characters"
            return self._err(
                "string_too_long",
                f"String should have at most {self.max_length} {unit}",
                value,
                {"max_length": self.max_length},
            )
        return value, None

    def _bool(self, value: Any) -> tuple[Any, dict | None]:
        if isinstance(value, bool):
            return value, None
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE, None
            return self._err(
                "bool_parsing", "Input should be a valid boolean, unable to interpret input", value
            )
        return self._err("bool_type", "Input should be a valid boolean", value)

    def _object(self, value: Any) -> tuple[Any, dict | None]:
        """A nested model: its first error is reported at ``["body", <this field>, <its field>]``; an object
        without declared fields is kept as given."""
        if not self.fields and isinstance(value, dict):
            return value, None
        try:
            return Schema(self.fields, random_seed=False).validate(value, keep_unset=False), None
        except ValidationFailed as exc:
            item = dict(exc.items[0])
            item["loc"] = ["body", self.name, *item["loc"][1:]]
            return None, item

    def _literal(self, value: Any) -> tuple[Any, dict | None]:
        if isinstance(value, str) and value in self.choices:
            return value, None
        expected = _expected(self.choices)
        return self._err("literal_error", f"Input should be {expected}", value, {"expected": expected})

    def _int(self, value: Any) -> tuple[Any, dict | None]:
        if isinstance(value, bool) or isinstance(value, int):
            return int(value), None
        if isinstance(value, float):
            if math.isfinite(value) and value.is_integer():
                return int(value), None
            return self._err(
                "int_from_float",
                "Input should be a valid integer, got a number with a fractional part",
                value,
            )
        if isinstance(value, str):
            try:
                return int(value.strip()), None
            except ValueError:
                return self._err(
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                    value,
                )
        return self._err("int_type", "Input should be a valid integer", value)

    def _float(self, value: Any) -> tuple[Any, dict | None]:
        if isinstance(value, (bool, int, float)):
            return float(value), None
        if isinstance(value, str):
            try:
                return float(value.strip()), None
            except ValueError:
                return self._err(
                    "float_parsing",
                    "Input should be a valid number, unable to parse string as a number",
                    value,
                )
        return self._err("float_type", "Input should be a valid number", value)

    def _bounds(self, value: Any) -> dict | None:
        if self.ge is not None and value < self.ge:
            ge = _plain(self.ge)
            return error_item(
                self.name,
                "greater_than_equal",
                f"Input should be greater than or equal to {ge}",
                value,
                {"ge": ge},
            )
        if self.le is not None and value > self.le:
            le = _plain(self.le)
            return error_item(
                self.name, "less_than_equal", f"Input should be less than or equal to {le}", value, {"le": le}
            )
        return None


_TRUE = {"true", "1", "yes", "y", "on", "t"}
_FALSE = {"false", "0", "no", "n", "off", "f"}


def _plain(number: float) -> int | float:
    return int(number) if float(number).is_integer() else number


@dataclass(frozen=True)
class Schema:
    fields: tuple[Field, ...]
    random_seed: bool = field(default=True)  # seed=None → a random seed is chosen
    strict: bool = False  # fal's additionalProperties: false → an unknown field is a 422

    def validate(self, body: Any, *, keep_unset: bool = True) -> dict[str, Any]:
        """Coerce ``body`` into arguments with defaults filled in (``keep_unset=False``: only the fields
        given), or raise ValidationFailed."""
        if not isinstance(body, dict):
            raise ValidationFailed(
                [
                    error_item(
                        None,
                        "model_attributes_type",
                        "Input should be a valid dictionary or object to extract fields from",
                        body,
                    )
                ]
            )
        errors: list[dict] = []
        args: dict[str, Any] = {}
        for f in self.fields:
            value = body.get(f.name, _MISSING)
            if value is _MISSING:
                if f.required:
                    errors.append(error_item(f.name, "missing", "Field required", body))
                elif keep_unset:
                    args[f.name] = f.default
                continue
            coerced, error = f.check(value)
            if error:
                errors.append(error)
            else:
                args[f.name] = coerced
        if self.strict:
            known = {f.name for f in self.fields}
            errors.extend(
                error_item(name, "extra_forbidden", "Extra inputs are not permitted", value)
                for name, value in body.items()
                if name not in known
            )
        if errors:
            raise ValidationFailed(errors)
        if "seed" in args and args["seed"] is None and self.random_seed:
            args["seed"] = random.randint(0, 2**31 - 1)
        return args
