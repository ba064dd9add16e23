#!/usr/bin/env python
"""Media benchmark: result MP4 → IMAGE decode (ours vs floors, a common peer pattern and ComfyUI core),
and the encode direction (IMAGE → PNG/JPEG, AUDIO → WAV/FLAC, frames → MP4). Prints ONE table.

    .venv/bin/python benchmarks/media_bench.py [--sizes A,B,C] [--runs 3] [--out bench_out] [--no-encode]
    .venv/bin/python benchmarks/media_bench.py --fps 16,23.976,24,25,29.97,30,48 [--runs 3]

Clips (made once, cached in ``--out``, git-ignored): H.264 High yuv420p crf 18 + AAC 48 kHz stereo, 25 fps,
a textured scene panning 2 px per frame, a moving colour gradient, two moving discs and cycling grain:
A 640x640x145, B 896x448x361, C 1280x704x721.

Method: every measurement runs in a fresh child process that imports first (not timed) and then times one
call. "peak−base" is ``ru_maxrss`` at the end minus ``ru_maxrss`` right after the imports. ru_maxrss
survives exec (Linux keeps the parent's high-water mark), so the driver only runs children and stays
small; VmHWM is recorded in the raw results as a cross-check. Rows:
  (a)  floor decode: PyAV decode to rgb24 and drop (thread_type AUTO, swscale threads=1)
  (a2) floor alloc: ``torch.empty((N,H,W,3)).fill_(0.5)`` (first touch of the output)
  (b)  ours: ``decode_frames(path)``; the audio row times ``decode_audio`` in the same child afterwards
  (c)  peer: PyAV rgb24 → list of float32 frames → ``np.stack`` (the common custom-node pattern)
  (d)  core: ``VideoFromFile(path).get_components()`` (video + audio), only when COMFYUI_PATH is set
"floor" = (a) + (a2). Toucher: right before each measured child a separate process touches and frees
min(19, 2.5 × output + 0.5) GiB (capped at 70 % of MemAvailable). On VMs that return freed memory to the
host, a later first touch is 2-5x slower; the toucher makes the child's page faults land on warm pages,
the same for every row, so the rows are comparable.
Targets checked in the last column: (b) ≤ 1.2 × floor; (b) peak−base ≤ 1.05 × output + 100 MiB;
vs (d): ours (frames + audio) ≥ 2× faster and ≤ 0.55× its peak−base; uploaded audio ≤ PCM16 bytes.

``--fps`` instead runs only rows (a), (a2) and (b) on one size-A clip per frame rate, all 5.8 s long (so
the frame counts differ), and prints one row per rate: floor, ours, ours ÷ floor and the 1.2× target.
NTSC rates (23.976, 29.97, ...) are encoded with the exact time base 1001/24000, 1001/30000. The driver
asserts that ``decode_frames`` returned every frame and that ``probe_video`` reads the clip's rate.
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
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"A": (640, 640, 145), "B": (896, 448, 361), "C": (1280, 704, 721)}
FPS = 25
FPS_SECONDS = SIZES["A"][2] / FPS  # the --fps clips all last as long as clip A (5.8 s)
SAMPLE_RATE = 48000
CRF_NOTE = "14, veryfast"
DECODE_ROWS = {
    "floor_decode": "(a) floor: PyAV decode → rgb24, dropped",
    "floor_alloc": "(a2) floor: alloc + fill float32 output",
    "ours": "(b) ours: decode_frames",
    "ours_audio": "(b) ours: decode_audio (same child, after)",
    "peer_list_stack": "(c) peer: list of float frames + np.stack",
    "core": "(d) core: VideoFromFile().get_components()",
}


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _vm_hwm_mib() -> float | None:
    """This process's own RSS high-water mark (Linux), unlike ru_maxrss not inherited across exec."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------------------- content
def _texture(height, width, rng):
    import numpy as np

    tex = np.zeros((height, width), np.float32)
    for cell, amp in ((64, 1.0), (16, 0.5), (4, 0.25)):
        low = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
        ys, xs = np.arange(height) / cell, np.arange(width) / cell
        y0, x0 = ys.astype(int), xs.astype(int)
        fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
        top = low[y0][:, x0] * (1 - fx) + low[y0][:, x0 + 1] * fx
        bottom = low[y0 + 1][:, x0] * (1 - fx) + low[y0 + 1][:, x0 + 1] * fx
        tex += amp * (top * (1 - fy) + bottom * fy)
    return tex / 1.75


