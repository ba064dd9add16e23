"""Write the example workflows in example_workflows/: UI-format JSON and a <stem>.jpg thumbnail each.

The JSON is derived from the real node definitions: core nodes from ComfyUI's ``GET /object_info``
answer (the v0.28.1 extract in tests/data, or a full answer saved to the file ``FAL_AVATAR_OBJECT_INFO``
names), the pack's nodes from their V3 schema (loaded through tests/comfy_double and converted to the
same shape). The thumbnails are frames of real outputs: each workflow's inputs run through the pack's
pipeline against the embedded emulator.

Run: .venv/bin/python scripts/make_examples.py [--json-only]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from PIL import Image

from comfyui_fal_avatar.nodes.avatar.endpoints import BY_ENDPOINT_ID, BY_NODE_ID, CHOOSE
from comfyui_fal_avatar.nodes.cli.demo import _emulated_fal
from comfyui_fal_avatar.nodes.cli.files import load_audio, load_image
from comfyui_fal_avatar.nodes.cli.generate import run_request
from comfyui_fal_avatar.nodes.media import decode_frames, probe_video
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
from comfyui_fal_avatar.nodes.pipeline.recover import fetch_result
from comfyui_fal_avatar.nodes.services import Services

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "example_workflows"
DOUBLE = ROOT / "tests" / "comfy_double"
# A verbatim extract of ComfyUI v0.28.1's GET /object_info answer: the core nodes the examples use.
SUBSET_OBJECT_INFO = ROOT / "tests" / "data" / "object_info-core-v0.28.1-subset.json"

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "COMBO", "BOOLEAN")
# Widgets the frontend adds after an upload combo (button, audio player); not in object_info, but
# saved in widgets_values with these values.
UPLOAD_EXTRAS = {"image_upload": ["image"], "video_upload": ["image"], "audio_upload": [None, None]}
# The core loader for each socket type and the bundled sample (nodes/assets) it loads.
LOADERS = {"IMAGE": "LoadImage", "AUDIO": "LoadAudio", "VIDEO": "LoadVideo"}
SAMPLES = {"IMAGE": "sample_portrait.png", "AUDIO": "sample_speech.wav", "VIDEO": "sample_video.mp4"}
CHEAP = {"num_frames": 0, "seed": 42}  # applied where the node has the widget; resolution: the cheapest


# --- node definitions --------------------------------------------------------------------------------


def object_info_path() -> Path:
    """``FAL_AVATAR_OBJECT_INFO`` (a saved ``GET /object_info`` answer), else the tests' own extract."""
    override = os.environ.get("FAL_AVATAR_OBJECT_INFO")
    return Path(override) if override else SUBSET_OBJECT_INFO


def core_definitions() -> dict:
    """ComfyUI's object_info (core node types)."""
    path = object_info_path()
    if not path.is_file():
        raise SystemExit(f"{path} not found; set FAL_AVATAR_OBJECT_INFO to a GET /object_info JSON")
    return json.loads(path.read_text(encoding="utf-8"))


def load_pack():
    """The pack's ComfyUI modules (avatar_nodes, extension), built on the comfy_api test double."""
    if str(DOUBLE) not in sys.path:
        sys.path.insert(0, str(DOUBLE))
    nodes = importlib.import_module("comfyui_fal_avatar.nodes.comfy.avatar_nodes")
    extension = importlib.import_module("comfyui_fal_avatar.nodes.comfy.extension")
    return nodes, extension


def _plain(value):
    return value.value if isinstance(value, Enum) else value


def _io_type(port, io, direction: str) -> str:
    """The ComfyUI type of an input/output port object (``direction``: "Input" | "Output")."""
    known = getattr(port, "io_type", None)
    if known:
        return known
    for kind in vars(io).values():
        if getattr(kind, direction, None) is type(port) and hasattr(kind, "io_type"):
            return kind.io_type
    raise TypeError(f"unknown port class {type(port).__name__} for {port.id!r}")


