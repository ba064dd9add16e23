"""Every media encode path gives the same bytes every time: in one process and whatever the heap holds.

``MALLOC_PERTURB_=N`` makes glibc fill freed and new heap blocks with N-derived bytes, so a child process
per N shows whether any encoder reads memory it never wrote (x264's AVX-512 macroblock-tree code did:
nodes/media/x264.py). The jobs and their inputs live in encode_jobs.py so the children need no torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from encode_jobs import COUNT, HEIGHT, SOURCE_FILES, WIDTH, frames, jobs, tone
from test_media_samples import write_video, write_webm_without_duration

from comfyui_fal_avatar.nodes.media import x264

ENCODES = 20
PERTURB = (0, 1, 85, 170, 255)
_JOBS = sorted(jobs(Path()))


def _u8(images):
    return (images * 255 + 0.5).astype("uint8")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """The re-encoded source kinds, written once: MOV, WebM VP8/VP9, yuv444p MP4, rotated MP4, VFR."""
    folder = tmp_path_factory.mktemp("sources")
    clip, sound = _u8(frames(COUNT, HEIGHT, WIDTH)), tone(COUNT / 25, 48000, 2)
    audio = {"waveform": torch.from_numpy(sound["waveform"]), "sample_rate": 48000}
    write_video(folder / "mov.mov", clip, container="mov", audio=audio)
    write_video(folder / "vp8.webm", clip, container="webm", codec="libvpx")
    write_video(folder / "vp9.webm", clip, container="webm", codec="libvpx-vp9")
    write_webm_without_duration(folder / "recording.webm", clip)
    write_video(folder / "yuv444p.mp4", clip, pix_fmt="yuv444p", audio=audio)
    write_video(folder / "rotated.mp4", _u8(frames(COUNT, WIDTH, HEIGHT)), rotation=90)  # upright: WIDTH wide
    pts = [40 * i + 10 * (i % 3) for i in range(COUNT)]  # 40, 50 and 60 ms apart
    write_video(folder / "vfr.mkv", clip, pts=pts, time_base=Fraction(1, 1000), container="matroska")
    assert sorted(p.name for p in folder.iterdir()) == sorted(SOURCE_FILES)
    return folder


@pytest.mark.parametrize("name", _JOBS)
def test_twenty_encodes_in_one_process_give_one_hash(sources, name):
    job = jobs(sources)[name]
    hashes = {job().sha256 for _ in range(ENCODES)}
    assert len(hashes) == 1, f"{name}: {len(hashes)} different outputs from {ENCODES} encodes"


def test_leftover_heap_contents_do_not_change_the_bytes(sources):
    expected = {name: job().sha256 for name, job in jobs(sources).items()}
    script = Path(__file__).with_name("encode_jobs.py")
    children = {
        value: subprocess.Popen(
            [sys.executable, str(script), str(sources)],
            env={**os.environ, "MALLOC_PERTURB_": str(value)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for value in PERTURB
    }
    changed = {}
    for value, child in children.items():
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0
        got = json.loads(out)
        changed[value] = sorted(name for name in expected if got[name] != expected[name])
    assert changed == {value: [] for value in PERTURB}, "MALLOC_PERTURB_ value → jobs whose bytes changed"


def test_numpy_still_tells_the_cpu_features():
    """numpy's feature table is private API: if it moved, x264 would lose its macroblock-tree (mbtree=0)."""
    features = x264.cpu_features()
    assert isinstance(features, dict) and features


_AVX512_CPU = dict.fromkeys(
    ("SSE2", "SSSE3", "SSE41", "SSE42", "AVX", "FMA3", "AVX2", "BMI", "BMI2", "LZCNT"), True
)


@pytest.mark.parametrize(
    ("features", "params"),
    [
        ({**_AVX512_CPU, "AVX512_SKX": True}, f"asm={x264.AVX2_ASM}"),  # x264 would pick its AVX-512 code
        ({**_AVX512_CPU, "AVX512_SKX": False}, None),  # an AVX2 CPU: x264's own detection
        ({"NEON": True, "ASIMD": True}, None),  # ARM: no AVX-512 code in x264
        (
            {**_AVX512_CPU, "BMI2": False, "AVX512_SKX": True},
            "mbtree=0",
        ),  # odd CPU: never force a flag it lacks
        (None, "mbtree=0"),  # feature table unreadable
    ],
)
def test_x264_params_avoid_the_avx512_macroblock_tree(features, params):
    assert x264.params_for(features) == params