def scene_frames(count, height, width, seed=0, fps=FPS):
    """uint8 RGB frames [H,W,3] of the benchmark scene: panning texture, gradient, two discs, grain."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tex = _texture(height + 64, width + 2 * count + 64, rng)
    texc = np.stack([tex, np.roll(tex, 37, 1), np.roll(tex, 91, 0)], -1)
    grain = [rng.normal(0, 3.0, (height, width, 3)).astype(np.float32) for _ in range(8)]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    tint = np.array([0.8, 0.3, 0.5], np.float32)
    for i in range(count):
        t = i / fps
        offset = int(16 + 16 * np.sin(t))
        grad = (xx / width * 0.6 + 0.4 * np.sin(2 * np.pi * (yy / height + t / 4)))[..., None] * tint
        img = 150 * texc[offset : offset + height, 2 * i : 2 * i + width] + 90 * grad
        for k, (radius, speed) in enumerate(((height / 8, 1.0), (height / 12, -1.6))):
            cx = width / 2 + width / 3 * np.cos(speed * t + k)
            cy = height / 2 + height / 3 * np.sin(1.3 * speed * t)
            disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < radius * radius
            img[disc] = img[disc] * 0.3 + np.array([230, 200 - 120 * k, 40 + 150 * k], np.float32) * 0.7
        img += grain[i % 8]
        yield np.clip(img, 0, 255).astype(np.uint8)


def speech_like(seconds, rate=SAMPLE_RATE, seed=2):
    """float32 [2, T]: a chord with slow envelopes and light noise (a stand-in for speech when encoding)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate), dtype=np.float64) / rate
    sig = np.zeros((2, t.size))
    for k, freq in enumerate((220, 277.18, 329.63, 440, 554.37)):
        env = 0.5 + 0.5 * np.sin(2 * np.pi * (0.25 + 0.1 * k) * t + k)
        sig[0] += 0.08 * env * np.sin(2 * np.pi * freq * t + k)
        sig[1] += 0.08 * env * np.sin(2 * np.pi * freq * 1.002 * t + 2 * k)
    sig += 0.01 * rng.standard_normal(sig.shape)
    return sig.astype(np.float32)


def exact_rate(text: str) -> Fraction:
    """A frame rate as an exact fraction: NTSC decimals (23.976, 29.97, 59.94) become n×1000/1001."""
    rate = Fraction(text)
    if rate <= 0:
        raise ValueError(f"frame rate must be positive (got {text})")
    ntsc = Fraction(round(rate * 1001 / 1000) * 1000, 1001)
    if rate.denominator != 1 and abs(rate - ntsc) < Fraction(1, 200):
        return ntsc
    return rate.limit_denominator(1001)


def fps_clip(rate: Fraction) -> tuple[int, int, int]:
    """(width, height, frames) of the size-A clip at ``rate``, lasting FPS_SECONDS."""
    width, height, _ = SIZES["A"]
    return width, height, round(FPS_SECONDS * rate)


def make_clip(path: Path, width: int, height: int, count: int, rate: Fraction = Fraction(FPS)) -> None:
    import av
    import numpy as np

    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w", options={"movflags": "+faststart"}) as out:
        video = out.add_stream(
            "libx264", rate=rate, options={"crf": "18", "preset": "medium", "profile": "high"}
        )
        video.codec_context.time_base = 1 / rate  # frame.pts = i counts frames: exact for 24000/1001
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.thread_type = "AUTO"  # x264 frame threads: 1 slice per frame, like the ffmpeg CLI
        audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        audio.bit_rate = 192_000
        sound = av.AudioFrame.from_ndarray(speech_like(float(count / rate)), format="fltp", layout="stereo")
        sound.sample_rate, sound.pts = SAMPLE_RATE, 0
        out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
        for i, rgb in enumerate(scene_frames(count, height, width, fps=float(rate))):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    tmp.rename(path)