def object_info_entry(schema, io) -> dict:
    """A V3 ``io.Schema`` in the shape of an object_info entry (input/input_order/output/output_name)."""
    sections: dict[str, dict] = {"required": {}, "optional": {}}
    for port in schema.inputs:
        opts = {k: _plain(v) for k, v in vars(port).items() if k not in ("id", "optional") and v is not None}
        sections["optional" if getattr(port, "optional", False) else "required"][port.id] = [
            _io_type(port, io, "Input"),
            opts,
        ]
    sections = {name: section for name, section in sections.items() if section}
    return {
        "name": schema.node_id,
        "display_name": schema.display_name,
        "category": schema.category,
        "input": sections,
        "input_order": {name: list(section) for name, section in sections.items()},
        "output": [_io_type(port, io, "Output") for port in schema.outputs],
        "output_name": [port.id for port in schema.outputs],
        "output_node": bool(schema.is_output_node),
    }


def pack_definitions(nodes_module) -> dict:
    """object_info entries for the pack's nodes."""
    io = nodes_module.io
    entries = [object_info_entry(cls.define_schema(), io) for cls in nodes_module.NODES]
    return {entry["name"]: entry for entry in entries}


def ordered_inputs(definition: dict) -> list[tuple[str, list]]:
    """Inputs in the order the frontend creates them: required, then optional, each in input_order."""
    order = definition.get("input_order") or {k: list(v) for k, v in definition["input"].items()}
    return [
        (name, definition["input"][section][name])
        for section in ("required", "optional")
        for name in order.get(section, [])
    ]


def socket_type(spec: list) -> str:
    """The type of an input spec; legacy combos (a list of options) are COMBO."""
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def is_widget(spec: list) -> bool:
    return socket_type(spec) in WIDGET_TYPES and not (len(spec) > 1 and spec[1].get("forceInput"))


def upload_flag(spec: list) -> str | None:
    opts = spec[1] if len(spec) > 1 else {}
    return next((flag for flag in UPLOAD_EXTRAS if opts.get(flag)), None)


# --- workflow graph ----------------------------------------------------------------------------------


@dataclass
class Node:
    id: int
    type: str
    definition: dict
    pos: list
    size: list
    values: dict
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def output_slot(self, name: str) -> int:
        return self.definition["output_name"].index(name)

    def to_json(self, order: int) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "pos": self.pos,
            "size": self.size,
            "flags": {},
            "order": order,
            "mode": 0,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "properties": {"Node name for S&R": self.type},
            "widgets_values": widgets_values(self.definition, self.values),
        }


def widgets_values(definition: dict, values: dict) -> list:
    """The widget values in frontend order (seed control and upload extras included)."""
    out: list = []
    widgets = [(name, spec) for name, spec in ordered_inputs(definition) if is_widget(spec)]
    unknown = set(values) - {name for name, _ in widgets}
    if unknown:
        raise ValueError(f"{definition['name']} has no widget {sorted(unknown)}")
    for name, spec in widgets:
        opts = spec[1] if len(spec) > 1 else {}
        if name not in values and "default" not in opts:
            raise ValueError(f"{definition['name']}.{name} has no default; give a value")
        out.append(values.get(name, opts.get("default")))
        if opts.get("control_after_generate"):
            out.append("fixed")
        flag = upload_flag(spec)
        if flag:
            out.extend(UPLOAD_EXTRAS[flag])
    return out


