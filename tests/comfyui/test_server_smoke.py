"""A real ComfyUI server loads the pack (V3 `comfy_entrypoint` in nodes/comfy/extension.py).

Expectations (fail until the adapter provides them):
  - /object_info lists every node id (one per endpoint row, and Fetch Result), each from module
    custom_nodes.comfyui-fal-avatar in its family's category, and the pack did not log "IMPORT FAILED";
  - the generation nodes' outputs are the seven, the first VIDEO; a MASK socket where a row takes a mask;
    a delisted row is still listed (deprecated) so saved workflows open;
  - the pack's routes answer under /fal_avatar and /api/fal_avatar, and its example workflows are listed.
"""

from __future__ import annotations

import json

import pytest
from comfy_harness import NODE_IDS, PACK_FOLDER

from comfyui_fal_avatar.nodes.avatar.endpoints import GENERATION_ENDPOINTS

pytestmark = pytest.mark.comfyui

GENERATION_NODE_IDS = tuple(spec.node_id for spec in GENERATION_ENDPOINTS)
OUTPUTS = ["VIDEO", "IMAGE", "AUDIO", "FLOAT", "INT", "STRING", "STRING"]


def test_object_info_lists_the_pack_nodes(comfy_server):
    failed = [line for line in comfy_server.log_text().splitlines() if "IMPORT FAILED" in line]
    assert not [line for line in failed if PACK_FOLDER in line], failed

    info = comfy_server.object_info()
    missing = [node_id for node_id in NODE_IDS if node_id not in info]
    assert not missing, f"node ids missing from /object_info: {missing}"
    for node_id in NODE_IDS:
        assert info[node_id]["python_module"] == f"custom_nodes.{PACK_FOLDER}", node_id
    for spec in GENERATION_ENDPOINTS:
        node = info[spec.node_id]
        assert node["output"] == OUTPUTS, spec.node_id
        assert node["category"].startswith("fal avatar/") and node["display_name"] == spec.display_name
        assert node.get("deprecated", False) == (spec.status == "delisted"), spec.node_id
        sockets = {**node["input"].get("required", {}), **node["input"].get("optional", {})}
        masks = [name for name, entry in sockets.items() if entry[0] == "MASK"]
        assert masks == [slot.name for slot in spec.media if slot.kind == "mask"], spec.node_id
    print("\n".join(f"{n}: {info[n]['display_name']} [{info[n]['category']}]" for n in NODE_IDS))

    single = comfy_server.object_info("FalInfiniTalkImageToVideo")
    assert list(single) == ["FalInfiniTalkImageToVideo"]


def test_pack_routes_and_example_workflows_are_served(comfy_server, fal_env):
    for prefix in ("", "/api"):
        status, raw = comfy_server.request("GET", f"{prefix}/fal_avatar/key")
        assert status == 200, raw
        assert json.loads(raw) == {"configured": True, "source": "env"}  # FAL_KEY comes from fal_env

    catalog = comfy_server.get_json("/fal_avatar/endpoints")
    assert {row["node_id"] for row in catalog["endpoints"]} == set(GENERATION_NODE_IDS)

    templates = comfy_server.get_json("/api/workflow_templates")
    assert templates.get(PACK_FOLDER), templates
    first = templates[PACK_FOLDER][0]
    status, raw = comfy_server.request("GET", f"/api/workflow_templates/{PACK_FOLDER}/{first}.json")
    assert status == 200
    assert "nodes" in json.loads(raw)  # UI-format workflow
