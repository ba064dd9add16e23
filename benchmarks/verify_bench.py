#!/usr/bin/env python
"""Cost and reach of the result checks (nodes/media/verify.py) on 721-frame results at 480p and 720p.

    .venv/bin/python benchmarks/verify_bench.py [--sizes 480p,720p] [--runs 3] [--out bench_out] [--no-frames]

Clips: 896x448 and 1280x704, 721 frames (28.8 s), H.264 High crf 18 + AAC, +faststart, the textured
panning scene of media_bench.py (made once, cached in ``--out``). Every measurement is a fresh child
process that imports first (not timed) and then times one call; approaches run round-robin, medians of
``--runs``. "CPU s" (user+sys of the child) is steadier than wall time on a shared machine. Rows:
  check_header     headers, size, and the video packets counted by one demux pass (no decoding)
  verify_video     + every video frame decoded (frame threads, no deblocking, no pixel conversion) + audio
  verify, deblock  verify_video with the deblocking filter left on (what skip_loop_filter saves)
  rgb decode       baseline: PyAV decode → rgb24, dropped (the decode part of the frames output)
  decode_frames    baseline: the frames output itself (IMAGE float32 tensor; 4.3 / 7.4 GiB; --no-frames skips)
The second table damages copies of the first clip in ways a CDN or a disk can, and shows which check
finds what (without fal's file_size, which alone finds every change of length).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media_bench import floor_decode, make_clip  # noqa: E402  (the decode benchmark's clip and floor)

SIZES = {"480p": (896, 448, 721), "720p": (1280, 704, 721)}
ROWS = {
    "header": "check_header",
    "verify": "verify_video",
    "verify_deblock": "verify, deblock",
    "rgb_decode": "rgb decode (baseline)",
    "frames": "decode_frames (baseline)",
}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(approach: str, path: str) -> dict:
    import av  # noqa: F401
    import torch  # noqa: F401

    from comfyui_fal_avatar.nodes.media import check_header, decode_frames, verify, verify_video

    if approach == "verify_deblock":
        verify._DECODE_OPTIONS = {"skip_loop_filter": "default"}  # FFmpeg's default: deblock every frame
    fn = {
        "header": check_header,
        "verify": verify_video,
        "verify_deblock": verify_video,
        "rgb_decode": floor_decode,
        "frames": lambda p: decode_frames(p).shape[0],
    }[approach]
    cpu, start = _cpu_s(), time.perf_counter()
    result = fn(path)
    wall = time.perf_counter() - start
    frames = result if isinstance(result, int) else result.frame_count
    return {"wall_s": wall, "cpu_s": _cpu_s() - cpu, "frames": frames}


def _run(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"rc={proc.returncode}"]}
    return json.loads(lines[-1])


def measure(clips: dict[str, Path], runs: int, with_frames: bool) -> dict:
    approaches = [a for a in ROWS if with_frames or a != "frames"]
    results: dict = {}
    for size, path in clips.items():
        for _ in range(runs):
            for approach in approaches:  # round-robin: drift in the machine's load hits every row alike
                results.setdefault((size, approach), []).append(_run("child", approach, str(path)))
    return results


def cost_table(results: dict, clips: dict[str, Path]) -> list[str]:
    lines = [
        "| clip | check | wall s | CPU s | fps | CPU ÷ rgb decode | CPU ÷ decode_frames |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, path in clips.items():
        width, height, count = SIZES[size]
        med = {}
        for approach in ROWS:
            records = [r for r in results.get((size, approach), []) if "error" not in r]
            if records:
                med[approach] = (
                    statistics.median(r["wall_s"] for r in records),
                    statistics.median(r["cpu_s"] for r in records),
                    records[0]["frames"],
                )
            elif (size, approach) in results:
                med[approach] = None
        for approach, label in ROWS.items():
            if approach not in med:
                continue
            if med[approach] is None:
                lines.append(f"| {size} {width}x{height}x{count} | {label} | error | | | | |")
                continue
            wall, cpu, frames = med[approach]
            ratios = [f"{cpu / med[b][1]:.2f}" if med.get(b) else "" for b in ("rgb_decode", "frames")]
            lines.append(
                f"| {size} {width}x{height}x{count} ({path.stat().st_size / 1e6:.1f} MB) | {label} | "
                f"{wall:.3f} | {cpu:.3f} | {frames / wall:.0f} | {ratios[0]} | {ratios[1]} |"
            )
    return lines


# ------------------------------------------------------------------------------------------------ reach
def _video_packets(path: Path) -> list[tuple[int, int]]:
    import av

    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]


def damages(path: Path) -> dict[str, list[bytes]]:
    """Damaged copies by kind; a kind with several copies is tried once per copy (ten frames apart)."""
    data = path.read_bytes()
    packets = _video_packets(path)
    tried = packets[100:700:60]

    def each_frame(change) -> list[bytes]:
        copies = []
        for offset, size in tried:
            copy = bytearray(data)
            change(copy, offset, size)
            copies.append(bytes(copy))
        return copies

    def zero(copy: bytearray, start: int, length: int) -> None:
        copy[start : start + length] = bytes(length)

    def flip(copy: bytearray, at: int) -> None:
        copy[at] ^= 1

    return {
        "cut to half (Content-Length matching)": [data[: len(data) // 2]],
        "HTML error page instead of the file": [b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"],
        "first keyframe's data zeroed": each_frame(
            lambda c, o, n: zero(c, packets[0][0] + 4, packets[0][1] - 4)
        )[:1],
        "64 KB zeroed mid-file": each_frame(lambda c, o, n: zero(c, len(data) // 2, 65536))[:1],
        "4 KB zeroed inside a frame": each_frame(lambda c, o, n: zero(c, o + n // 4, min(4096, n // 2))),
        "last 64 bytes of a frame zeroed": each_frame(lambda c, o, n: zero(c, o + n - 64, 64)),
        "1 bit flipped mid-frame": each_frame(lambda c, o, n: flip(c, o + n // 2)),
        "1 bit flipped 20 bytes before a frame's end": each_frame(lambda c, o, n: flip(c, o + n - 20)),
    }


def reach_table(path: Path, folder: Path) -> list[str]:
    """Which check finds which damage; fal's file_size is not used here (the size check alone would
    find every change of length)."""
    from comfyui_fal_avatar.nodes.errors import MediaDecodeError
    from comfyui_fal_avatar.nodes.media import check_header, verify_video

    lines = ["| damage | check_header | verify_video |", "|---|---|---|"]
    target = folder / "damaged.mp4"
    for name, copies in damages(path).items():
        cells = []
        for check in (check_header, verify_video):
            found, detail = 0, ""
            for body in copies:
                target.write_bytes(body)
                try:
                    check(target)
                except MediaDecodeError as exc:
                    found, detail = found + 1, exc.detail[:60]
            if len(copies) == 1:
                cells.append(f"found: {detail}" if found else "not found")
            else:
                cells.append(f"found in {found} of {len(copies)} frames")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    target.unlink(missing_ok=True)
    return lines


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="480p,720p")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "bench_out")
    parser.add_argument(
        "--no-frames", action="store_true", help="skip the decode_frames baseline (needs RAM)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clips = {}
    for size in args.sizes.split(","):
        width, height, count = SIZES[size]
        clips[size] = args.out / f"verify_{width}x{height}x{count}.mp4"
        if not clips[size].exists():
            print(f"making {clips[size].name} (once)", file=sys.stderr)
            make_clip(clips[size], width, height, count)
    started = time.strftime("%Y-%m-%d %H:%M")
    results = measure(clips, args.runs, not args.no_frames)
    load = os.getloadavg()[0]
    print(
        f"## Result checks, {started}, {args.runs} runs (medians), load average {load:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    print("\n".join(cost_table(results, clips)))
    print()
    print("## What each check finds (a copy of the first clip, damaged)")
    print("\n".join(reach_table(next(iter(clips.values())), args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