def clip_path(out_dir: Path, size: str) -> Path:
    width, height, count = SIZES[size]
    return out_dir / f"{size}_{width}x{height}x{count}.mp4"


def fps_clip_path(out_dir: Path, rate: Fraction) -> Path:
    width, height, count = fps_clip(rate)
    return out_dir / f"A_{width}x{height}x{count}_{rate.numerator}-{rate.denominator}fps.mp4"


# -------------------------------------------------------------------------------- decode approaches
def floor_decode(path):
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        count = 0
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24", threads=1)
            count += 1
            del rgb, frame
    return count


def floor_alloc(path):
    import av
    import torch

    with av.open(path) as container:
        stream = container.streams.video[0]
        shape = (stream.frames, stream.codec_context.height, stream.codec_context.width, 3)
    return torch.empty(shape, dtype=torch.float32).fill_(0.5)


def peer_list_stack(path):
    import av
    import numpy as np
    import torch

    frames = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0)
    return torch.from_numpy(np.stack(frames))


def core(path):
    from comfy_api.latest import InputImpl

    components = InputImpl.VideoFromFile(path).get_components()
    return components.images


def ours(path):
    from comfyui_fal_avatar.nodes.media import decode_frames

    return decode_frames(path)


# ------------------------------------------------------------------------------------------ children
def child_decode(approach: str, path: str) -> dict:
    import av
    import numpy  # noqa: F401
    import torch

    if approach == "core":
        sys.path.insert(0, os.environ["COMFYUI_PATH"])
        from comfy_api.latest import InputImpl  # noqa: F401
    from comfyui_fal_avatar.nodes.media import decode_audio, decode_frames, probe_video  # noqa: F401

    fn = {"floor_decode": floor_decode, "floor_alloc": floor_alloc, "ours": ours}.get(approach)
    fn = fn or {"peer_list_stack": peer_list_stack, "core": core}[approach]
    base, cpu = _maxrss_mib(), _cpu_s()
    start = time.perf_counter()
    result = fn(path)
    record = {
        "wall_s": time.perf_counter() - start,
        "cpu_s": _cpu_s() - cpu,
        "base_mib": base,
        "peak_mib": _maxrss_mib(),
        "hwm_mib": _vm_hwm_mib(),
    }
    if isinstance(result, torch.Tensor):
        record.update(
            frames=int(result.shape[0]), out_mib=result.numel() * 4 / 2**20, chk=float(result[-1].mean())
        )
    else:
        record.update(frames=result)
    if approach == "ours":
        start = time.perf_counter()
        audio = decode_audio(path)
        record.update(audio_s=time.perf_counter() - start, audio_samples=int(audio["waveform"].shape[-1]))
        with av.open(path) as container:
            average_rate = container.streams.video[0].average_rate
        record.update(probed_fps=probe_video(path).fps, average_rate=str(average_rate))
    return record


def child_encode() -> dict:
    import numpy as np
    import torch

    from comfyui_fal_avatar.nodes.media import encode_audio, encode_frames, encode_image

    image = torch.from_numpy(next(scene_frames(1, 1024, 1024, seed=1)).astype(np.float32) / 255)[None]
    audio = {"waveform": torch.from_numpy(speech_like(30.0))[None], "sample_rate": SAMPLE_RATE}
    frames = torch.stack(
        [torch.from_numpy(f.astype(np.float32) / 255) for f in scene_frames(145, 480, 640, seed=1)]
    )
    jobs = {
        "png": lambda: encode_image(image),
        "jpeg": lambda: encode_image(image, fmt="jpeg"),
        "wav": lambda: encode_audio(audio),
        "flac": lambda: encode_audio(audio, fmt="flac"),
        "mp4": lambda: encode_frames(frames, 25.0),
    }
    record = {}
    for name, job in jobs.items():
        payload = job()  # warm-up (codec/library initialisation)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            payload = job()
            times.append(time.perf_counter() - start)
        record[name] = {"s": statistics.median(times), "bytes": payload.size, "info": payload.info}
    return record


def touch(gib: float) -> None:
    import torch

    torch.set_num_threads(2)
    torch.empty(int(gib * 2**30 / 4), dtype=torch.float32).fill_(1.0)


