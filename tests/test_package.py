"""Packaging rules: the root imports without ComfyUI, only nodes/comfy imports ComfyUI, the metadata is
what the Comfy Registry needs, and requirements never pin torch."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMFY_MODULES = {"comfy_api", "comfy", "comfy_execution", "server", "folder_paths", "nodes", "execution"}


def test_root_imports_without_comfyui_under_a_folder_name_like_custom_nodes_uses():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('comfyui-fal-avatar', {str(ROOT / '__init__.py')!r},"
        f" submodule_search_locations=[{str(ROOT)!r}])\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = mod\n"
        "spec.loader.exec_module(mod)\n"
        "print(mod.WEB_DIRECTORY, hasattr(mod, 'comfy_entrypoint'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["./web", "False"]


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_adapter_layer_imports_comfyui():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & COMFY_MODULES)
        for path in (ROOT / "nodes").rglob("*.py")
        if "comfy" not in path.relative_to(ROOT / "nodes").parts[:1]
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_transport_media_store_import_without_torch_or_comfyui():
    code = (
        "import sys\n"
        "import comfyui_fal_avatar.nodes.fal.client, comfyui_fal_avatar.nodes.store.journal\n"
        "import comfyui_fal_avatar.nodes.media.video_decode, comfyui_fal_avatar.nodes.pipeline.generate\n"
        "print(sorted(m for m in ('torch', 'comfy_api', 'folder_paths') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_registry_metadata_and_requirements():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project, comfy = meta["project"], meta["tool"]["comfy"]
    assert project["name"] == "comfyui-fal-avatar" and project["requires-python"] == ">=3.10"
    assert len(project["version"].split(".")) == 3
    assert {"Repository"} <= set(project["urls"]) and comfy["PublisherId"] and comfy["DisplayName"]
    assert comfy["requires-comfyui"]
    assert project["scripts"]["fal-avatar"]
    assert "fal-client==1.0.3" in project["optional-dependencies"]["test"]
    deps = [*project["dependencies"], *(ROOT / "requirements.txt").read_text().splitlines()]
    assert not [d for d in deps if d.strip().lower().startswith(("torch", "opencv", "fal-client"))]
    assert importlib.util.find_spec("comfyui_fal_avatar.nodes.cli") is not None


def test_a_wheel_lists_every_package_and_asset_of_the_pack():
    """``pip install .`` (not editable) ships only the packages pyproject lists: a room left out is an
    ImportError for that user (``nodes.compare`` was, for ``fal-avatar compare``)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    rooms = {
        ".".join(("comfyui_fal_avatar", *folder.relative_to(ROOT).parts))
        for folder in [ROOT / "nodes", *(ROOT / "nodes").rglob("*")]
        if folder.is_dir() and folder.name != "__pycache__"
    }
    assert set(setup["packages"]) == {"comfyui_fal_avatar", *rooms}
    patterns = setup["package-data"]["comfyui_fal_avatar.nodes.assets"]
    assets = [path.name for path in (ROOT / "nodes" / "assets").iterdir()]
    assert assets and [name for name in assets if not any(fnmatch(name, p) for p in patterns)] == []


# The layers of the architecture note, lowest first. A module may import its own room and rooms of a lower
# rank, never a higher or an equal one (so no room imports a sibling it does not sit on).
RANKS = {
    "errors": 0,
    "settings": 1,
    "datadir": 1,
    "states": 1,
    "concurrency": 1,  # base
    "avatar": 2,
    "media": 2,  # domain, media
    "fal": 3,
    "credentials": 3,
    "store": 3,
    "spend_guard": 3,  # transport, store, the spend guard
    "services": 4,  # the composition root: what a run is given
    "pipeline": 5,  # one generation
    "fanout": 6,
    "doctor": 6,  # many generations; the free health check
    "longform": 7,  # the entry of every run
    "compare": 7,  # several models on the same input (fan-out, then a side-by-side video)
    "batch": 8,  # manifest rows (runs through longform)
    "comfy": 9,
    "cli": 9,  # faces
}
SAME_FLOOR = {("fal", "credentials")}  # the transport reads the key
EMULATOR_USERS = {"cli", "emulator"}  # `fal-avatar demo` / `fal-avatar emulator`; never the pipeline
NETWORK_MODULES = {"httpx", "socket", "urllib", "http", "ssl", "aiohttp"}
NODES = ROOT / "nodes"


def _room(module: tuple[str, ...]) -> str:
    return module[0]


