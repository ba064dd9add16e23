#!/usr/bin/env python
"""Frames → MP4 encode: the x264 settings before the determinism fix (baseline) against the current ones.

    .venv/bin/python benchmarks/encode_determinism_bench.py [--runs 3]

Settings (``nodes/media/x264.py``): baseline = x264 as it was (CPU auto-detection, thread count automatic,
1.5 x CPUs); current = ``encoder_options()`` with ``THREADS`` frame threads (on an AVX-512 CPU: x264's
AVX2 code); "mbtree=0" = the alternative fix (macroblock-tree off, CPU auto-detection, ``THREADS``), for
comparison. All run ``encode_frames`` in this process, alternating run by run so machine load hits them
alike. Clips at 25 fps, 320x240x50 and 1280x720x100: "grain" = the textured panning scene with camera grain
of ``media_bench.py``; "talking" = a static textured background with a moving, talking face-like blob (the
dubbing use case). Columns: median wall time, median process CPU time (all threads), bytes, PSNR of the
decoded MP4 against the source (RGB, 8 bit), and how many different SHA-256 the runs gave. One table.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media_bench import _texture, scene_frames  # noqa: E402

from comfyui_fal_avatar.nodes.media import encode_frames, video_encode, x264  # noqa: E402

SIZES = ((320, 240, 50), (1280, 720, 100))
PLAIN = {"crf": str(x264.CRF), "preset": x264.PRESET}
SETTINGS = {
    "baseline": (PLAIN, 0),
    "current": (x264.encoder_options(), x264.THREADS),  # both sizes are over x264.ONE_THREAD_MAX_PIXELS
    "mbtree=0": ({**PLAIN, "x264-params": "mbtree=0"}, x264.THREADS),
}


def talking_frames(count: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    background = _texture(height, width, rng)[..., None] * np.array([200, 180, 160], np.float32)
    face = _texture(height, width, rng)[..., None] * np.array([90, 60, 50], np.float32) + (150, 110, 90)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        cx, cy = width / 2 + width / 40 * np.sin(i / 9), height / 2 + height / 60 * np.sin(i / 7)
        inside = ((xx - cx) / (width / 6)) ** 2 + ((yy - cy) / (height / 3)) ** 2 < 1
        img = np.where(inside[..., None], face, background)
        mouth_h = height / 60 * (1.5 + np.sin(i / 2))
        img[((xx - cx) / (width / 20)) ** 2 + ((yy - cy - height / 7) / mouth_h) ** 2 < 1] = (40, 20, 20)
        out[i] = np.clip(img, 0, 255)
    return out


def psnr(data: bytes, source: np.ndarray) -> float:
    with av.open(io.BytesIO(data)) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    mse = float(np.mean((decoded.astype(np.float64) - source) ** 2))
    return 10 * np.log10(255**2 / mse)


def encode(frames: np.ndarray, settings) -> tuple[float, float, bytes]:
    options, threads = settings
    video_encode.encoder_options = lambda: dict(options)
    video_encode.threads_for = lambda width, height: threads
    wall, cpu = time.perf_counter(), time.process_time()
    data = encode_frames(frames, 25.0).data
    return time.perf_counter() - wall, time.process_time() - cpu, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    rows = []
    for width, height, count in SIZES:
        clips = {
            "grain": np.stack(list(scene_frames(count, height, width, seed=1))),
            "talking": talking_frames(count, height, width),
        }
        for content, source in clips.items():
            frames = source.astype(np.float32) / 255
            encode(frames[:2], SETTINGS["current"])  # warm-up (library initialisation)
            results = {name: [] for name in SETTINGS}
            for _ in range(runs):
                for name, settings in SETTINGS.items():
                    results[name].append(encode(frames, settings))
            for name, got in results.items():
                data = got[-1][2]
                rows.append(
                    [
                        f"{width}x{height}x{count}",
                        content,
                        name,
                        f"{statistics.median(r[0] for r in got):.3f}",
                        f"{statistics.median(r[1] for r in got):.3f}",
                        str(len(data)),
                        f"{psnr(data, source):.2f}",
                        str(len({r[2] for r in got})),
                    ]
                )
    head = ["clip", "content", "settings", "wall s", "CPU s", "bytes", "PSNR dB", "hashes"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for name, (options, threads) in SETTINGS.items():
        print(f"{name}: {options}, threads {threads or 'auto'}")
    print(f"runs per row: {runs}")


if __name__ == "__main__":
    main()
