#!/usr/bin/env python
"""Long-form benchmark: stitching segment videos into one long video (``nodes/media/stitch.py``) against
the floor of the same work without stitching. Prints ONE table.

    .venv/bin/python benchmarks/longform_bench.py [--configs 480p-1min,480p,720p] [--runs 1] [--out bench_out]
    .venv/bin/python benchmarks/longform_bench.py --crf-sweep      # the encoder-setting comparison

Segments (made once, cached in ``--out``, git-ignored) come from the emulator's renderer
(``nodes/emulator/render.py``: the sample portrait at fal's bucket size with a mouth that follows the
audio, x264 ultrafast crf 26, AAC 16 kHz mono), laid out as the planner lays them out: 697-frame
segments (InfiniTalk's 4n+1 frame counts) overlapping by 8-11 frames, the last one the shortest 4n+1
length (≥ 41) that reaches the end, so it may run past it.
  480p: 640x640, 5 minutes (7500 frames);  720p: 1280x704, 2 minutes (3000 frames);
  480p-1min: 640x640, 1 minute (1500 frames), to show that memory does not grow with the length.

Rows, each measured in a fresh child process (imports not timed), alternating within every run:
  floor        decode every frame of every part (thread_type AUTO) + encode the N output frames (the
               first copy of each overlap frame, decoded frames passed on with new timestamps, no blend)
               + the caller's 48 kHz stereo audio in 40 ms chunks, with the stitcher's own writer
               (libx264 crf 17 veryfast with x264.py's threads and CPU code, AAC, +faststart, +bitexact)
  stitch       ``stitch(parts, out, total_frames=N, audio=(48 kHz stereo array, 48000))``
  stitch/parts ``stitch(..., audio=None)``: the parts' own sound tracks joined with cross-fades
CPU s is user+sys of the child during the call (encoder and decoder threads included). "peak RSS" is the
child's VmHWM, reset (``/proc/self/clear_refs``) right before the call, so it is the process's peak
during the stitch: interpreter, libraries, the caller's audio array (115 MB for 5 minutes of 48 kHz
stereo float32; none in the stitch/parts row) and the stitcher. "+ MiB" is that peak minus the RSS just
before the call, i.e. what the stitch itself added. Goals: stitch ÷ floor ≤ 1.3; peak RSS < 400 MB.

``--crf-sweep`` re-encodes two sources with several x264 settings (encode time, bytes against the
source's video bytes, PSNR of Y against the decoded source): a fal-like detailed clip (media_bench's panning
scene, 896x448x361, crf 18 medium) and an emulator segment.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"480p-1min": (640, 640, 1500), "480p": (640, 640, 7500), "720p": (1280, 704, 3000)}
SEGMENT_FRAMES = 697
OVERLAPS = (9, 11, 8, 10)
FPS = 25
USER_RATE = 48000
SWEEP = [
    ("14", "veryfast"),
    ("17", "veryfast"),
    ("20", "veryfast"),
    ("23", "veryfast"),
    ("17", "faster"),
    ("17", "medium"),
]


def plan(total: int) -> list[tuple[int, int]]:
    """``(start_frame, frames)`` per segment, as the planner makes them."""
    segments, start = [], 0
    while True:
        remaining = total - start
        if remaining <= SEGMENT_FRAMES:
            frames = max(41, 4 * math.ceil((remaining - 1) / 4) + 1)
            segments.append((start, frames))
            return segments
        segments.append((start, SEGMENT_FRAMES))
        start += SEGMENT_FRAMES - OVERLAPS[(len(segments) - 1) % len(OVERLAPS)]


def segment_dir(out_dir: Path, config: str) -> Path:
    width, height, total = CONFIGS[config]
    return out_dir / f"longform_{config}_{width}x{height}_{total}"


def make_segments(folder: Path, config: str) -> None:
    """Render every segment with the emulator's renderer (speech-like audio cut at the segment's frames)."""
    from PIL import Image

    from comfyui_fal_avatar.nodes.emulator.inputs import SAMPLE_RATE, fit_image
    from comfyui_fal_avatar.nodes.emulator.render import render_mp4
    from comfyui_fal_avatar.nodes.emulator.samples import speech_like

    width, height, total = CONFIGS[config]
    background = fit_image(Image.open(ROOT / "nodes" / "assets" / "sample_portrait.png"), (width, height))
    folder.mkdir(parents=True, exist_ok=True)
    for index, (start, frames) in enumerate(plan(total)):
        path = folder / f"seg{index:02d}.mp4"
        if path.exists():
            continue
        sound = speech_like((start + frames) / FPS)[start * SAMPLE_RATE // FPS :]
        data = render_mp4([background], sound, frames)
        path.with_suffix(".tmp").write_bytes(data)
        path.with_suffix(".tmp").rename(path)


def user_audio(seconds: float):
    """The caller's sound: float32 [2, T] at 48 kHz, a speech-like gated chord (built in 1 s pieces)."""
    import numpy as np

    total = round(seconds * USER_RATE)
    out = np.empty((2, total), np.float32)
    for lo in range(0, total, USER_RATE):
        t = np.arange(lo, min(total, lo + USER_RATE), dtype=np.float64) / USER_RATE
        gate = (np.sin(2 * np.pi * 3 * t) > 0) * 0.4
        out[0, lo : lo + t.size] = gate * np.sin(2 * np.pi * 180 * t)
        out[1, lo : lo + t.size] = gate * np.sin(2 * np.pi * 270 * t)
    return out


