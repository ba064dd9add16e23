"""Packaging rules: the root imports without ComfyUI, only nodes/comfy imports ComfyUI, the metadata is
what the Comfy Registry needs, and requirements never pin torch."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
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