class Workflow:
    """Builds one UI-format (LiteGraph) workflow, nodes added in execution order."""

    def __init__(self, definitions: dict) -> None:
        self.definitions = definitions
        self.nodes: list[Node] = []
        self.links: list[list] = []
        self.groups: list[dict] = []

    def add(self, node_type: str, pos: tuple[int, int], size: tuple[int, int], **values) -> Node:
        definition = self.definitions[node_type]
        node = Node(len(self.nodes) + 1, node_type, definition, list(pos), list(size), values)
        node.inputs = [
            {"name": name, "type": socket_type(spec), "link": None}
            for name, spec in ordered_inputs(definition)
            if not is_widget(spec)
        ]
        node.outputs = [
            {"name": name, "type": kind, "links": [], "slot_index": slot}
            for slot, (name, kind) in enumerate(
                zip(definition["output_name"], definition["output"], strict=True)
            )
        ]
        widgets_values(definition, values)  # fail early on unknown widgets
        self.nodes.append(node)
        return node

    def connect(self, src: Node, output: str, dst: Node, input_name: str) -> None:
        """Link ``src.output`` to ``dst.input_name``; a widget input is converted to a socket."""
        out_slot = src.output_slot(output)
        kind = src.outputs[out_slot]["type"]
        slots = [entry["name"] for entry in dst.inputs]
        if input_name not in slots:
            spec = dict(ordered_inputs(dst.definition))[input_name]
            dst.inputs.append(
                {"name": input_name, "type": socket_type(spec), "link": None, "widget": {"name": input_name}}
            )
            slots.append(input_name)
        in_slot = slots.index(input_name)
        entry = dst.inputs[in_slot]
        if entry["type"] != kind:
            raise TypeError(
                f"{src.type}.{output} ({kind}) cannot feed {dst.type}.{input_name} ({entry['type']})"
            )
        link_id = len(self.links) + 1
        entry["link"] = link_id
        src.outputs[out_slot]["links"].append(link_id)
        self.links.append([link_id, src.id, out_slot, dst.id, in_slot, kind])

    def group(self, title: str, nodes: list[Node], pad: int = 30) -> None:
        left = min(n.pos[0] for n in nodes) - pad
        top = min(n.pos[1] for n in nodes) - pad - 40
        right = max(n.pos[0] + n.size[0] for n in nodes) + pad
        bottom = max(n.pos[1] + n.size[1] for n in nodes) + pad
        self.groups.append(
            {
                "id": len(self.groups) + 1,
                "title": title,
                "bounding": [left, top, right - left, bottom - top],
                "color": "#3f789e",
                "font_size": 20,
                "flags": {},
            }
        )

    def to_json(self) -> dict:
        return {
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": [node.to_json(order) for order, node in enumerate(self.nodes)],
            "links": self.links,
            "groups": self.groups,
            "config": {},
            "extra": {"ds": {"scale": 0.85, "offset": [60, 60]}},
            "version": 0.4,
        }


# --- the examples -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    stem: str
    endpoint_id: str  # the generation node's row
    sockets: tuple[str, ...]  # its media sockets fed by core loaders with the bundled samples
    note: str  # the title of the generation node's group
    preview_audio: bool = False
    recover: bool = False

    @property
    def node_id(self) -> str:
        return BY_ENDPOINT_ID[self.endpoint_id].node_id


# At least one per family (EndpointSpec.family); the sockets not listed (a mask, footage's frames) stay open.
EXAMPLES = (
    Example(
        "fal-InfiniTalk-image-to-video",
        "fal-ai/infinitalk",
        ("image", "audio"),
        "InfiniTalk on fal: 480p, auto length, fixed seed",
        preview_audio=True,
    ),
    Example(
        "fal-OmniHuman-1.5",
        "fal-ai/bytedance/omnihuman/v1.5",
        ("image", "audio"),
        "OmniHuman 1.5: 720p (60 s per job); a MASK picks who speaks",
    ),
    Example(
        "fal-InfiniTalk-text-to-video",
        "fal-ai/infinitalk/single-text",
        ("image",),
        "InfiniTalk with a built-in voice: 480p, auto length",
    ),
    Example(
        "fal-Fabric-text-to-video",
        "veed/fabric-1.0/text",
        ("image",),
        "VEED Fabric 1.0 text: the voice comes from the face; choose a resolution",
    ),
    Example(
        "fal-two-people",
        "fal-ai/ai-avatar/multi",
        ("image", "audio", "audio2"),
        "Two people (MultiTalk): one speech track each",
    ),
    Example(
        "fal-InfiniTalk-video-dubbing",
        "fal-ai/infinitalk/video-to-video",
        ("video", "audio"),
        "InfiniTalk dubbing: new lips for the video",
    ),
    Example(
        "fal-sync-lipsync-footage",
        "fal-ai/sync-lipsync/v2",
        ("video", "audio"),
        "sync lipsync 2 on footage: only the mouth is redrawn",
    ),
    Example(
        "fal-StableAvatar",
        "fal-ai/stable-avatar",
        ("image", "audio"),
        "StableAvatar (delisted by fal; kept so saved workflows open)",
    ),
    Example(
        "fal-avatar-recover-result",
        "fal-ai/infinitalk",
        ("image", "audio"),
        "Generate (paid once; re-runs reuse it)",
        recover=True,
    ),
)