# ------------------------------------------------------------------------------------------- driver
def _mem_available_gib() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return 8.0


def _run(args: list[str], env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"rc={proc.returncode}"]}
    return json.loads(lines[-1])


def _core_status() -> str | None:
    """None when core can run, else why not."""
    comfy = os.environ.get("COMFYUI_PATH")
    if not comfy:
        return "skipped: COMFYUI_PATH not set"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {comfy!r}); from comfy_api.latest import InputImpl",
        ],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"skipped: comfy_api not importable from {comfy}"


def measure_decode(clips: dict[str, Path], runs: int, with_core: bool, log) -> dict:
    approaches = ["floor_decode", "floor_alloc", "ours", "peer_list_stack"] + (["core"] if with_core else [])
    results: dict = {}
    for size, path in clips.items():
        width, height, count = SIZES[size]
        out_gib = count * height * width * 12 / 2**30
        toucher = min(19.0, 2.5 * out_gib + 0.5, 0.7 * _mem_available_gib())
        for run in range(runs):
            for approach in approaches:  # round-robin: slow drift hits every approach alike
                _run(["touch", f"{toucher:.2f}"])
                record = _run(["child", approach, str(path)])
                record.update(size=size, approach=approach, run=run, toucher_gib=round(toucher, 2))
                log(record)
                results.setdefault((size, approach), []).append(record)
    return results


def measure_fps(clips: dict[Fraction, Path], runs: int, log) -> dict:
    """Rows (a), (a2), (b) per frame rate, round-robin over rates and rows within each run."""
    results: dict = {}
    for run in range(runs):
        for rate, path in clips.items():
            width, height, count = fps_clip(rate)
            toucher = min(19.0, 2.5 * count * height * width * 12 / 2**30 + 0.5, 0.7 * _mem_available_gib())
            for approach in ("floor_decode", "floor_alloc", "ours"):
                _run(["touch", f"{toucher:.2f}"])
                record = _run(["child", approach, str(path)])
                record.update(fps=str(rate), approach=approach, run=run, toucher_gib=round(toucher, 2))
                log(record)
                if approach == "ours":
                    assert "error" not in record, f"decode_frames failed at {rate} fps: {record['error']}"
                    assert record["frames"] == count, f"{rate} fps: {record['frames']} of {count} frames"
                    assert record["average_rate"] == str(rate), f"{rate} fps: {record['average_rate']}"
                    assert abs(record["probed_fps"] - rate) < 1e-9, f"{rate} fps: {record['probed_fps']}"
                results.setdefault((rate, approach), []).append(record)
    return results


def measure_encode(runs: int, log) -> list[dict]:
    records = []
    for run in range(runs):
        record = _run(["encode"])
        record["run"] = run
        log(record)
        records.append(record)
    return records


COLUMNS = [
    "clip",
    "approach",
    "time s",
    "fps",
    "CPU s",
    "peak−base MiB",
    "÷ floor",
    "peak÷out",
    "bytes / check",
]


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def _stats(records: list[dict]) -> dict:
    """Medians over the runs of one (clip, approach)."""
    ok = [r for r in records if "error" not in r]
    return {
        "wall": _median(r["wall_s"] for r in ok),
        "cpu": _median(r["cpu_s"] for r in ok),
        "mem": _median(r["peak_mib"] - r["base_mib"] for r in ok),
        "audio": _median(r.get("audio_s") for r in ok),
        "samples": _median(r.get("audio_samples") for r in ok),
        "errors": [r["error"] for r in records if "error" in r],
    }


