"""The example workflows (example_workflows/*.json) against the real node definitions.

Core nodes are checked against ComfyUI v0.28.1's ``GET /object_info`` answer, ours against the pack's V3
schema (built on the comfy_api TEST DOUBLE and converted to the object_info shape). Checked: node types
exist, every link's type matches both ends and the nodes' link bookkeeping, required sockets are fed,
every widget value is allowed (upload combos name a sample the pack really installs), seeds are
"fixed", each workflow has its .jpg thumbnail, every family has an example, and scripts/make_examples.py
reproduces the JSON exactly.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import mimetypes
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from comfyui_fal_avatar.nodes.avatar.endpoints import BY_NODE_ID, CHOOSE, FAMILIES, GENERATION_ENDPOINTS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_workflows"
WORKFLOWS = sorted(EXAMPLES.glob("*.json"))
PACK_NODES = (*(spec.node_id for spec in GENERATION_ENDPOINTS), "FalAvatarFetchResult")
DOUBLE_MODULES = ("comfy_api", "comfy", "server", "folder_paths")
UPLOAD_MEDIA = {"image_upload": "image/", "audio_upload": "audio/", "video_upload": "video/"}
SOCKET_OF_MEDIA = {"image": "IMAGE", "frames": "IMAGE", "audio": "AUDIO", "video": "VIDEO", "mask": "MASK"}
WIDGET_OF_PARAM = {"text": "STRING", "int": "INT", "float": "FLOAT", "enum": "COMBO", "bool": "BOOLEAN"}


def _purge_double() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in DOUBLE_MODULES or name.startswith("comfyui_fal_avatar.nodes.comfy"):
            del sys.modules[name]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """(make_examples module, definitions by node type, sample file names the pack installs)."""
    saved_path, saved_root = list(sys.path), os.environ.get("COMFY_DOUBLE_ROOT")
    _purge_double()
    os.environ["COMFY_DOUBLE_ROOT"] = str(tmp_path_factory.mktemp("comfy"))
    try:
        spec = importlib.util.spec_from_file_location("make_examples", ROOT / "scripts" / "make_examples.py")
        script = sys.modules["make_examples"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(script)
        nodes_module, extension = script.load_pack()
        samples = {path.name for path in extension.install_samples()}
        definitions = {**script.core_definitions(), **script.pack_definitions(nodes_module)}
        yield script, definitions, samples
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("make_examples", None)
        if saved_root is None:
            os.environ.pop("COMFY_DOUBLE_ROOT", None)
        else:
            os.environ["COMFY_DOUBLE_ROOT"] = saved_root
        _purge_double()


# --- the validator ------------------------------------------------------------------------------------


def _widget_problems(where: str, spec: list, value, samples: set[str], script) -> list[str]:
    kind, opts = script.socket_type(spec), (spec[1] if len(spec) > 1 else {})
    flag = script.upload_flag(spec)
    if flag:
        media = mimetypes.guess_type(str(value))[0] or ""
        if value not in samples or not media.startswith(UPLOAD_MEDIA[flag]):
            return [f"{where}: {value!r} is not a bundled {UPLOAD_MEDIA[flag]} sample ({sorted(samples)})"]
        return []
    if kind == "COMBO":
        options = spec[0] if isinstance(spec[0], list) else opts.get("options", [])
        if value == CHOOSE:  # the placeholder of a required choice: the node refuses it before any money
            return [f"{where}: {value!r} is a placeholder; choose an option"]
        return [] if value in options else [f"{where}: {value!r} not in {options}"]
    if kind == "STRING":
        return [] if isinstance(value, str) else [f"{where}: {value!r} is not a string"]
    if kind == "BOOLEAN":
        return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a boolean"]
    number = (int,) if kind == "INT" else (int, float)
    if isinstance(value, bool) or not isinstance(value, number):
        return [f"{where}: {value!r} is not {kind}"]
    if value < opts.get("min", value) or value > opts.get("max", value):
        return [f"{where}: {value} outside [{opts.get('min')}, {opts.get('max')}]"]
    return []


def _node_widget_problems(node: dict, definition: dict, samples: set[str], script) -> list[str]:
    problems, values = [], list(node.get("widgets_values", []))
    for name, spec in script.ordered_inputs(definition):
        if not script.is_widget(spec):
            continue
        where = f"node {node['id']} {node['type']}.{name}"
        if not values:
            return [*problems, f"{where}: no value in widgets_values"]
        problems += _widget_problems(where, spec, values.pop(0), samples, script)
        if spec[1].get("control_after_generate"):
            control = values.pop(0) if values else None
            if control != "fixed":
                problems.append(f"{where}: control_after_generate is {control!r}, must be 'fixed'")
        flag = script.upload_flag(spec)
        if flag:
            extras = [values.pop(0) for _ in script.UPLOAD_EXTRAS[flag] if values]
            if extras != script.UPLOAD_EXTRAS[flag]:
                problems.append(f"{where}: upload widget values {extras!r}")
    if values:
        problems.append(f"node {node['id']} {node['type']}: extra widgets_values {values!r}")
    return problems


def _socket_problems(node: dict, definition: dict, script) -> list[str]:
    problems, where = [], f"node {node['id']} {node['type']}"
    spec_of = dict(script.ordered_inputs(definition))
    for entry in node.get("inputs", []):
        spec = spec_of.get(entry["name"])
        if spec is None:
            problems.append(f"{where}: unknown input {entry['name']!r}")
            continue
        if entry["type"] != script.socket_type(spec):
            problems.append(f"{where}.{entry['name']}: type {entry['type']} != {script.socket_type(spec)}")
        if script.is_widget(spec) and entry.get("widget") != {"name": entry["name"]}:
            problems.append(f"{where}.{entry['name']}: a widget input needs widget={{'name': ...}}")
    linked = {entry["name"] for entry in node.get("inputs", []) if entry.get("link") is not None}
    for name in definition["input"].get("required", {}):
        if not script.is_widget(spec_of[name]) and name not in linked:
            problems.append(f"{where}: required input {name!r} is not connected")
    outputs = node.get("outputs", [])
    expected = list(zip(definition["output_name"], definition["output"], strict=True))
    if [(o["name"], o["type"]) for o in outputs] != expected:
        problems.append(f"{where}: outputs {[(o['name'], o['type']) for o in outputs]} != {expected}")
    problems += [f"{where}: bad slot_index" for i, o in enumerate(outputs) if o.get("slot_index", i) != i]
    return problems


def _link_problems(workflow: dict, nodes: dict) -> list[str]:
    problems, seen = [], set()
    for link_id, src, src_slot, dst, dst_slot, kind in workflow["links"]:
        where = f"link {link_id}"
        if link_id in seen or src not in nodes or dst not in nodes:
            problems.append(f"{where}: duplicate id or unknown node")
            continue
        seen.add(link_id)
        outputs, inputs = nodes[src].get("outputs", []), nodes[dst].get("inputs", [])
        if src_slot >= len(outputs) or dst_slot >= len(inputs):
            problems.append(f"{where}: slot out of range")
            continue
        out, into = outputs[src_slot], inputs[dst_slot]
        if not (out["type"] == kind == into["type"]):
            problems.append(f"{where}: {out['type']} -> {kind} -> {into['type']}")
        if link_id not in (out.get("links") or []) or into.get("link") != link_id:
            problems.append(f"{where}: not recorded on both nodes")
    for node in nodes.values():
        refs = [o for out in node.get("outputs", []) for o in out.get("links") or []]
        refs += [entry["link"] for entry in node.get("inputs", []) if entry.get("link") is not None]
        problems += [f"node {node['id']}: references missing link {r}" for r in refs if r not in seen]
    return problems


def validate(workflow: dict, definitions: dict, samples: set[str], script) -> list[str]:
    """Every problem of a UI-format workflow against the node definitions ([] when valid)."""
    nodes = {node["id"]: node for node in workflow["nodes"]}
    problems = [] if len(nodes) == len(workflow["nodes"]) else ["duplicate node ids"]
    if workflow.get("version") != 0.4:
        problems.append(f"version {workflow.get('version')!r} != 0.4")
    if workflow["last_node_id"] < max(nodes, default=0):
        problems.append("last_node_id is below a node id")
    if workflow["last_link_id"] < max((link[0] for link in workflow["links"]), default=0):
        problems.append("last_link_id is below a link id")
    for node in workflow["nodes"]:
        definition = definitions.get(node["type"])
        if definition is None:
            problems.append(f"node {node['id']}: unknown type {node['type']!r}")
            continue
        if node.get("properties", {}).get("Node name for S&R") != node["type"]:
            problems.append(f"node {node['id']}: properties['Node name for S&R'] != type")
        problems += _socket_problems(node, definition, script)
        problems += _node_widget_problems(node, definition, samples, script)
    return problems + _link_problems(workflow, nodes)


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --- tests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_matches_the_real_node_definitions(pack, path):
    script, definitions, samples = pack
    assert validate(_load(path), definitions, samples, script) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_has_a_jpeg_thumbnail(path):
    thumb = path.with_suffix(".jpg")
    assert thumb.is_file(), f"{thumb.name} missing (run scripts/make_examples.py)"
    with Image.open(thumb) as img:
        assert img.format == "JPEG" and 384 <= img.width <= 768 and img.height >= 64


def test_every_family_and_the_fetch_node_are_shown_and_nothing_else_is_in_the_folder():
    used = {node["type"] for path in WORKFLOWS for node in _load(path)["nodes"]}
    assert {BY_NODE_ID[t].family for t in used if t in BY_NODE_ID} == set(FAMILIES)
    assert "FalAvatarFetchResult" in used
    stems = {p.stem for p in WORKFLOWS}
    assert {p.name for p in EXAMPLES.iterdir()} == {f"{s}.json" for s in stems} | {f"{s}.jpg" for s in stems}


def test_make_examples_reproduces_the_json_exactly(pack):
    script, _, _ = pack
    built = script.build_all()
    assert sorted(built) == [p.name for p in WORKFLOWS]
    for name, text in built.items():
        assert (EXAMPLES / name).read_text(encoding="utf-8") == text, f"{name} is stale: run the script"


def test_pack_definitions_follow_the_endpoint_rows(pack):
    """The converted schema (what the validator trusts) agrees with the endpoint rows it is built from."""
    script, definitions, _ = pack
    for spec in GENERATION_ENDPOINTS:
        inputs = dict(script.ordered_inputs(definitions[spec.node_id]))
        sockets = {name: s[0] for name, s in inputs.items() if not script.is_widget(s)}
        widgets = [(name, s[0]) for name, s in inputs.items() if script.is_widget(s)]
        assert sockets == {slot.name: SOCKET_OF_MEDIA[slot.kind] for slot in spec.media}
        assert widgets == [(p.name, WIDGET_OF_PARAM[p.kind]) for p in spec.params]
        controlled = [
            name for name, s in inputs.items() if script.is_widget(s) and s[1].get("control_after_generate")
        ]
        assert controlled == ([spec.seed_param.name] if spec.seed_param else []), spec.node_id
        if controlled:
            assert inputs[controlled[0]][1]["control_after_generate"] == "fixed"
        assert definitions[spec.node_id]["output"] == [
            "VIDEO",
            "IMAGE",
            "AUDIO",
            "FLOAT",
            "INT",
            "STRING",
            "STRING",
        ]
    fetch = dict(script.ordered_inputs(definitions["FalAvatarFetchResult"]))
    assert fetch["request_id"][0] == "STRING"
    assert fetch["endpoint"][1]["options"] == [spec.endpoint_id for spec in GENERATION_ENDPOINTS]


def test_recovery_workflow_feeds_request_id_into_fetch_result():
    workflow = _load(EXAMPLES / "fal-avatar-recover-result.json")
    nodes = {node["id"]: node for node in workflow["nodes"]}
    fetch = next(node for node in workflow["nodes"] if node["type"] == "FalAvatarFetchResult")
    entry = next(entry for entry in fetch["inputs"] if entry["name"] == "request_id")
    link = next(link for link in workflow["links"] if link[0] == entry["link"])
    source = nodes[link[1]]
    assert source["type"] in PACK_NODES and source["outputs"][link[2]]["name"] == "request_id"
    assert entry["widget"] == {"name": "request_id"}
    assert any(
        nodes[dst]["type"] == "SaveVideo" for _, src, _, dst, _, _ in workflow["links"] if src == fetch["id"]
    )


def _mutations():
    def link_type(wf):
        wf["links"][0][5] = "MASK"

    def frames_out_of_range(wf):
        gen = next(n for n in wf["nodes"] if n["type"] == "FalInfiniTalkImageToVideo")
        gen["widgets_values"][1] = 100000

    def randomized_seed(wf):
        gen = next(n for n in wf["nodes"] if n["type"] == "FalInfiniTalkImageToVideo")
        gen["widgets_values"][gen["widgets_values"].index("fixed")] = "randomize"

    def unknown_sample(wf):
        wf["nodes"][0]["widgets_values"][0] = "example.png"

    def bad_combo(wf):
        gen = next(n for n in wf["nodes"] if n["type"] == "FalInfiniTalkImageToVideo")
        gen["widgets_values"][gen["widgets_values"].index("480p")] = "1080p"

    def dangling_input(wf):
        wf["links"].pop()

    def unknown_node(wf):
        wf["nodes"][0]["type"] = "NoSuchNode"

    return [
        (link_type, "IMAGE -> MASK -> IMAGE"),
        (frames_out_of_range, "100000 outside [0, 721]"),
        (randomized_seed, "must be 'fixed'"),
        (unknown_sample, "'example.png' is not a bundled image/ sample"),
        (bad_combo, "'1080p' not in ['480p', '720p']"),
        (dangling_input, "references missing link"),
        (unknown_node, "unknown type 'NoSuchNode'"),
    ]


def test_validator_refuses_a_required_choice_left_at_its_placeholder(pack):
    script, definitions, samples = pack
    workflow = copy.deepcopy(_load(EXAMPLES / "fal-Fabric-text-to-video.json"))
    fabric = next(n for n in workflow["nodes"] if n["type"] == "FalFabric10Text")
    assert validate(workflow, definitions, samples, script) == []
    fabric["widgets_values"][fabric["widgets_values"].index("480p")] = CHOOSE
    assert any(
        "is a placeholder; choose an option" in p for p in validate(workflow, definitions, samples, script)
    )


@pytest.mark.parametrize(("mutate", "expected"), _mutations(), ids=[m.__name__ for m, _ in _mutations()])
def test_validator_catches_broken_workflows(pack, mutate, expected):
    script, definitions, samples = pack
    workflow = copy.deepcopy(_load(EXAMPLES / "fal-InfiniTalk-image-to-video.json"))
    mutate(workflow)
    problems = validate(workflow, definitions, samples, script)
    assert any(expected in problem for problem in problems), problems


def full_object_info() -> Path | None:
    """The full ``GET /object_info`` answer of ComfyUI v0.28.1 saved to the file ``FAL_AVATAR_OBJECT_INFO``
    names (not part of the repository: save it from a running ComfyUI v0.28.1)."""
    saved = os.environ.get("FAL_AVATAR_OBJECT_INFO")
    return Path(saved) if saved and Path(saved).is_file() else None


def test_core_subset_is_a_verbatim_extract_of_object_info(pack):
    """The extract in tests/data must equal ComfyUI's own answer for the nodes it holds."""
    script = pack[0]
    path = full_object_info()
    if path is None:
        pytest.skip(
            "no full GET /object_info answer of ComfyUI v0.28.1 to compare with "
            "(set FAL_AVATAR_OBJECT_INFO to a saved one)"
        )
    full = json.loads(path.read_text(encoding="utf-8"))
    subset = json.loads(script.SUBSET_OBJECT_INFO.read_text(encoding="utf-8"))
    assert subset == {name: full[name] for name in subset}