def _relative_imports(path: Path) -> list[tuple[str, ...]]:
    """The nodes-relative module each relative import names (``from ..store.journal import X`` in
    ``pipeline/generate.py`` → ``("store", "journal")``; ``from . import a`` → the package plus ``a``),
    outside ``if TYPE_CHECKING:`` blocks."""
    package = path.relative_to(NODES).parts[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0 or id(node) in typing_only:
            continue
        base = package[: len(package) - (node.level - 1)]
        target = (*base, *node.module.split(".")) if node.module else base
        found.extend([(*target, alias.name) for alias in node.names] if not node.module else [target])
    return [t for t in found if t]


def _nodes_modules() -> dict[Path, tuple[str, ...]]:
    return {path: path.relative_to(NODES).with_suffix("").parts for path in NODES.rglob("*.py")}


def test_every_room_has_a_rank_and_nodes_uses_relative_imports_only():
    rooms = {_room(parts) for parts in _nodes_modules().values() if parts != ("__init__",)}
    assert rooms - set(RANKS) - {"emulator"} == set()
    absolute = {
        str(path.relative_to(ROOT))
        for path in _nodes_modules()
        if "comfyui_fal_avatar" in _imported_roots(path)
    }
    assert absolute == set()


def test_no_upward_arrow_between_layers():
    upward = []
    for path, parts in _nodes_modules().items():
        own = _room(parts)
        for target in _relative_imports(path):
            other = _room(target)
            if other == own or (own, other) in SAME_FLOOR or own == "emulator" and other == "errors":
                continue
            if other == "emulator":
                ok = own in EMULATOR_USERS
            else:
                ok = own in RANKS and RANKS[other] < RANKS[own]
            if not ok:
                upward.append(f"{path.relative_to(NODES)} -> {'.'.join(target)}")
    assert upward == []


def _rooms_imported(room: str) -> dict[str, set[str]]:
    """For each module of ``room``: the rooms it imports and the third-party roots it imports."""
    return {
        str(path.relative_to(NODES)): {_room(t) for t in _relative_imports(path)} | _imported_roots(path)
        for path, parts in _nodes_modules().items()
        if _room(parts) == room
    }


def _offenders(room: str, forbidden: set[str]) -> dict[str, list[str]]:
    return {
        name: sorted(found & forbidden) for name, found in _rooms_imported(room).items() if found & forbidden
    }


def test_the_transport_never_imports_the_pipeline_or_a_face():
    assert _offenders("fal", {"pipeline", "fanout", "longform", "batch", "comfy", "cli", "store"}) == {}


def test_media_never_touches_the_network_or_the_journal():
    assert _offenders("media", {"fal", "store", "credentials", "sqlite3", *NETWORK_MODULES}) == {}


def test_endpoint_rows_make_no_transport_calls():
    assert _offenders("avatar", {"fal", "credentials", "store", *NETWORK_MODULES}) == {}


def test_the_pipeline_never_imports_comfyui_or_the_emulator():
    for room in ("pipeline", "fanout", "longform", "batch"):
        assert _offenders(room, {"emulator", "comfy", "cli", *COMFY_MODULES}) == {}


def test_the_store_never_imports_the_transport():
    # (socket only for the host name a claim records)
    assert _offenders("store", {"fal", "credentials", "pipeline", *NETWORK_MODULES - {"socket"}}) == {}


def test_no_import_cycle_between_modules():
    """Module-level and function-level imports alike (an import inside a function only hides a cycle)."""
    modules = {parts[:-1] if parts[-1] == "__init__" else parts for parts in _nodes_modules().values()}
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for path, parts in _nodes_modules().items():
        name = parts[:-1] if parts[-1] == "__init__" else parts
        targets = {t if t in modules else t[:-1] for t in _relative_imports(path)}
        # a package's own __init__ re-exports its modules: an import of the package is not an edge back
        graph[name] = {t for t in targets if t in modules and t != name and name[: len(t)] != t}
    seen: dict[tuple[str, ...], int] = {}
    cycles = []

    def visit(node, stack):
        seen[node] = 1
        for nxt in graph.get(node, ()):
            if seen.get(nxt) == 1:
                cycles.append(" -> ".join(".".join(m) for m in [*stack[stack.index(nxt) :], nxt]))
            elif nxt not in seen:
                visit(nxt, [*stack, nxt])
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node, [node])
    assert cycles == []


def test_one_concurrency_limiter_and_one_in_flight_sharing_in_nodes():
    """``concurrency.py`` is their one home: a semaphore, or a registry of running work per event loop (what
    ``PerLoop`` and ``SharedWork`` hold), made anywhere else in nodes/ fails here (use ``concurrency.Limit`` /
    ``SharedWork``, or the fan-out's ``loop_limit`` and identical-key dedup)."""
    home = NODES / "concurrency.py"
    found = [
        f"{path.relative_to(NODES)}:{node.lineno} {name}"
        for path in NODES.rglob("*.py")
        if path != home
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        for name in [node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)]
        if name in {"Semaphore", "BoundedSemaphore", "WeakKeyDictionary"}
    ]
    assert found == []
    classes = {
        node.name
        for node in ast.parse(home.read_text(encoding="utf-8")).body
        if isinstance(node, ast.ClassDef)
    }
    assert {"Limit", "SharedWork", "PerLoop"} <= classes


def test_every_name_the_benchmarks_and_scripts_import_from_the_pack_exists():
    """benchmarks/ and scripts/ run by hand, not in the suite: a name removed from nodes/ must fail here
    rather than on the next person who runs them (imports inside functions included)."""
    missing = []
    for path in sorted([*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "scripts").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("comfyui_fal_avatar."):
                module = importlib.import_module(node.module)
                missing += [
                    f"{path.name}: {node.module}.{alias.name}"
                    for alias in node.names
                    if not hasattr(module, alias.name)
                    and importlib.util.find_spec(f"{node.module}.{alias.name}") is None
                ]
    assert missing == []
