"""Shared fixtures: every test runs with its own data directory and no fal key or URLs from outside."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

_ENV_VARS = (
    "FAL_KEY",
    "FAL_KEY_ID",
    "FAL_KEY_SECRET",
    "FAL_QUEUE_URL",
    "FAL_REST_URL",
    "FAL_CDN_URL",
    "FAL_OPENAPI_URL",
    "FAL_API_URL",
    "FAL_AVATAR_QUEUE_TIMEOUT_MIN",
    "FAL_AVATAR_PROCESSING_TIMEOUT_MIN",
    "FAL_AVATAR_CACHE_GB",
    "FAL_AVATAR_MAX_IMAGE_SIDE",
    "FAL_AVATAR_MAX_USD_PER_RUN",
    "FAL_AVATAR_MAX_PARALLEL",
)


def pytest_collection_finish(session):
    """Everything the tests import is loaded by now (torch alone is hundreds of thousands of objects): the
    cyclic garbage collector leaves those objects out of its full collections, which walked them all and
    took about 5 % of the suite's CPU (perf, gc_collect_main and its visitors)."""
    gc.freeze()


EMULATOR_KEY = "test-key-id:test-key-secret"
# The emulator draws and encodes every output frame, mostly at 640x640 and up (OmniHuman 1080p, Kling 1080p at
# 48 fps): the suite's largest CPU cost. Tests through the pack render at most this long side (fps, frame
# count, duration and audio stay the model's); tests of a model's real output size build their own
# FalEmulator (tests/test_emulator_*.py) or take ``full_size_emulator``.
TEST_OUTPUT_SIDE = 128


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "fal-avatar-home"
    monkeypatch.setenv("FAL_AVATAR_HOME", str(home))
    return home


@pytest.fixture
def output_side(request) -> int | None:
    """The long side of an emulator's output videos for this test: TEST_OUTPUT_SIDE, or ``None`` (the model's
    real size) when the test is marked ``full_size_output``."""
    return None if request.node.get_closest_marker("full_size_output") else TEST_OUTPUT_SIDE


@pytest.fixture(scope="session")
def render_cache(tmp_path_factory) -> Path:
    """One folder for the whole session's emulator renders (``FalEmulator(render_cache=...)``): many tests
    render the same job, which is then encoded once. Parallel workers (pytest-xdist) share the session's
    folder, the parent of their own."""
    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session = session.parent
    return session / "emulator-renders"


@pytest.fixture
def emulator(output_side, render_cache):
    """A fresh fal emulator on 127.0.0.1 (random port), stopped after the test; its output videos are at
    most ``output_side`` pixels on the long side. Each job spends at least 0.1 s IN_PROGRESS; a test that
    acts while a job runs makes that job slow itself (``inject_job("slow", ...)``)."""
    from comfyui_fal_avatar.nodes.emulator import FalEmulator

    with FalEmulator(
        key=EMULATOR_KEY, processing_time=0.1, max_output_side=output_side, render_cache=render_cache
    ) as emu:
        yield emu


@pytest.fixture
def fal_env(emulator, monkeypatch):
    """Point the pack (key, every base URL and fal's OpenAPI documents) at the emulator; returns it."""
    monkeypatch.setenv("FAL_KEY", EMULATOR_KEY)
    for name in ("FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL", "FAL_API_URL"):
        monkeypatch.setenv(name, emulator.base_url)
    monkeypatch.setenv("FAL_OPENAPI_URL", emulator.base_url + "/api/openapi/queue/openapi.json")
    return emulator
