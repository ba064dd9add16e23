"""A request key depends only on the inputs as given: one key over 20 computations in one process for every
media path, and the same key in processes whose heap starts with other contents (MALLOC_PERTURB_)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

ASSETS = Path(__file__).resolve().parent.parent / "nodes" / "assets"

# Each case builds a GenerationRequest from files under a folder (given as argv[1]) and prints its key.
KEYS = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    import numpy as np
    from comfyui_fal_avatar.nodes.avatar import endpoints as ep
    from comfyui_fal_avatar.nodes.cli.files import load_audio, load_image
    from comfyui_fal_avatar.nodes.pipeline.generate import Generation
    from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
    from comfyui_fal_avatar.nodes.services import build_services

    folder, assets, times = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    image, audio = load_image(assets / "sample_portrait.png"), load_audio(assets / "sample_speech.wav")
    rng = np.random.default_rng(7)
    frames = rng.random((30, 72, 96, 3), dtype=np.float32)
    cases = {
        "image+audio": lambda: GenerationRequest(
            ep.INFINITALK_IMAGE, {"num_frames": 41}, image=image, audio=audio),
        "stable-avatar": lambda: GenerationRequest(ep.STABLE_AVATAR, {"seed": 3}, image=image, audio=audio),
        "text": lambda: GenerationRequest(ep.INFINITALK_TEXT, {"text_input": "Hello there."}, image=image),
        "dub MOV file": lambda: GenerationRequest(
            ep.INFINITALK_VIDEO, {}, video_path=folder / "clip.mov", audio=audio),
        "dub WebM file": lambda: GenerationRequest(
            ep.INFINITALK_VIDEO, {}, video_path=folder / "clip.webm", audio=audio),
        "dub trimmed": lambda: GenerationRequest(
            ep.INFINITALK_VIDEO, {}, video_path=folder / "clip.mov", video_window=(10, 45), audio=audio),
        "dub frames": lambda: GenerationRequest(
            ep.INFINITALK_VIDEO, {"fps": 30.0}, frames=frames, audio=audio),
    }

    async def key(make):
        return (await Generation(make(), services=build_services()).prepare()).key

    keys = {name: sorted({asyncio.run(key(make)) for _ in range(times)}) for name, make in cases.items()}
    print(json.dumps(keys))
    """
)


# The encoders' fastest settings: the clips are inputs, their quality is of no concern.
FASTEST = {"libx264": {"preset": "ultrafast"}, "libvpx": {"deadline": "realtime", "cpu-used": "8"}}


def _clip(path: Path, codec: str, fmt: str) -> None:
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=30, options=FASTEST[codec])
        stream.width, stream.height, stream.pix_fmt = 144, 96, "yuv420p"
        for i in range(75):
            pixels = np.full((96, 144, 3), (i * 3) % 256, np.uint8)
            pixels[:, i % 144] = 255
            out.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(stream.encode(None))


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sources")
    _clip(folder / "clip.mov", "libx264", "mov")
    _clip(folder / "clip.webm", "libvpx", "webm")
    return folder


def keys(folder: Path, times: int, perturb: str | None = None) -> dict[str, list[str]]:
    env = dict(os.environ)
    if perturb is not None:
        env["MALLOC_PERTURB_"] = perturb
    proc = subprocess.run(
        [sys.executable, "-c", KEYS, str(folder), str(ASSETS), str(times)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_one_key_per_media_path_over_20_computations_and_whatever_the_heap_holds(sources):
    here = keys(sources, 20)
    assert all(len(found) == 1 for found in here.values()), here
    assert len({found[0] for found in here.values()}) == len(here)  # and the cases differ from each other
    for perturb in ("1", "85", "170", "255"):
        assert keys(sources, 1, perturb) == here, f"MALLOC_PERTURB_={perturb}"


def test_the_key_needs_no_encoding(sources, monkeypatch):
    """Computing a key must not run any encoder (a re-run that finds its result pays nothing and waits
    for nothing)."""
    from comfyui_fal_avatar.nodes.avatar import endpoints as ep
    from comfyui_fal_avatar.nodes.cli.files import load_audio
    from comfyui_fal_avatar.nodes.media import video_encode, video_excerpt
    from comfyui_fal_avatar.nodes.pipeline.generate import Generation
    from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
    from comfyui_fal_avatar.nodes.services import build_services

    def refuse(*_a, **_k):
        raise AssertionError("an encoder ran while computing a key")

    for module, name in ((video_encode, "_Mp4Writer"), (video_excerpt, "_Mp4Writer")):
        monkeypatch.setattr(module, name, refuse)
    request = GenerationRequest(
        ep.INFINITALK_VIDEO,
        {},
        video_path=sources / "clip.mov",
        video_window=(10, 45),
        audio=load_audio(ASSETS / "sample_speech.wav"),
    )
    assert len(asyncio.run(Generation(request, services=build_services()).prepare()).key) == 64