LOADER_SIZE = {"LoadImage": (320, 340), "LoadAudio": (320, 140), "LoadVideo": (320, 420)}
GEN_WIDTH, OUT_WIDTH = 420, 440


def node_height(definition: dict) -> int:
    """A readable starting height (the frontend grows a node to fit its widgets)."""
    inputs = ordered_inputs(definition)
    sockets = sum(1 for _, spec in inputs if not is_widget(spec))
    multiline = sum(1 for _, spec in inputs if is_widget(spec) and spec[1].get("multiline"))
    widgets = sum(1 for _, spec in inputs if is_widget(spec)) - multiline
    return 40 + 22 * max(sockets, len(definition["output"])) + 26 * widgets + 110 * multiline


def cheap_values(definition: dict) -> dict:
    """The cheapest settings: auto length, a fixed seed, and the resolution with the lowest rate (also where
    the node makes the user choose one)."""
    inputs = dict(ordered_inputs(definition))
    values = {name: value for name, value in CHEAP.items() if name in inputs and is_widget(inputs[name])}
    if "resolution" in inputs:
        price = BY_NODE_ID[definition["name"]].price
        options = [o for o in inputs["resolution"][1]["options"] if o != CHOOSE]
        values["resolution"] = min(options, key=price.rate)
    return values


def sample_file_name(extension, socket_kind: str) -> str:
    """The name the pack gives a bundled sample in ComfyUI's input folder."""
    return extension.SAMPLE_PREFIX + SAMPLES[socket_kind]


def build_example(example: Example, definitions: dict, extension) -> dict:
    wf = Workflow(definitions)
    gen_def = definitions[example.node_id]
    gen_sockets = {entry_name: socket_type(spec) for entry_name, spec in ordered_inputs(gen_def)}
    x, y = 40, 80
    loaders = []
    for socket in example.sockets:
        kind = gen_sockets[socket]
        loader_type = LOADERS[kind]
        loader_def = definitions[loader_type]
        upload = next(name for name, spec in ordered_inputs(loader_def) if upload_flag(spec))
        loader = wf.add(
            loader_type, (x, y), LOADER_SIZE[loader_type], **{upload: sample_file_name(extension, kind)}
        )
        loaders.append((loader, kind, socket))
        y += LOADER_SIZE[loader_type][1] + 60
    gen_x = x + 320 + 80
    gen = wf.add(example.node_id, (gen_x, 80), (GEN_WIDTH, node_height(gen_def)), **cheap_values(gen_def))
    for loader, kind, socket in loaders:
        wf.connect(
            loader, loader.definition["output_name"][loader.definition["output"].index(kind)], gen, socket
        )
    wf.group("Samples (copied to input/ on load)", [loader for loader, _, _ in loaders])
    wf.group(example.note, [gen])
    source, out_x = gen, gen_x + GEN_WIDTH + 80
    if example.recover:
        fetch_def = definitions["FalAvatarFetchResult"]
        fetch = wf.add(
            "FalAvatarFetchResult",
            (out_x, 80),
            (GEN_WIDTH, node_height(fetch_def)),
            endpoint=example.endpoint_id,
        )
        wf.connect(gen, "request_id", fetch, "request_id")
        wf.group("Fetch by request id: free (stored result)", [fetch])
        source, out_x = fetch, out_x + GEN_WIDTH + 80
    save = wf.add("SaveVideo", (out_x, 80), (OUT_WIDTH, 520), filename_prefix=f"video/{example.stem}")
    wf.connect(source, "video", save, "video")
    outputs = [save]
    if example.preview_audio:
        preview = wf.add("PreviewAudio", (out_x, 80 + 520 + 60), (OUT_WIDTH, 120))
        wf.connect(source, "audio", preview, "audio")
        outputs.append(preview)
    wf.group("Results", outputs)
    return wf.to_json()


def render(workflow: dict) -> str:
    return json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """``{file name: JSON text}`` of every example workflow (no files written)."""
    nodes_module, extension = load_pack()
    definitions = {**core_definitions(), **pack_definitions(nodes_module)}
    return {f"{ex.stem}.json": render(build_example(ex, definitions, extension)) for ex in EXAMPLES}


