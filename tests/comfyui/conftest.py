"""Fixtures for checks against a real ComfyUI (skipped unless COMFYUI_PATH is set).

    COMFYUI_PATH=/path/to/ComfyUI            checkout whose main.py is started (required; unset = skip)
    COMFYUI_PYTHON=/path/to/venv/bin/python  interpreter with ComfyUI's requirements (default: this one)
    COMFYUI_START_TIMEOUT=240                seconds to wait for the server to answer (default 240)

`comfy_server` starts one server per test, wired to that test's fal emulator, and yields a
`comfy_harness.ComfyClient` (post_prompt, wait_for, interrupt, object_info, view, websocket messages).
A test marked `@pytest.mark.comfy_env(NAME="value", ...)` starts its server with those variables set
(e.g. a higher FAL_AVATAR_MAX_USD_PER_RUN for a run that costs more than the default limit).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from comfy_harness import ComfyClient, ComfyServer, child_environment


@pytest.fixture(scope="session")
def comfyui_path() -> Path:
    value = os.environ.get("COMFYUI_PATH")
    if not value:
        pytest.skip("COMFYUI_PATH is not set (point it at a ComfyUI checkout to run the real-ComfyUI checks)")
    path = Path(value).expanduser().resolve()
    if not (path / "main.py").is_file():
        pytest.fail(f"COMFYUI_PATH={value} has no main.py; it must be a ComfyUI checkout")
    return path


@pytest.fixture(scope="session")
def comfyui_python() -> str:
    return os.environ.get("COMFYUI_PYTHON") or sys.executable


@pytest.fixture
def comfy_server(
    comfyui_path, comfyui_python, fal_env, isolated_env, tmp_path, request
) -> Iterator[ComfyClient]:
    """A running ComfyUI with this pack loaded. It inherits the test's environment: `fal_env` points
    FAL_KEY and FAL_QUEUE_URL/FAL_REST_URL/FAL_CDN_URL at the test's `emulator` (same instance), and
    FAL_AVATAR_HOME is the test's `isolated_env` folder. The server log is printed if the test fails."""
    overrides = {"FAL_AVATAR_HOME": str(isolated_env)}
    for marker in reversed(list(request.node.iter_markers("comfy_env"))):  # the closest marker wins
        overrides.update({name: str(value) for name, value in marker.kwargs.items()})
    env = child_environment(overrides)
    server = ComfyServer(comfyui_path, comfyui_python, tmp_path / "comfyui", env)
    server.work_dir.mkdir()
    client = server.start(timeout=float(os.environ.get("COMFYUI_START_TIMEOUT", "240")))
    try:
        yield client
    finally:
        client.ws.close()
        server.stop()
        print(f"--- ComfyUI log ({client.log_path}), last lines ---\n{client.log_tail(80)}")
