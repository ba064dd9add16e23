"""A real ComfyUI server loads the pack (V3 `comfy_entrypoint` in nodes/comfy/extension.py).

Expectations (fail until the adapter provides them):
  - /object_info lists the five node ids, each from module custom_nodes.comfyui-fal-avatar, and the pack
    did not log "IMPORT FAILED";
  - the generation nodes' first output is VIDEO;
  - the pack's routes answer under /fal_avatar and /api/fal_avatar, and its example workflows are listed.
"""

from __future__ import annotations

import json

import pytest
from comfy_harness import NODE_IDS, PACK_FOLDER

pytestmark = pytest.mark.comfyui

GENERATION_NODE_IDS = NODE_IDS[:4]


def test_object_info_lists_the_pack_nodes(comfy_server):
    failed = [line for line in comfy_server.log_text().splitlines() if "IMPORT FAILED" in line]
    assert not [line for line in failed if PACK_FOLDER in line], failed

    info = comfy_server.object_info()
    missing = [node_id for node_id in NODE_IDS if node_id not in info]
    assert not missing, f"node ids missing from /object_info: {missing}"
    for node_id in NODE_IDS:
        assert info[node_id]["python_module"] == f"custom_nodes.{PACK_FOLDER}", node_id
    for node_id in GENERATION_NODE_IDS:
        assert info[node_id]["output"][0] == "VIDEO", node_id

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