# --- thumbnails from real (emulated) outputs -----------------------------------------------------------


def widget_map(definition: dict, values: list) -> dict:
    """``{widget name: value}`` from a node's widgets_values (skipping seed controls and upload extras)."""
    out, rest = {}, list(values)
    for name, spec in ordered_inputs(definition):
        if not is_widget(spec):
            continue
        out[name] = rest.pop(0)
        if spec[1].get("control_after_generate"):
            rest.pop(0)
        flag = upload_flag(spec)
        if flag:
            del rest[: len(UPLOAD_EXTRAS[flag])]
    return out


def generation_request(workflow: dict, definitions: dict, extension):
    """The workflow's generation node as a pipeline request: its widgets and the samples its loaders load."""
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}
    gen = next(node for node in workflow["nodes"] if node["type"] in BY_NODE_ID)
    spec = BY_NODE_ID[gen["type"]]
    values = widget_map(definitions[gen["type"]], gen["widgets_values"])
    request = GenerationRequest(
        spec=spec, values={p.name: values[p.name] for p in spec.params}, want_frames=False
    )
    for entry in gen["inputs"]:
        if entry["link"] is None or "widget" in entry:
            continue
        loader = nodes[links[entry["link"]][1]]
        path = extension.ASSETS / loader["widgets_values"][0].removeprefix(extension.SAMPLE_PREFIX)
        if entry["type"] == "IMAGE":
            setattr(request, entry["name"], load_image(path))
        elif entry["type"] == "AUDIO":
            setattr(request, entry["name"], load_audio(path))  # audio, or the second speaker's audio2
        else:
            request.video_path = path
    return request


async def run_workflow(workflow: dict, definitions: dict, extension, services: Services) -> Path:
    """Run the workflow's fal nodes through the pipeline (the node's code path); the final video file."""
    outcome, _ = await run_request(generation_request(workflow, definitions, extension), services=services)
    fetch = next((node for node in workflow["nodes"] if node["type"] == "FalAvatarFetchResult"), None)
    if fetch is None:
        return outcome.path
    endpoint = widget_map(definitions["FalAvatarFetchResult"], fetch["widgets_values"])["endpoint"]
    return (await fetch_result(endpoint, outcome.request_id, services=services)).path


def thumbnail(video: Path, dest: Path, *, columns: int = 3, rows: int = 2, width: int = 512) -> None:
    """A columns×rows sheet of evenly spaced frames, ``width`` px wide, as JPEG quality 85."""
    count = columns * rows
    stride = max(1, probe_video(video).frame_count // count)
    frames = decode_frames(video, stride=stride, max_frames=count).numpy()
    h, w, gap = frames.shape[1], frames.shape[2], 8
    sheet = Image.new("RGB", (columns * w + (columns - 1) * gap, rows * h + (rows - 1) * gap), (24, 24, 24))
    for i, frame in enumerate(frames):
        tile = Image.fromarray((frame.clip(0, 1) * 255 + 0.5).astype("uint8"))
        sheet.paste(tile, ((i % columns) * (w + gap), (i // columns) * (h + gap)))
    sheet = sheet.resize((width, round(sheet.height * width / sheet.width)), Image.LANCZOS)
    sheet.save(dest, "JPEG", quality=85, optimize=True)


def make_thumbnails() -> None:
    nodes_module, extension = load_pack()
    definitions = {**core_definitions(), **pack_definitions(nodes_module)}
    with _emulated_fal() as (base_url, services):
        print(f"running the examples on the emulator at {base_url}")
        for name in sorted(build_all()):
            workflow = json.loads((OUT_DIR / name).read_text(encoding="utf-8"))
            video = asyncio.run(run_workflow(workflow, definitions, extension, services))
            dest = OUT_DIR / name.replace(".json", ".jpg")
            thumbnail(video, dest)
            print(f"wrote example_workflows/{dest.name} (from {video.name})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-only", action="store_true", help="skip the thumbnails (no pipeline run)")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(exist_ok=True)
    for name, text in build_all().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote example_workflows/{name}")
    if not args.json_only:
        make_thumbnails()
    return 0


if __name__ == "__main__":
    sys.exit(main())
