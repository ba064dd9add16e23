"""Questions about the ComfyUI prompt graph (API format), answered without ComfyUI."""

from __future__ import annotations


def output_is_linked(prompt: dict | None, node_id: str | None, output_index: int) -> bool:
    """Whether any node in ``prompt`` takes output ``output_index`` of ``node_id`` as an input.

    Unknown graphs (``None``) count as linked, so the caller errs on the side of producing the output.
    """
    if not isinstance(prompt, dict) or node_id is None:
        return True
    wanted = str(node_id)
    for node in prompt.values():
        inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
        for value in inputs.values():
            if (
                isinstance(value, list)
                and len(value) == 2
                and str(value[0]) == wanted
                and isinstance(value[1], int)
                and value[1] == output_index
            ):
                return True
    return False
