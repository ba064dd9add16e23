#!/usr/bin/env python
"""Pause analysis and segment planning on long speech: time and extra memory, against baselines.

    .venv/bin/python benchmarks/pauses_bench.py [--minutes 10] [--rate 48000] [--channels 2] [--runs 5]

The input is synthetic speech with known pauses (tests/_speech.py), float32 [C, T]. Rows:
  floor   one pass over the samples (a BLAS dot product per channel): what any analysis must read
  naive   per-hop power the straightforward way: float64 squares of the whole clip, reshaped, averaged
  ours    hop_levels (the per-hop levels) and speech_profile (levels, thresholds, pauses)
  plan    plan_segments on that profile for InfiniTalk (27.88 s jobs) and StableAvatar (298.92 s jobs)
Time is the best of ``--runs``; "peak MiB" is tracemalloc's peak during one call (numpy's allocations
are traced), so the input itself is not counted.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _speech import talk  # noqa: E402

from comfyui_fal_avatar.nodes.avatar import endpoints  # noqa: E402
from comfyui_fal_avatar.nodes.avatar.frames import frames_covering  # noqa: E402
from comfyui_fal_avatar.nodes.avatar.segments import frame_rule, plan_segments  # noqa: E402
from comfyui_fal_avatar.nodes.media.pauses import hop_levels, speech_profile  # noqa: E402


def _measure(call, runs: int):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak / 2**20, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    sp = talk(args.minutes * 60, rate=args.rate, channels=args.channels, noise_db=-35.0, breaths=True)
    samples, rate = sp.samples, sp.rate
    hop = round(rate * 0.01)
    print(
        f"input: {sp.duration_s:.1f} s, {rate} Hz, {args.channels} ch, {samples.nbytes / 2**20:.0f} MiB "
        "float32"
    )

    def floor():
        return sum(float(np.dot(channel, channel)) for channel in samples)

    def naive():
        full = samples.shape[1] // hop * hop
        return (samples[:, :full].astype(np.float64) ** 2).reshape(args.channels, -1, hop).mean(axis=(0, 2))

    rows = [
        ("floor: one dot product per channel", floor),
        ("naive: float64 squares, reshape, mean", naive),
        ("ours: hop_levels", lambda: hop_levels(samples, rate)),
        ("ours: speech_profile", lambda: speech_profile(samples, rate)),
    ]
    results = {}
    print(f"{'row':44} {'time ms':>9} {'peak MiB':>9}  check")
    for name, call in rows:
        seconds, peak, result = _measure(call, args.runs)
        results[name] = (seconds, result)
        check = ""
        if name.startswith("ours: speech_profile"):
            profile = result
            found = sum(
                any(abs(p.start_s - a) <= 0.05 and abs(p.end_s - b) <= 0.05 for p in profile.pauses)
                for a, b in sp.pauses
            )
            check = f"{found}/{len(sp.pauses)} true pauses found within 50 ms, {len(profile.pauses)} reported"
        print(f"{name:44} {seconds * 1000:9.1f} {peak:9.1f}  {check}")
    naive_s = results["naive: float64 squares, reshape, mean"][0]
    ours_s = results["ours: speech_profile"][0]
    print(f"speech_profile ÷ naive per-hop power: {ours_s / naive_s:.2f}×")

    total = frames_covering(sp.duration_s)
    for spec in (endpoints.INFINITALK_IMAGE, endpoints.STABLE_AVATAR):
        seconds, peak, plan = _measure(
            lambda spec=spec: plan_segments(total, frame_rule(spec), profile), args.runs
        )
        inside = sum(any(a <= s.cut_s <= b for a, b in sp.pauses) for s in plan.segments[:-1])
        print(
            f"{'plan: ' + spec.endpoint_id:44} {seconds * 1000:9.1f} {peak:9.1f}  "
            f"{len(plan.segments)} segments, {inside}/{len(plan.segments) - 1} joins in true pauses"
        )


if __name__ == "__main__":
    main()