def _decode_rows(size: str, decode: dict, core_note: str | None) -> list[list[str]]:
    width, height, count = SIZES[size]
    label, out_mib = f"{size} {width}x{height}x{count}", count * height * width * 12 / 2**20
    st = {a: _stats(decode.get((size, a), [])) for a in DECODE_ROWS if a != "ours_audio"}
    floor, floor_cpu = (
        st["floor_decode"][k] + st["floor_alloc"][k]
        if None not in (st["floor_decode"][k], st["floor_alloc"][k])
        else None
        for k in ("wall", "cpu")
    )
    ours = st["ours"]
    rows = []
    for approach, title in DECODE_ROWS.items():
        if approach == "ours_audio":
            note = f"{ours['samples']:.0f} samples (trimmed to the video)" if ours["samples"] else ""
            rows.append([label, title, _fmt(ours["audio"], ".3f"), "", "", "", "", "", note])
            continue
        if approach == "core" and core_note:
            rows.append([label, title, "", "", "", "", "", "", core_note])
            continue
        row = st[approach]
        if row["wall"] is None:
            rows.append([label, title, "", "", "", "", "", "", f"failed: {row['errors'][:1]}"])
            continue
        ratio = row["wall"] / floor if floor else None
        mem_ratio = row["mem"] / out_mib if approach != "floor_decode" else None
        check = ""
        if approach == "ours":
            cpu_ratio = row["cpu"] / floor_cpu if floor_cpu else None
            check = (
                f"time ≤1.2×floor: {_verdict(ratio is not None and ratio <= 1.2)}; "
                f"peak ≤1.05×out+100 MiB: {_verdict(row['mem'] <= 1.05 * out_mib + 100)}; "
                f"CPU ÷ floor CPU {_fmt(cpu_ratio, '.2f')}"
            )
        elif approach == "core" and ours["wall"] is not None:
            speed = row["wall"] / (ours["wall"] + (ours["audio"] or 0))
            peak = ours["mem"] / row["mem"]
            check = (
                f"ours (frames+audio) {speed:.2f}x faster (≥2: {_verdict(speed >= 2)}); "
                f"ours peak {peak:.2f}x (≤0.55: {_verdict(peak <= 0.55)})"
            )
        if row["errors"]:
            check = f"{check} [{len(row['errors'])} failed runs]".strip()
        rows.append(
            [
                label,
                title,
                f"{row['wall']:.3f}",
                f"{count / row['wall']:.0f}",
                _fmt(row["cpu"], ".2f"),
                f"{row['mem']:.0f}",
                _fmt(ratio, ".2f"),
                _fmt(mem_ratio, ".3f"),
                check,
            ]
        )
    rows.append(
        [
            label,
            "floor = (a) + (a2)",
            _fmt(floor, ".3f"),
            "",
            _fmt(floor_cpu, ".2f"),
            "",
            "1.00",
            "",
            f"output tensor {out_mib:.0f} MiB",
        ]
    )
    return rows


FPS_COLUMNS = [
    "fps",
    "clip",
    "(a) s",
    "(a2) s",
    "floor s",
    "(b) ours s",
    "(b) ÷ floor",
    "≤1.2×floor",
    "CPU ÷ floor CPU",
    "decode_frames / probe_video",
]


def _fps_row(rate: Fraction, decode: dict) -> list[str]:
    width, height, count = fps_clip(rate)
    st = {a: _stats(decode.get((rate, a), [])) for a in ("floor_decode", "floor_alloc", "ours")}
    walls = [st[a]["wall"] for a in st]
    if None in walls:
        errors = [st[a]["errors"][:1] for a in st if st[a]["wall"] is None]
        return [f"{float(rate):g}", f"{width}x{height}x{count}", *[""] * 7, f"failed: {errors}"]
    floor = walls[0] + walls[1]
    floor_cpu = st["floor_decode"]["cpu"] + st["floor_alloc"]["cpu"]
    ratio = walls[2] / floor
    ours = next(r for r in decode[(rate, "ours")] if "error" not in r)
    return [
        f"{float(rate):g}",
        f"{width}x{height}x{count}",
        f"{walls[0]:.3f}",
        f"{walls[1]:.3f}",
        f"{floor:.3f}",
        f"{walls[2]:.3f}",
        f"{ratio:.2f}",
        _verdict(ratio <= 1.2),
        f"{st['ours']['cpu'] / floor_cpu:.2f}",
        f"{ours['frames']} frames, {ours['probed_fps']:.6g} fps ({ours['average_rate']})",
    ]


