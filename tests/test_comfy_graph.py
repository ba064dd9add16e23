"""Prompt-graph questions: is the frames output linked, and is this node a duplicate of an earlier one."""

from comfyui_fal_avatar.nodes.comfy.graph import duplicate_index, output_is_linked

NODE = {
    "class_type": "FalInfiniTalkImageToVideo",
    "inputs": {"image": ["1", 0], "audio": ["2", 0], "seed": 42},
}


def test_output_is_linked_looks_for_that_output_index_only():
    prompt = {"5": NODE, "9": {"class_type": "SaveVideo", "inputs": {"video": ["5", 0]}}}
    assert not output_is_linked(prompt, "5", 1)
    prompt["10"] = {"class_type": "PreviewImage", "inputs": {"images": ["5", 1]}}
    assert output_is_linked(prompt, "5", 1)
    assert not output_is_linked(prompt, "6", 1)
    assert output_is_linked(None, "5", 1)  # unknown graph: produce the output


def test_duplicates_are_numbered_in_node_order():
    other = {**NODE, "inputs": {**NODE["inputs"], "seed": 43}}
    prompt = {"12": NODE, "5": NODE, "7": other, "30": NODE}
    assert [duplicate_index(prompt, k) for k in ("5", "7", "12", "30")] == [0, 0, 1, 2]
    assert duplicate_index({"5": NODE}, "5") == 0
    assert duplicate_index(None, "5") == 0 and duplicate_index(prompt, "99") == 0
