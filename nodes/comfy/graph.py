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


def duplicate_index(prompt: dict | None, node_id: str | None) -> int:
    """How many nodes in ``prompt`` before ``node_id`` (by id) are exact duplicates of it: same class and
    the same inputs (the same upstream links and widget values).

    Two identical nodes in one graph are meant as two generations; the index tells them apart while a
    single node keeps index 0, so its results stay shared with every other graph and the CLI.
    """
    if not isinstance(prompt, dict) or node_id is None or str(node_id) not in prompt:
        return 0
    me = prompt[str(node_id)]

    def order(key: str):
        return (0, int(key)) if key.isdigit() else (1, key)

    earlier = [k for k in prompt if order(str(k)) < order(str(node_id))]
    return sum(
        1
        for k in earlier
        if isinstance(prompt[k], dict)
        and prompt[k].get("class_type") == me.get("class_type")
        and prompt[k].get("inputs") == me.get("inputs")
    )
