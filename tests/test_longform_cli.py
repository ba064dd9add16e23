"""`fal-avatar generate` on a 60-second speech, as a user runs it: one command, three segments, one
video; an identical run makes no submit; a SIGKILL during generation, then a re-run, makes no new submit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
from _sentences import speech
from test_cli import cli

from comfyui_fal_avatar.nodes.store.journal import Journal

ASSETS = Path(__file__).resolve().parent.parent / "nodes" / "assets"
CLI = [sys.executable, "-m", "comfyui_fal_avatar.nodes.cli"]
HANG_GUARD_S = 300  # only to fail instead of hanging; never asserted as a duration


def write_wav(path: Path, seconds: float) -> Path:
    said = speech(seconds)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(said.rate)
        out.writeframes((np.clip(said.samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def generate(wav: Path, out: Path) -> list[str]:
    """The arguments of `fal-avatar generate` on the bundled portrait and ``wav``."""
    return [
        "generate",
        "fal-ai/infinitalk",
        "--image",
        str(ASSETS / "sample_portrait.png"),
        "--audio",
        str(wav),
        "--out",
        str(out),
    ]


def summary(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_a_60_second_speech_makes_one_long_video_of_three_segments_and_a_rerun_is_free(fal_env, tmp_path):
    wav = write_wav(tmp_path / "speech_60s.wav", 60.0)  # over two jobs' 721 frames (28.8 s) each
    fal_env.inject_job("gather", times=3, jobs=3)  # submitted side by side, or this would never finish
    proc = cli(*generate(wav, tmp_path / "long.mp4"))  # in this process (see test_cli.cli)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = summary(proc.stdout)
    assert first["segments"] == len(first["request_ids"]) == 3 == fal_env.count("submit")
    assert first["frames"] == 60 * 25 and abs(first["video_seconds"] - 60.0) <= 0.04 and first["has_audio"]
    assert "Segments · segment" in proc.stderr and "est. ~$" in proc.stderr
    assert (tmp_path / "long.mp4").stat().st_size > 0

    fal_env.clear_log()
    again = cli(*generate(wav, tmp_path / "again.mp4"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary(again.stdout)["request_id"] == first["request_id"] and fal_env.count("submit") == 0


def test_sigkill_during_generation_then_a_rerun_makes_no_new_submit(fal_env, tmp_path):
    wav = write_wav(tmp_path / "speech_30s.wav", 30.0)  # over one job's 721 frames: two segments
    running = threading.Event()  # both segments stay IN_PROGRESS until the first process is killed
    fal_env.inject_job("slow", times=2, release=running)
    journal = Journal()
    with (tmp_path / "err1.txt").open("wb") as err:
        proc = subprocess.Popen(
            [*CLI, *generate(wav, tmp_path / "a.mp4")], stdout=subprocess.DEVNULL, stderr=err
        )
    deadline = time.monotonic() + HANG_GUARD_S
    while not (
        len(journal.entries()) == 2
        and all(e.state == "submitted" for e in journal.entries())
        and sum(j.state == "IN_PROGRESS" for j in fal_env.jobs.values()) == 2
    ):
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "err1.txt").read_text()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    running.set()
    again = subprocess.run(
        [*CLI, *generate(wav, tmp_path / "b.mp4")], capture_output=True, text=True, timeout=HANG_GUARD_S
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert fal_env.count("submit") == 2 and len(fal_env.jobs) == 2  # both segments re-attached
    assert summary(again.stdout)["segments"] == 2
