"""TEST DOUBLE of comfy_api.latest.io (v0.28.1 names and signatures, no behaviour beyond storage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class ControlAfterGenerate(str, Enum):
    fixed = "fixed"
    increment = "increment"
    decrement = "decrement"
    randomize = "randomize"


class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"


class _Port:
    def __init__(self, id: str | None = None, **kwargs: Any) -> None:
        self.id = id
        self.__dict__.update(kwargs)


def _type(io_type: str):
    class Input(_Port):
        pass

    class Output(_Port):
        pass

    return type(io_type.title(), (), {"io_type": io_type, "Input": Input, "Output": Output})


Image, Audio, Video, Mask = _type("IMAGE"), _type("AUDIO"), _type("VIDEO"), _type("MASK")
String, Int, Float, Combo = _type("STRING"), _type("INT"), _type("FLOAT"), _type("COMBO")
Boolean = _type("BOOLEAN")


@dataclass
class PriceBadgeDepends:
    widgets: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    input_groups: list[str] = field(default_factory=list)


@dataclass
class PriceBadge:
    expr: str
    depends_on: PriceBadgeDepends = field(default_factory=PriceBadgeDepends)
    engine: str = "jsonata"


@dataclass
class Schema:
    node_id: str
    display_name: str = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    search_aliases: list[str] = field(default_factory=list)
    is_output_node: bool = False
    is_deprecated: bool = False
    is_api_node: bool = False
    price_badge: PriceBadge | None = None
    not_idempotent: bool = False


class _Hidden:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str):
        return None


class ComfyNode:
    hidden = _Hidden()

    @classmethod
    def with_hidden(cls, **values: Any):
        """Stands in for core's PREPARE_CLASS_CLONE: a clone whose ``cls.hidden`` is filled."""
        return type(cls.__name__, (cls,), {"hidden": _Hidden(**values)})


class NodeOutput:
    def __init__(self, *args: Any, ui: Any = None) -> None:
        self.args = args
        self.ui = ui

    @property
    def result(self):
        return self.args
