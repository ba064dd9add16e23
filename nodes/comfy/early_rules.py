"""Which fal generation nodes of a queued prompt can start early, and their inputs as the node will get them.

A node qualifies when every input is a widget value or an output of one of ComfyUI's loaders (LoadImage,
LoadAudio, LoadVideo) whose own inputs are all widget values: then what the node will receive can be
computed now, by running those same loaders, and so can its request key. Anything else (an ImageScale in
between, a loader fed by another node) is left to run when ComfyUI reaches the prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..avatar.endpoints import BY_NODE_ID, EndpointSpec

LOADERS = frozenset({"LoadImage", "LoadAudio", "LoadVideo"})


@dataclass(frozen=True)
class EarlyNode:
    """A generation node whose inputs are all known before the prompt runs."""

    node_id: str
    spec: EndpointSpec


@dataclass(frozen=True)
class LateNode:
    """A generation node that runs only when ComfyUI reaches it; ``reason`` says why."""

    node_id: str
    reason: str


def _link(value) -> tuple[str, int] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return str(value[0]), value[1]
    return None


def _why_late(prompt: dict, node: dict) -> str | None:
    for name, value in (node.get("inputs") or {}).items():
        link = _link(value)
        if link is None:
            continue
        source = prompt.get(link[0])
        kind = source.get("class_type", "?") if isinstance(source, dict) else "?"
        if kind not in LOADERS:
            return f"{name} comes from {kind} (node {link[0]})"
        if any(_link(v) is not None for v in (source.get("inputs") or {}).values()):
            return f"{name} comes from {kind} (node {link[0]}), whose file is chosen by another node"
    return None


def _executed(prompt: dict, outputs) -> set[str]:
    """The nodes ComfyUI runs for ``outputs`` (the output node ids it queued): those and all upstream."""
    seen: set[str] = set()
    stack = [str(node_id) for node_id in outputs]
    while stack:
        node_id = stack.pop()
        if node_id in seen or not isinstance(prompt.get(node_id), dict):
            continue
        seen.add(node_id)
        stack.extend(link[0] for v in (prompt[node_id].get("inputs") or {}).values() if (link := _link(v)))
    return seen


def sort_nodes(prompt: dict, outputs=None) -> tuple[list[EarlyNode], list[LateNode]]:
    """The prompt's fal generation nodes: those that can start early, and those that cannot (with why).
    ``outputs``: the output nodes ComfyUI will execute (a partial run); nodes it will not run are left out."""
    executed = _executed(prompt, outputs) if outputs is not None else None
    early, late = [], []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or node.get("class_type") not in BY_NODE_ID:
            continue
        if executed is not None and str(node_id) not in executed:
            continue
        reason = _why_late(prompt, node)
        if reason is None:
            early.append(EarlyNode(str(node_id), BY_NODE_ID[node["class_type"]]))
        else:
            late.append(LateNode(str(node_id), reason))
    return early, late


def node_inputs(prompt: dict, node_id: str, run_loader: Callable[[str, dict], tuple]) -> dict:
    """The inputs ``node_id`` will receive (an early node's): widget values as queued, and the outputs of
    its loaders, computed by ``run_loader(class_type, widget_values)`` (ComfyUI's own loader nodes)."""
    outputs: dict[str, tuple] = {}
    inputs = {}
    for name, value in (prompt[node_id].get("inputs") or {}).items():
        link = _link(value)
        if link is None:
            inputs[name] = value
            continue
        source_id, index = link
        if source_id not in outputs:
            source = prompt[source_id]
            outputs[source_id] = run_loader(source["class_type"], dict(source.get("inputs") or {}))
        inputs[name] = outputs[source_id][index]
    return inputs