# ------------------------------------------------------------------------------------------ children
def _status_mib(field: str) -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith(field + ":"))


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def floor(parts, out: Path, total: int, audio) -> None:
    """Decode all part frames, encode the N output frames and the audio with the stitcher's writer."""
    import av

    from comfyui_fal_avatar.nodes.media.stitch import PLAN_FPS, Mp4Writer, _padded, _sample

    samples, rate = audio
    with av.open(str(parts[0].path)) as first:
        size = (first.streams.video[0].width, first.streams.video[0].height)
    writer = Mp4Writer(out, size, (rate, samples.shape[0]), Fraction(PLAN_FPS))
    done = 0
    for part in parts:
        with av.open(str(part.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                t = part.start_frame + index
                if index == part.frames:
                    break
                if done <= t < total:  # the first copy of each timeline frame
                    writer.video(frame, t)
                    writer.audio(
                        _padded(
                            samples,
                            _sample(t, rate, Fraction(PLAN_FPS)),
                            _sample(t + 1, rate, Fraction(PLAN_FPS)),
                        )
                    )
                    done += 1
    writer.finish()


def child_run(mode: str, config: str, folder: str, out: str) -> dict:
    from comfyui_fal_avatar.nodes.media.stitch import StitchPart, stitch

    total = CONFIGS[config][2]
    parts = [
        StitchPart(Path(folder) / f"seg{i:02d}.mp4", start, frames)
        for i, (start, frames) in enumerate(plan(total))
    ]
    audio = (user_audio(total / FPS), USER_RATE) if mode != "stitch_parts" else None
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM: the peak below is the call's
    before, cpu = _status_mib("VmRSS"), _cpu_s()
    start = time.perf_counter()
    if mode == "floor":
        floor(parts, Path(out), total, audio)
    else:
        stitch(parts, Path(out), total_frames=total, audio=audio)
    record = {
        "wall_s": time.perf_counter() - start,
        "cpu_s": _cpu_s() - cpu,
        "before_mib": before,
        "peak_mib": _status_mib("VmHWM"),
        "bytes": Path(out).stat().st_size,
        "parts": len(parts),
        "part_bytes": sum(p.path.stat().st_size for p in parts),
    }
    Path(out).unlink()
    return record


def child_sweep(sources: list[str]) -> list[dict]:
    """Encode each source's decoded frames with every SWEEP setting; time, bytes and PSNR-Y vs the source."""
    import av
    import numpy as np

    from comfyui_fal_avatar.nodes.media import x264

    records = []
    for source in sources:
        with av.open(source) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [f.to_ndarray() for f in container.decode(stream)]  # yuv420p planes
        with av.open(source) as container:
            video_bytes = sum(packet.size for packet in container.demux(video=0))
        height, width = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
        for crf, preset in SWEEP:
            target = Path(source).with_name(f"sweep_{crf}_{preset}.mp4")
            cpu, start = _cpu_s(), time.perf_counter()
            with av.open(str(target), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
                options = {
                    **x264.encoder_options(int(crf)),
                    "preset": preset,
                }  # the stitcher's, but crf/preset
                video = out.add_stream("libx264", rate=FPS, options=options)
                video.width, video.height, video.pix_fmt = width, height, "yuv420p"
                video.thread_type, video.thread_count = "FRAME", x264.threads_for(width, height)
                for index, planes in enumerate(frames):
                    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                    frame.pts = index
                    out.mux(video.encode(frame))
                out.mux(video.encode(None))
            wall, used = time.perf_counter() - start, _cpu_s() - cpu
            errors = []
            with av.open(str(target)) as container:
                for planes, frame in zip(frames, container.decode(video=0), strict=True):
                    diff = frame.to_ndarray()[:height].astype(np.float32) - planes[:height]
                    errors.append(float(np.mean(diff * diff)))
            records.append(
                {
                    "source": Path(source).name,
                    "crf": crf,
                    "preset": preset,
                    "frames": len(frames),
                    "wall_s": wall,
                    "cpu_s": used,
                    "bytes": target.stat().st_size,
                    "source_bytes": video_bytes,
                    "psnr_y": 10 * math.log10(255**2 / max(statistics.fmean(errors), 1e-9)),
                }
            )
            target.unlink()
    return records


# ----------------------------------------------------------------------- parallel segments vs one
PARALLEL_COLUMNS = ["run", "jobs", "frames", "wall s", "of which stitch s", "÷ one job", "goal"]


def parallel_segments_vs_one(args) -> list[list[str]]:
    """Wall time of a long run (N segments in parallel, then the stitch) against one job of one segment's
    length, both on the emulator with ``--processing-s`` of processing per job, measured in the same run
    (in-process: the pack's client and the emulator share this process; fal's GPUs are the emulator's
    threads). Goal: N parallel segments finish in ≤ 1.3× one job's wall time, plus the stitch."""
    import asyncio
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    import numpy as np
    from _sentences import speech

    from comfyui_fal_avatar.nodes.avatar import endpoints as ep
    from comfyui_fal_avatar.nodes.emulator import FalEmulator
    from comfyui_fal_avatar.nodes.longform.run import run_avatar
    from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
    from comfyui_fal_avatar.nodes.services import RunSettings, build_services

    portrait = np.full((1, 96, 96, 3), 0.5, np.float32)

    def timed(seconds: float) -> tuple[float, float, int, int]:
        stitching: list[float] = []

        def sink(status) -> None:
            if status.phase == "stitching" and not stitching:
                stitching.append(time.monotonic())

        said = speech(seconds)
        request = GenerationRequest(
            spec=ep.INFINITALK_IMAGE,
            values={"prompt": "talk", "num_frames": 0},
            image=portrait,
            audio=said.audio(),
            want_frames=False,
        )
        with (
            tempfile.TemporaryDirectory() as home,
            FalEmulator(key="bench:key", processing_time=args.processing_s) as emu,
        ):
            os.environ.update(FAL_KEY="bench:key", FAL_AVATAR_HOME=home)
            for name in ("FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL", "FAL_API_URL"):
                os.environ[name] = emu.base_url
            start = time.monotonic()
            services = build_services(RunSettings(max_parallel=64))
            run = asyncio.run(run_avatar(request, services=services, sink=sink, max_usd=1000))
            wall = time.monotonic() - start
            jobs = len(emu.jobs)
        stitch = (start + wall - stitching[0]) if stitching else 0.0
        frames = round(run.ref.total_frames or seconds * FPS)
        return wall, stitch, jobs, frames

    one_s = 27.0  # one job of a long segment's length (≤ 697 frames)
    one_wall, _, _, one_frames = timed(one_s)
    rows = [[f"one job ({one_s:g} s of speech)", "1", str(one_frames), f"{one_wall:.1f}", "-", "1.00", ""]]
    for seconds in args.parallel_seconds:
        wall, stitch, jobs, frames = timed(seconds)
        ratio = (wall - stitch) / one_wall
        rows.append(
            [
                f"{seconds / 60:g} min of speech",
                str(jobs),
                str(frames),
                f"{wall:.1f}",
                f"{stitch:.1f}",
                f"{ratio:.2f} (without the stitch)",
                f"≤1.3× + stitch: {'MET' if ratio <= 1.3 else 'MISSED'}",
            ]
        )
    return rows


# ------------------------------------------------------------------------------------------- driver
def _run(args: list[str]):
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


COLUMNS = [
    "config",
    "row",
    "frames / parts",
    "wall s",
    "CPU s",
    "÷ floor wall",
    "÷ floor CPU",
    "peak RSS MiB",
    "+ MiB",
    "output",
    "goals",
]
LABELS = {
    "floor": "floor (decode all + encode, no blend)",
    "stitch": "stitch (caller's audio)",
    "stitch_parts": "stitch/parts (parts' audio)",
}


def _rows(config: str, records: dict[str, list[dict]]) -> list[list[str]]:
    med = {mode: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for mode, rs in records.items()}
    base = med["floor"]
    width, height, total = CONFIGS[config]
    rows = []
    for mode, m in med.items():
        wall, cpu = m["wall_s"] / base["wall_s"], m["cpu_s"] / base["cpu_s"]
        kbps = m["bytes"] * 8 / (total / FPS) / 1000
        goals = ""
        if mode != "floor":
            goals = (
                f"≤1.3×: {'MET' if wall <= 1.3 else 'MISSED'}; "
                f"<400 MB: {'MET' if m['peak_mib'] * 2**20 / 1e6 < 400 else 'MISSED'}"
            )
        rows.append(
            [
                f"{config.split('-')[0]} {width}x{height} {total / FPS / 60:g} min",
                LABELS[mode],
                f"{total} / {int(m['parts'])}",
                f"{m['wall_s']:.1f}",
                f"{m['cpu_s']:.1f}",
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{m['peak_mib']:.0f}",
                f"{m['peak_mib'] - m['before_mib']:.0f}",
                f"{m['bytes'] / 1e6:.1f} MB ({kbps:.0f} kb/s)",
                goals,
            ]
        )
    rows[0][-1] = f"parts: {base['part_bytes'] / 1e6:.1f} MB in total"
    return rows


def print_table(columns: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [columns, *rows]) for i in range(len(columns))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def sweep(out_dir: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import media_bench

    detailed = out_dir / "sweep_scene_896x448x361.mp4"
    if not detailed.exists():
        media_bench.make_clip(detailed, 896, 448, 361)
    folder = segment_dir(out_dir, "480p")
    _run(["make", "480p", str(folder)])
    records = _run(["sweep", str(detailed), str(folder / "seg00.mp4")])
    rows = [
        [
            r["source"],
            f"crf {r['crf']} {r['preset']}",
            str(r["frames"]),
            f"{r['wall_s']:.2f}",
            f"{r['frames'] / r['wall_s']:.0f}",
            f"{r['cpu_s']:.2f}",
            f"{r['bytes'] / 1e6:.2f}",
            f"{r['bytes'] / r['source_bytes']:.2f}",
            f"{r['psnr_y']:.1f}",
        ]
        for r in records
    ]
    print_table(
        ["source", "x264", "frames", "encode s", "fps", "CPU s", "MB", "÷ source video", "PSNR-Y dB"], rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="subset of 480p-1min,480p,720p")
    parser.add_argument("--runs", type=int, default=1, help="fresh-process runs per row (median)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_out", help="segment cache and raw results")
    parser.add_argument("--crf-sweep", action="store_true", help="compare x264 settings instead")
    parser.add_argument("--parallel-only", action="store_true", help="only the parallel-segments table")
    parser.add_argument("--processing-s", type=float, default=10.0, help="emulator processing time per job")
    parser.add_argument(
        "--parallel-seconds",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[75.0, 180.0],
        help="speech lengths of the long runs (comma-separated seconds)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.crf_sweep:
        sweep(args.out)
        return 0
    if args.parallel_only:
        print_table(PARALLEL_COLUMNS, parallel_segments_vs_one(args))
        return 0
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
    raw = args.out / f"longform_bench_{time.strftime('%Y%m%d_%H%M%S')}.jsonl"
    rows = []
    for config in configs:
        folder = segment_dir(args.out, config)
        print(f"segments for {config} ...", file=sys.stderr, flush=True)
        _run(["make", config, str(folder)])
        records: dict[str, list[dict]] = {mode: [] for mode in LABELS}
        for _ in range(args.runs):
            for mode in LABELS:
                record = _run(["run", mode, config, str(folder), str(args.out / f"longform_{mode}.mp4")])
                records[mode].append(record)
                with open(raw, "a") as fh:
                    fh.write(json.dumps({"config": config, "mode": mode, **record}) + "\n")
                print(f"{config} {mode}: {record['wall_s']:.1f} s", file=sys.stderr, flush=True)
        rows += _rows(config, records)
    print_table(COLUMNS, rows)
    print()
    print_table(PARALLEL_COLUMNS, parallel_segments_vs_one(args))
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command == "make":
        make_segments(Path(sys.argv[3]), sys.argv[2])
        print("{}", flush=True)
    elif command == "run":
        print(json.dumps(child_run(*sys.argv[2:6])), flush=True)
    elif command == "sweep":
        print(json.dumps(child_sweep(sys.argv[2:])), flush=True)
    else:
        sys.exit(main())