def _encode_rows(encode: list[dict]) -> list[list[str]]:
    ok = [r for r in encode if "error" not in r]
    if not ok:
        return [["encode", "all", "", "", "", "", "", "", f"failed: {encode[0]['error']}"]] if encode else []

    def med(name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in ok)

    pcm = ok[0]["wav"]["info"]["pcm16_bytes"]
    flac_ratio = med("flac", "bytes") / pcm
    frames = ok[0]["mp4"]["info"]["frame_count"]
    jobs = [
        ("1024x1024 IMAGE → PNG (zlib level 1)", "png", ""),
        ("1024x1024 IMAGE → JPEG q95", "jpeg", ""),
        ("30 s stereo 48 kHz AUDIO → WAV PCM16", "wav", f"= PCM16 {pcm} B + 44 B header"),
        (
            "30 s stereo 48 kHz AUDIO → FLAC",
            "flac",
            f"{flac_ratio:.2f}x PCM16 (≤ PCM16: {_verdict(flac_ratio <= 1)})",
        ),
        (f"{frames} frames 640x480 → MP4 (crf {CRF_NOTE})", "mp4", ""),
    ]
    return [
        [
            "encode",
            title,
            f"{med(name, 's'):.3f}",
            "",
            "",
            "",
            "",
            "",
            f"{med(name, 'bytes'):.0f} B {note}".strip(),
        ]
        for title, name, note in jobs
    ]


def print_table(rows: list[list[str]], columns: list[str] = COLUMNS) -> None:
    widths = [max(len(str(r[i])) for r in [columns, *rows]) for i in range(len(columns))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="A,B,C", help="subset of A,B,C (comma separated)")
    parser.add_argument("--runs", type=int, default=3, help="fresh-process runs per measurement (median)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_out", help="clip cache and raw results")
    parser.add_argument("--no-encode", action="store_true", help="skip the encode timings")
    parser.add_argument(
        "--fps", help="only rows (a), (a2), (b) on a 5.8 s size-A clip per rate, e.g. 16,23.976,24,25,29.97"
    )
    args = parser.parse_args(argv)
    try:
        rates = list(dict.fromkeys(exact_rate(r.strip()) for r in (args.fps or "").split(",") if r.strip()))
    except (ValueError, ZeroDivisionError) as exc:
        parser.error(f"--fps: {exc}")
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    raw = open(args.out / f"media_bench_{time.strftime('%Y%m%d_%H%M%S')}.jsonl", "w")  # noqa: SIM115

    def log(record):
        raw.write(json.dumps(record) + "\n")
        raw.flush()
        print(".", end="", file=sys.stderr, flush=True)

    if rates:
        return run_fps(rates, args.runs, args.out, log, raw)
    clips = {}
    for size in sizes:
        path = clip_path(args.out, size)
        if not path.exists():
            print(f"generating {path.name} ...", file=sys.stderr, flush=True)
            _run(["make", size, str(path)])  # in a child: the driver must stay small (see module doc)
        clips[size] = path
    core_note = _core_status()
    decode = measure_decode(clips, args.runs, core_note is None, log)
    encode = [] if args.no_encode else measure_encode(args.runs, log)
    raw.close()
    print(file=sys.stderr)
    rows = [row for size in clips for row in _decode_rows(size, decode, core_note)] + _encode_rows(encode)
    print_table(rows)
    return 0


def run_fps(rates: list[Fraction], runs: int, out_dir: Path, log, raw) -> int:
    clips = {}
    for rate in rates:
        path = fps_clip_path(out_dir, rate)
        if not path.exists():
            print(f"generating {path.name} ...", file=sys.stderr, flush=True)
            _run(["make", "A", str(path), str(rate)])
        clips[rate] = path
    decode = measure_fps(clips, runs, log)
    raw.close()
    print(file=sys.stderr)
    print_table([_fps_row(rate, decode) for rate in clips], FPS_COLUMNS)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child_decode(sys.argv[2], sys.argv[3])), flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "encode":
        print(json.dumps(child_encode()), flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "make":
        if len(sys.argv) > 4:  # an --fps clip: size A, FPS_SECONDS long at this rate
            make_clip(Path(sys.argv[3]), *fps_clip(Fraction(sys.argv[4])), Fraction(sys.argv[4]))
        else:
            make_clip(Path(sys.argv[3]), *SIZES[sys.argv[2]])
        print("{}", flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "touch":
        touch(float(sys.argv[2]))
        print("{}", flush=True)
    else:
        sys.exit(main())
