"""`fal-avatar batch MANIFEST` as a user runs it, against the emulator: a 40-row manifest with the four
endpoints, identical rows and a failing row; resuming (after a failure and after SIGKILL); validation with
line numbers; --dry-run; the spend guard; Ctrl-C; CSV and JSONL; two batches on one data directory."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import threading
import time
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_cli import WITH_CTRL_C, cli

from comfyui_fal_avatar.nodes.store.journal import Journal

ASSETS = Path(__file__).resolve().parent.parent / "nodes" / "assets"
CLI = [sys.executable, "-m", "comfyui_fal_avatar.nodes.cli"]
ENDPOINTS = (
    "fal-ai/infinitalk",
    "fal-ai/infinitalk/single-text",
    "fal-ai/infinitalk/video-to-video",
    "fal-ai/stable-avatar",
)


def short_speech(path: Path, seconds: float = 1.7) -> Path:
    """The bundled speech cut to ``seconds`` (StableAvatar renders as long as its audio)."""
    with wave.open(str(ASSETS / "sample_speech.wav")) as src:
        params = src.getparams()
        frames = src.readframes(int(params.framerate * seconds))
    with wave.open(str(path), "wb") as dst:
        dst.setparams(params)
        dst.writeframes(frames)
    return path


def row(endpoint: str, seed: int, folder: Path, **extra) -> dict:
    """A manifest row of ``endpoint`` with small inputs (paths relative to the manifest's folder)."""
    cells = {"endpoint": endpoint, "seed": seed}
    if endpoint == "fal-ai/stable-avatar":
        cells.update(image="portrait.png", audio="short.wav")
    elif endpoint == "fal-ai/infinitalk/single-text":
        cells.update(image="portrait.png", text=f"Lesson {seed}.", voice="Sarah", num_frames=41)
    elif endpoint == "fal-ai/infinitalk/video-to-video":
        cells.update(video="clip.mp4", audio="speech.wav", num_frames=41)
    else:
        cells.update(image="portrait.png", audio="speech.wav", num_frames=41)
    return {**cells, **extra}


@pytest.fixture
def folder(tmp_path) -> Path:
    """A manifest folder with the inputs the rows name."""
    work = tmp_path / "lessons"
    work.mkdir()
    (work / "portrait.png").write_bytes((ASSETS / "sample_portrait.png").read_bytes())
    (work / "speech.wav").write_bytes((ASSETS / "sample_speech.wav").read_bytes())
    (work / "clip.mp4").write_bytes((ASSETS / "sample_video.mp4").read_bytes())
    short_speech(work / "short.wav")
    return work


def write_csv(path: Path, rows: list[dict]) -> Path:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def batch(*args, env_extra=None) -> subprocess.CompletedProcess:
    """`fal-avatar batch ARGS` in this process (see test_cli.cli); SIGKILL, Ctrl-C and two batches at once
    run it as a child process."""
    return cli("batch", *args, env_extra=env_extra)


def summary(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def submitted_seeds(emulator) -> Counter:
    return Counter(job.arguments.get("seed") for job in emulator.jobs.values())


def test_forty_rows_mixed_endpoints_one_failure_then_a_rerun_pays_for_that_row_alone(fal_env, folder):
    rows = [row(ENDPOINTS[i % 4], 100 + i, folder, out=f"out/lesson-{i:02d}.mp4") for i in range(38)]
    rows.insert(
        10, {**rows[9], "out": "out/lesson-09-copy.mp4"}
    )  # identical to the row above: one generation
    rows.append(row("fal-ai/infinitalk", 777, folder, out="out/broken.mp4"))  # its job fails on fal
    (folder / "out").mkdir()
    manifest = write_csv(folder / "lessons.csv", rows)
    fal_env.inject_job("runner_error", match={"seed": 777}, error_type="runner_disconnected", status=503)

    first = batch(manifest, "--concurrency", "8")
    assert first.returncode == 3, first.stderr[-3000:]
    result = summary(first)
    assert (result["done"], result["failed"], result["cancelled"]) == (39, 1, 0)
    assert fal_env.count("submit") == 39 and len(fal_env.jobs) == 39
    assert all(n == 1 for n in submitted_seeds(fal_env).values())
    uploads = [r.body for r in fal_env.requests if r.route == "cdn_upload"]
    assert len(uploads) == len(set(uploads))  # rows sharing a file upload it once, even at the same moment
    by_line = {r["line"]: r for r in result["rows"]}
    copy, original = by_line[12], by_line[11]  # CSV lines: header 1, so row i is on line i + 2
    assert (
        copy["same_as_line"] == 11
        and copy["request_ids"] == original["request_ids"]
        and copy["to_pay_usd"] == 0
    )
    assert (folder / "out/lesson-09-copy.mp4").read_bytes() == (folder / "out/lesson-09.mp4").read_bytes()
    broken = by_line[41]
    assert broken["status"] == "failed" and "runner_disconnected" in broken["error"]
    assert broken["request_ids"] and fal_env.jobs[broken["request_ids"][0]].arguments["seed"] == 777
    assert len({p.name for p in (folder / "out").iterdir()}) == 39
    # what this process submitted, the failed (but paid) row included
    submitted_usd = sum(r["estimate_usd"] for r in result["rows"] if r["same_as_line"] is None)
    assert result["new_jobs"] == 39 and result["new_spend_usd"] == pytest.approx(submitted_usd)
    assert broken["new_jobs"] == 1 and result["reused_jobs"] == 1  # the identical row
    # the table and the progress lines
    table = [line.split() for line in first.stdout.splitlines()[1:] if "fal-ai/" in line]
    statuses = Counter(cells[1] for cells in table)
    assert (statuses["done"], statuses["failed"]) == (39, 1)
    assert "done (= line 11)" in first.stdout
    assert "39 done · 1 failed" in first.stdout
    assert "Generating" in first.stderr and "39/40 done · 1 failed" in first.stderr
    assert "error: line 41:" in first.stderr

    fal_env.clear_log()
    second = batch(manifest, "--concurrency", "8")
    assert second.returncode == 0, second.stderr[-3000:]
    assert fal_env.count("submit") == 1
    again = summary(second)
    assert again["done"] == 40 and again["new_spend_usd"] == pytest.approx(41 / 25 * 0.20)
    assert (again["new_jobs"], again["reused_jobs"]) == (1, 39)
    assert sum(r["reused"] for r in again["rows"]) == 39


def test_jsonl_rows_with_typed_values_and_a_long_row_in_segments(fal_env, folder):
    long_audio = np.zeros(16000 * 30, np.int16)  # 30 s: longer than one job renders (28.84 s)
    long_audio[::7] = 9000
    with wave.open(str(folder / "long.wav"), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(16000)
        fh.writeframes(long_audio.tobytes())
    rows = [
        row("fal-ai/infinitalk", 1, folder, num_frames=41, resolution="480p", acceleration="high"),
        row("fal-ai/stable-avatar", 2, folder, **{"param.guidance_scale": 4.5, "param.aspect_ratio": "1:1"}),
        {
            "endpoint": "fal-ai/infinitalk",
            "image": "portrait.png",
            "audio": "long.wav",
            "seed": 3,
            "out": "long.mp4",
        },
    ]
    manifest = write_jsonl(folder / "lessons.jsonl", rows)
    dry = batch(manifest, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = summary(dry)["rows"]
    assert planned[2]["jobs"] >= 2 and planned[2]["frames"] >= 30 * 25  # priced with all its segments
    assert fal_env.requests == []

    proc = batch(manifest, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(proc.stdout.strip().splitlines()) == 1  # --json: the summary only
    result = summary(proc)
    assert [r["status"] for r in result["rows"]] == ["done"] * 3
    assert len(result["rows"][2]["request_ids"]) == planned[2]["jobs"]
    assert fal_env.count("submit") == 2 + planned[2]["jobs"]
    stable = next(j for j in fal_env.jobs.values() if j.endpoint_id == "fal-ai/stable-avatar")
    assert stable.arguments["guidance_scale"] == 4.5 and stable.arguments["aspect_ratio"] == "1:1"
    infinitalk = next(j for j in fal_env.jobs.values() if j.arguments.get("seed") == 1)
    assert infinitalk.arguments["acceleration"] == "high"
    assert (folder / "long.mp4").is_file() and (folder / "lessons-2.mp4").is_file()


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_sent(fal_env, folder):
    (folder / "lessons.csv").write_text(
        "endpoint,image,audio,text,num_frames,seed,param.guidance_scale,out\n"
        "fal-ai/infinitalk,portrait.png,speech.wav,,41,1,,a.mp4\n"  # good
        "fal-ai/infinitalk,missing.png,speech.wav,,41,2,,b.mp4\n"  # no such file
        "fal-ai/infinitalk,portrait.png,speech.wav,,42,3,,c.mp4\n"  # not 4n+1
        "fal-ai/nope,portrait.png,speech.wav,,41,4,,d.mp4\n"  # unknown endpoint
        "fal-ai/infinitalk,portrait.png,speech.wav,hello,41,5,,e.mp4\n"  # text: not taken
        "\n"
        "fal-ai/infinitalk,portrait.png,speech.wav,,41,six,,f.mp4\n"  # bad seed (line 8: a blank line before)
        'fal-ai/stable-avatar,portrait.png,"short.wav",,,7,11,g.mp4\n'  # guidance above 10
        "fal-ai/infinitalk,portrait.png,,,41,8,,h.mp4\n"  # no audio
        "fal-ai/infinitalk,portrait.png,speech.wav,,41,9,,a.mp4\n",  # the same output as line 2
        encoding="utf-8",
    )
    proc = batch(folder / "lessons.csv")
    assert proc.returncode == 2
    for line, words in [
        (3, "missing.png"),
        (4, "4n+1"),
        (5, "Unknown endpoint"),
        (6, "does not take"),
        (8, "six"),
        (9, "guidance_scale"),
        (10, "audio: missing"),
        (11, "also the output of line 2"),
    ]:
        assert any(f"line {line}:" in text and words in text for text in proc.stderr.splitlines()), (
            line,
            proc.stderr,
        )
    assert "line 2:" not in proc.stderr
    refused = summary(proc)
    assert refused["refused"] and {p["line"] for p in refused["problems"]} == {3, 4, 5, 6, 8, 9, 10, 11}
    assert fal_env.requests == [] and Journal().entries() == []

    (folder / "cols.jsonl").write_text(
        json.dumps(row("fal-ai/infinitalk", 1, folder))
        + "\n"
        + json.dumps({**row("fal-ai/infinitalk", 2, folder), "colour": "red"})
        + "\nnot json\n"
    )
    proc = batch(folder / "cols.jsonl")
    assert proc.returncode == 2 and "line 2: unknown column(s) 'colour'" in proc.stderr
    assert "line 3: not valid JSON" in proc.stderr
    (folder / "cols.csv").write_text("endpoint,image,colour\nfal-ai/infinitalk,portrait.png,red\n")
    proc = batch(folder / "cols.csv")
    assert proc.returncode == 2 and "line 1: unknown column(s) 'colour'" in proc.stderr
    proc = batch(folder / "lessons.csv", "--concurrency", "65")
    assert proc.returncode == 2 and "--concurrency: must be from 1 to 64" in proc.stderr
    assert fal_env.requests == []


def test_each_done_row_shows_the_output_fields_its_model_returned(fal_env, folder):
    rows = [
        {"endpoint": "fal-ai/flashtalk", "image": "portrait.png", "audio": "short.wav", "seed": 4},
        row("fal-ai/infinitalk", 5, folder),
    ]
    proc = batch(write_csv(folder / "extras.csv", rows), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    flashtalk, infinitalk = summary(proc)["rows"]
    job = next(j for j in fal_env.jobs.values() if j.endpoint_id == "fal-ai/flashtalk")
    (extras,) = flashtalk["output_extras"]
    assert extras["duration"] == job.output["duration"] and set(extras["timings"]) == {"inference"}
    assert infinitalk["output_extras"] == [{}]  # InfiniTalk declares none


def test_dry_run_prices_every_row_and_uploads_nothing(fal_env, folder):
    rows = [row(e, i, folder) for i, e in enumerate(ENDPOINTS)] + [
        row(ENDPOINTS[0], 0, folder, out="twin.mp4")
    ]
    proc = batch(write_csv(folder / "m.csv", rows), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert fal_env.requests == []
    header = proc.stdout.splitlines()[0].split()
    assert header[:2] == ["LINE", "ENDPOINT"] and "TO" in header and "OUT" in header
    assert "= line 2" in proc.stdout and "5 rows (4 fal jobs)" in proc.stdout
    assert "note: lines 2, 4: num_frames 41 covers 1.64 s" in proc.stderr  # said before anything is paid
    result = summary(proc)
    assert result["jobs"] == 4 and result["to_pay_usd"] == pytest.approx(
        sum(r["estimate_usd"] for r in result["rows"][:4])
    )
    assert not any((folder / name).exists() for name in ("twin.mp4", "m-2.mp4"))


def test_dry_run_shows_each_rows_length_at_its_own_fps_or_in_seconds(fal_env, folder):
    rows = [
        row("fal-ai/infinitalk", 1, folder),  # num_frames 41 at 25 fps
        {"endpoint": "fal-ai/longcat-single-avatar/image-audio-to-video", "image": "portrait.png",
         "audio": "short.wav", "seed": 2},  # 16 fps
        {"endpoint": "fal-ai/bytedance/omnihuman/v1.5", "image": "portrait.png", "audio": "short.wav"},
    ]  # fmt: skip
    proc = batch(write_csv(folder / "fps.csv", rows), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert fal_env.requests == []
    table = proc.stdout.splitlines()
    assert "LENGTH / JOBS" in table[0]
    infinitalk, longcat, omnihuman = (
        next(line for line in table if f" {cells['endpoint']} " in line) for cells in rows
    )
    assert "41 frames @ 25 fps, 1 job" in infinitalk
    assert "28 frames @ 16 fps, 1 job" in longcat  # 1.7 s at 16 fps (the video stops with the audio)
    assert "1.7 s, 1 job" in omnihuman  # fal states no fps for OmniHuman: its file will say
    planned = summary(proc)["rows"]
    assert [(r["frames"], r["fps"]) for r in planned] == [(41, 25.0), (28, 16.0), (None, None)]
    assert [r["seconds"] for r in planned] == [1.64, 1.7, 1.7]


def test_the_spend_guard_counts_the_money_still_to_pay_once_per_generation(fal_env, folder):
    one = 41 / 25 * 0.20
    rows = [
        row(ENDPOINTS[0], 1, folder),
        row(ENDPOINTS[0], 2, folder),
        row(ENDPOINTS[0], 1, folder, out="copy.mp4"),
    ]
    manifest = write_csv(folder / "m.csv", rows)
    proc = batch(manifest, "--max-usd", f"{1.5 * one:.2f}")
    assert proc.returncode == 2 and "spend limit" in proc.stderr and "--max-usd" in proc.stderr
    assert fal_env.requests == []
    proc = batch(
        manifest, env_extra={"FAL_AVATAR_MAX_USD_PER_RUN": f"{2 * one + 0.01:.2f}"}
    )  # two generations
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert fal_env.count("submit") == 2
    again = batch(manifest, "--max-usd", "0")  # all stored: nothing left to pay
    assert again.returncode == 0, again.stderr[-2000:]
    assert fal_env.count("submit") == 2


def test_ctrl_c_cancels_every_job_in_flight_and_exits_130(fal_env, folder):
    fal_env.inject_job("slow", times=10, processing_time=60)
    manifest = write_csv(folder / "m.csv", [row(ENDPOINTS[0], i, folder) for i in range(5)])
    proc = subprocess.Popen(
        [*WITH_CTRL_C, "batch", str(manifest), "--concurrency", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while sum(j.state == "IN_PROGRESS" for j in fal_env.jobs.values()) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert fal_env.count("cancel") == 3 and fal_env.count("submit") == 3
    assert {e.state for e in Journal().entries()} == {"cancelled"}
    result = json.loads(out.strip().splitlines()[-1])
    assert [r["status"] for r in result["rows"]] == ["cancelled"] * 5
    cancelled_ids = {i for r in result["rows"] for i in r["request_ids"]}
    assert cancelled_ids == set(fal_env.jobs)  # the cancelled jobs, named for the record
    assert "interrupted" in err


def test_sigkill_mid_batch_then_a_rerun_submits_no_row_twice(fal_env, folder):
    running = threading.Event()  # the first wave stays IN_PROGRESS until the kill
    fal_env.inject_job("slow", times=4, release=running)
    fal_env.inject("submit", "hang", seconds=30)  # one submit took effect but its answer never arrives
    manifest = write_csv(folder / "m.csv", [row(ENDPOINTS[0], i, folder) for i in range(8)])
    proc = subprocess.Popen(
        [*CLI, "batch", str(manifest), "--concurrency", "4"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while Counter(e.state for e in Journal().entries()) != {"submitted": 3, "submitting": 1}:
        assert proc.poll() is None and time.monotonic() < deadline, Journal().entries()
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    running.set()
    assert fal_env.count("submit") == 4

    rerun = batch(manifest, "--concurrency", "4")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert fal_env.count("submit") == 8
    assert submitted_seeds(fal_env) == Counter(range(8))  # every row submitted exactly once
    assert [r["status"] for r in summary(rerun)["rows"]] == ["done"] * 8


def test_two_batches_on_one_data_directory_share_identical_rows(fal_env, folder):
    """Two processes at full concurrency on one journal: no 'database is locked', and the rows both manifests
    hold are generated once (the second process waits for the first's claim)."""
    shared = [row(ENDPOINTS[0], i, folder) for i in range(8)]
    first = write_csv(folder / "a.csv", shared + [row(ENDPOINTS[0], 100 + i, folder) for i in range(8)])
    second = write_csv(folder / "b.csv", shared + [row(ENDPOINTS[3], 200 + i, folder) for i in range(8)])
    procs = [
        subprocess.Popen(
            [*CLI, "batch", str(m), "--concurrency", "16"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in (first, second)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, _, err in results:
        assert code == 0, err[-3000:]
        assert "locked" not in err
    assert fal_env.count("submit") == 24 and all(n == 1 for n in submitted_seeds(fal_env).values())


def test_a_cache_cap_of_0_fails_no_row(fal_env, monkeypatch, tmp_path):
    """Six one-job rows with FAL_AVATAR_CACHE_GB=0, each delivered only once all six are stored: one row's
    store used to evict the others' videos before they were copied out (a raw `[Errno 2]` after paying)."""
    import asyncio
    import shutil

    from comfyui_fal_avatar.nodes.avatar.endpoints import INFINITALK_IMAGE
    from comfyui_fal_avatar.nodes.batch.run import Batch, BatchItem
    from comfyui_fal_avatar.nodes.cli.files import load_audio, load_image
    from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
    from comfyui_fal_avatar.nodes.services import RunSettings, build_services

    monkeypatch.setenv("FAL_AVATAR_CACHE_GB", "0")
    image, audio = load_image(ASSETS / "sample_portrait.png"), load_audio(ASSETS / "sample_speech.wav")

    def item(seed: int) -> BatchItem:
        values = {"num_frames": 41, "resolution": "480p", "seed": seed}
        request = GenerationRequest(
            spec=INFINITALK_IMAGE, values=values, image=image, audio=audio, want_frames=False
        )
        return BatchItem(f"row {seed}", INFINITALK_IMAGE.endpoint_id, lambda: request)

    all_stored = threading.Barrier(6, timeout=60)

    def deliver(index: int, run) -> None:
        all_stored.wait()
        shutil.copyfile(run.path, tmp_path / f"r{index}.mp4")

    services = build_services(RunSettings(max_parallel=6))
    batch = Batch([item(300 + i) for i in range(6)], services=services, deliver=deliver)

    async def go():
        await batch.check()
        return await batch.run()

    rows = asyncio.run(go())
    assert [r.outcome for r in rows] == ["done"] * 6, [repr(r.error) for r in rows]
    assert all((tmp_path / f"r{i}.mp4").stat().st_size > 0 for i in range(6))
    assert fal_env.count("submit") == 6


def test_a_fresh_out_dir_and_missing_out_folders_are_made_and_escapes_are_refused_first(fal_env, folder):
    rows = [row(ENDPOINTS[0], 1, folder), row(ENDPOINTS[0], 2, folder, out="week1/day1/intro.mp4")]
    proc = batch(write_csv(folder / "lessons.csv", rows), "--out-dir", folder / "renders")
    assert proc.returncode == 0, proc.stderr
    assert (folder / "renders" / "lessons-2.mp4").stat().st_size > 0
    assert (folder / "renders" / "week1" / "day1" / "intro.mp4").stat().st_size > 0
    submits = fal_env.count("submit")
    again = batch(folder / "lessons.csv", "--out-dir", folder / "renders")  # its own outputs are replaced
    assert again.returncode == 0, again.stderr
    assert fal_env.count("submit") == submits

    fal_env.clear_log()
    (folder / "notes.txt").write_text("my notes")
    rows = [
        row(ENDPOINTS[0], 3, folder, out="../escape.mp4"),
        row(ENDPOINTS[0], 4, folder, out="/tmp/abs.mp4"),
        row(ENDPOINTS[0], 5, folder, out="notes.txt"),
        row(ENDPOINTS[0], 6, folder, out="speech.wav"),
    ]
    proc = batch(write_csv(folder / "bad.csv", rows))
    assert proc.returncode == 2
    for line, words in [
        (2, "outside the output folder"),
        (3, "outside the output folder"),
        (4, "--overwrite"),
        (5, "the audio of line 2"),
    ]:
        assert any(f"line {line}:" in text and words in text for text in proc.stderr.splitlines()), (
            line,
            proc.stderr,
        )
    assert fal_env.requests == []
    assert (folder / "notes.txt").read_text() == "my notes" and not (folder.parent / "escape.mp4").exists()
