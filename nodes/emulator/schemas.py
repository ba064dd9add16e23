"""Input schemas of the emulated fal endpoints and FastAPI/pydantic-v2-shaped validation errors.

Deliberately independent of the pack's own client-side tables: this module describes what *fal* accepts
(its per-endpoint OpenAPI documents, ``https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=<id>``),
so a drift between the two shows up in tests. Bounds, defaults and required fields as in public copies of
those documents taken on 2026-01-26 (GitHub ``TanStack/ai`` at commit ec0e5a493,
``packages/typescript/ai-fal/scripts/openapi/{video-to-video,text-to-video,audio-to-video}.json``).
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
    """One input field: ``kind`` is str | int | float | literal; bounds are inclusive (ge/le)."""

    name: str
    kind: str
    required: bool = False
    default: Any = None
    nullable: bool = False
    choices: tuple[str, ...] = ()
    ge: float | None = None
    le: float | None = None

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
        if isinstance(value, str):
            return value, None
        return self._err("string_type", "Input should be a valid string", value)

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
            return self._err("int_from_float", "Input should be a valid integer, got a number with a fractional part", value)
        if isinstance(value, str):
            try:
                return int(value.strip()), None
            except ValueError:
                return self._err(
                    "int_parsing", "Input should be a valid integer, unable to parse string as an integer", value
                )
        return self._err("int_type", "Input should be a valid integer", value)

    def _float(self, value: Any) -> tuple[Any, dict | None]:
        if isinstance(value, (bool, int, float)):
            return float(value), None
        if isinstance(value, str):
            try:
                return float(value.strip()), None
            except ValueError:
                return self._err("float_parsing", "Input should be a valid number, unable to parse string as a number", value)
        return self._err("float_type", "Input should be a valid number", value)

    def _bounds(self, value: Any) -> dict | None:
        if self.ge is not None and value < self.ge:
            ge = _plain(self.ge)
            return error_item(self.name, "greater_than_equal", f"Input should be greater than or equal to {ge}", value, {"ge": ge})
        if self.le is not None and value > self.le:
            le = _plain(self.le)
            return error_item(self.name, "less_than_equal", f"Input should be less than or equal to {le}", value, {"le": le})
        return None


def _plain(number: float) -> int | float:
    return int(number) if float(number).is_integer() else number


@dataclass(frozen=True)
class Schema:
    fields: tuple[Field, ...]
    random_seed: bool = field(default=True)  # seed=None → a random seed is chosen

    def validate(self, body: Any) -> dict[str, Any]:
        """Coerce ``body`` into arguments with defaults filled in, or raise ValidationFailed."""
        if not isinstance(body, dict):
            raise ValidationFailed([error_item(
                None, "model_attributes_type", "Input should be a valid dictionary or object to extract fields from", body
            )])
        errors: list[dict] = []
        args: dict[str, Any] = {}
        for f in self.fields:
            value = body.get(f.name, _MISSING)
            if value is _MISSING:
                if f.required:
                    errors.append(error_item(f.name, "missing", "Field required", body))
                else:
                    args[f.name] = f.default
                continue
            coerced, error = f.check(value)
            if error:
                errors.append(error)
            else:
                args[f.name] = coerced
        if errors:
            raise ValidationFailed(errors)
        if "seed" in args and args["seed"] is None and self.random_seed:
            args["seed"] = random.randint(0, 2**31 - 1)
        return args


def _infinitalk_common(frames: tuple[int, int]) -> tuple[Field, ...]:
    return (
        Field("prompt", "str", required=True),
        Field("num_frames", "int", default=145, ge=frames[0], le=frames[1]),
        Field("resolution", "literal", default="480p", choices=("480p", "720p")),
        Field("seed", "int", default=42, nullable=True),
        Field("acceleration", "literal", default="regular", choices=("none", "regular", "high")),
    )


def build_schemas() -> dict[str, Schema]:
    """Schemas by full endpoint id."""
    audio = Field("audio_url", "str", required=True)
    image = Field("image_url", "str", required=True)
    return {
        "fal-ai/infinitalk": Schema((image, audio, *_infinitalk_common((41, 721)))),
        "fal-ai/infinitalk/single-text": Schema((
            image,
            Field("text_input", "str", required=True),
            Field("voice", "literal", required=True, choices=VOICES),
            *_infinitalk_common((41, 721)),
        )),
        "fal-ai/infinitalk/video-to-video": Schema((
            Field("video_url", "str", required=True), audio, *_infinitalk_common((41, 241)),
        )),
        "fal-ai/stable-avatar": Schema((
            image,
            audio,
            Field("prompt", "str", required=True),
            Field("aspect_ratio", "literal", default="auto", choices=("16:9", "1:1", "9:16", "auto")),
            Field("guidance_scale", "float", default=5.0, ge=1.0, le=10.0),
            Field("audio_guidance_scale", "float", default=4.0, ge=0.0, le=10.0),
            Field("num_inference_steps", "int", default=50, ge=10, le=50),
            Field("seed", "int", default=None, nullable=True),
            Field("perturbation", "float", default=0.1, ge=0.0, le=1.0),
        ), random_seed=False),
    }
