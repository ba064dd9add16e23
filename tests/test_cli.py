"""The `fal-avatar` command as a user runs it: demo, generate (exit codes, JSON summary), jobs, fetch,
emulator — against the emulator fixture. What is about the process itself (Ctrl-C, runs started together, the
emulator and demo commands) runs the command as a subprocess; the rest runs its ``main()`` in this process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_media_samples import scramble_frames

from comfyui_fal_avatar.nodes.cli import main as cli_main
from comfyui_fal_avatar.nodes.media import check_header
from comfyui_fal_avatar.nodes.store.journal import Journal

ASSETS = Path(__file__).resolve().parent.parent / "nodes" / "assets"
CLI = [sys.executable, "-m", "comfyui_fal_avatar.nodes.cli"]


def cli_process(*args, env_extra=None, **kw) -> subprocess.CompletedProcess:
    """`fal-avatar ARGS` as a child process (``kw`` as for ``subprocess.run``)."""
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=120, **kw)


def cli(*args, env_extra=None) -> subprocess.CompletedProcess:
    """`fal-avatar ARGS` run by the command's ``main()`` in this process, as :func:`cli_process` would run
    it (the same parsing, messages and exit code, with ``env_extra`` set for the call only), without the cost
    of a new interpreter. Its output is captured; anything it does not catch fails the test (a hang is
    pytest-timeout's)."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    saved = {name: os.environ.get(name) for name in env_extra or {}}
    os.environ.update(env_extra or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli_main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return subprocess.CompletedProcess([*CLI, *argv], code, out.getvalue(), err.getvalue())


def generate(*extra, out: Path) -> subprocess.CompletedProcess:
    return cli(
        "generate",
        "fal-ai/infinitalk",
        "--image",
        ASSETS / "sample_portrait.png",
        "--audio",
        ASSETS / "sample_speech.wav",
        "--num-frames",
        "41",
        "--out",
        out,
        *extra,
    )


def test_generate_succeeds_with_json_summary_and_jobs_lists_it(fal_env, tmp_path):
    out = tmp_path / "talk.mp4"
    proc = generate(out=out)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 41 and summary["fps"] == 25.0 and summary["has_audio"]
    assert summary["estimated_cost_usd"] == pytest.approx(41 / 25 * 0.20) and not summary["reused"]
    assert out.is_file() and out.stat().st_size > 0
    assert "Uploading" in proc.stderr and "Generating" in proc.stderr

    jobs = cli("jobs")
    assert jobs.returncode == 0
    assert summary["request_id"] in jobs.stdout and "downloaded" in jobs.stdout and "~$0.33" in jobs.stdout

    again = generate(out=tmp_path / "again.mp4")
    assert json.loads(again.stdout.strip().splitlines()[-1])["reused"] is True
    assert fal_env.count("submit") == 1


def test_bad_input_exits_2_and_sends_nothing(fal_env, tmp_path):
    proc = cli(
        "generate",
        "fal-ai/infinitalk",
        "--image",
        ASSETS / "sample_portrait.png",
        "--out",
        tmp_path / "x.mp4",
    )
    assert proc.returncode == 2 and "audio" in proc.stderr
    proc = generate("--num-frames", "42", out=tmp_path / "x.mp4")
    assert proc.returncode == 2 and "4n+1" in proc.stderr
    proc = cli("generate", "fal-ai/unknown", "--out", tmp_path / "x.mp4")
    assert proc.returncode == 2 and "fal-ai/stable-avatar" in proc.stderr
    assert fal_env.requests == []


def test_missing_key_exits_2_naming_both_ways(tmp_path):
    proc = generate(out=tmp_path / "x.mp4")
    assert proc.returncode == 2
    assert "FAL_KEY" in proc.stderr and "Settings" in proc.stderr


def test_fal_side_failure_exits_3(fal_env, tmp_path):
    fal_env.inject_job("runner_error", error_type="runner_disconnected", status=503)
    proc = generate(out=tmp_path / "x.mp4")
    assert proc.returncode == 3 and "runner_disconnected" in proc.stderr


def child(setup: str) -> list[str]:
    """The CLI in a Python that first runs ``setup`` (e.g. signal or resource settings of its own)."""
    run = "runpy.run_module('comfyui_fal_avatar.nodes.cli', run_name='__main__', alter_sys=True)"
    return [sys.executable, "-c", f"import resource, runpy, signal; {setup}; {run}"]


# A shell's background job (`cmd &`) starts its children with SIGINT ignored, and Python keeps an ignored
# SIGINT ignored (no KeyboardInterrupt); the child restores Python's own handler so the test does not depend
# on that.
WITH_CTRL_C = child("signal.signal(signal.SIGINT, signal.default_int_handler)")


def test_ctrl_c_cancels_the_fal_job_and_exits_130(fal_env, tmp_path):
    fal_env.inject_job("slow", processing_time=60)
    proc = subprocess.Popen(
        [
            *WITH_CTRL_C,
            "generate",
            "fal-ai/infinitalk",
            "--image",
            str(ASSETS / "sample_portrait.png"),
            "--audio",
            str(ASSETS / "sample_speech.wav"),
            "--num-frames",
            "41",
            "--out",
            str(tmp_path / "x.mp4"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt once the CLI reports the job as queued or generating: it knows the request id from then on.
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(("Queued", "Generating")):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = "".join(seen) + err
    assert proc.returncode == 130, err
    assert fal_env.count("cancel") == 1, err
    (entry,) = Journal().entries()
    assert entry.state == "cancelled"


def test_fetch_recovers_by_request_id(fal_env, tmp_path, monkeypatch):
    first = json.loads(generate(out=tmp_path / "a.mp4").stdout.strip().splitlines()[-1])
    monkeypatch.setenv("FAL_AVATAR_HOME", str(tmp_path / "fresh-home"))  # a machine that never saw it
    fal_env.clear_log()
    proc = cli("fetch", first["request_id"], "--endpoint", "fal-ai/infinitalk", "--out", tmp_path / "b.mp4")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b.mp4").read_bytes() == (tmp_path / "a.mp4").read_bytes()
    assert fal_env.count("submit") == 0
    fetched = json.loads(proc.stdout.strip().splitlines()[-1])
    assert fetched["output_extras"] == first["output_extras"] == [{}]  # InfiniTalk declares no extra field


def test_fetch_never_copies_a_damaged_file_and_exits_3(fal_env, tmp_path, monkeypatch):
    first = json.loads(generate(out=tmp_path / "a.mp4").stdout.strip().splitlines()[-1])
    monkeypatch.setenv("FAL_AVATAR_HOME", str(tmp_path / "fresh-home"))  # no local copy: fal's file only
    fal_env.inject("file_get", "damaged", times=50)
    fetch = ("fetch", first["request_id"], "--endpoint", "fal-ai/infinitalk", "--out", tmp_path / "b.mp4")
    proc = cli(*fetch)
    assert proc.returncode == 3
    assert "damaged" in proc.stderr and "at no charge" in proc.stderr
    assert not (tmp_path / "b.mp4").exists()
    fal_env.clear_faults()
    proc = cli(*fetch)  # retrying is free and now gets the real file
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b.mp4").read_bytes() == (tmp_path / "a.mp4").read_bytes()
    assert fal_env.count("submit") == 1


def test_fetch_replaces_a_damaged_local_copy(fal_env, tmp_path):
    """The local copy still has its headers but no longer decodes: fetch decodes it in full before copying,
    so it downloads the file again instead of handing out the damaged one."""
    first = json.loads(generate(out=tmp_path / "a.mp4").stdout.strip().splitlines()[-1])
    local = Journal().get(first["request_id"]).local_path
    scramble_frames(local)
    assert check_header(local).frame_count == 41  # what a header check on reuse would pass
    fal_env.clear_log()
    proc = cli("fetch", first["request_id"], "--endpoint", "fal-ai/infinitalk", "--out", tmp_path / "b.mp4")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b.mp4").read_bytes() == (tmp_path / "a.mp4").read_bytes() == local.read_bytes()
    assert fal_env.count("file_get") == 1 and fal_env.count("submit") == 0


def test_emulator_command_prints_its_url_first():
    proc = subprocess.Popen([*CLI, "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_writes_video_and_contact_sheet(tmp_path):
    proc = cli_process("demo", "--out", tmp_path / "demo.mp4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "165 frames" in proc.stdout and "25 fps" in proc.stdout and "audio yes" in proc.stdout
    assert (tmp_path / "demo.mp4").stat().st_size > 10_000
    assert (tmp_path / "demo_contact_sheet.png").is_file()


def _start_together(args: list[str], runs: int, tmp_path: Path) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen(
            [*CLI, *args, "--out", str(tmp_path / f"out{i}.mp4")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(runs)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), *p.communicate()) for p in procs]


def _mov_copy(source: Path, dest: Path) -> Path:
    """The sample clip re-muxed into QuickTime: a source the pack must re-encode before upload."""
    import av

    with av.open(str(source)) as inp, av.open(str(dest), "w", format="mov") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dest


@pytest.mark.parametrize("kind", ["image+audio", "dubbing (MOV source)"])
def test_identical_runs_started_together_make_one_submit(fal_env, tmp_path, kind):
    if kind == "image+audio":
        args = [
            "generate",
            "fal-ai/infinitalk",
            "--image",
            str(ASSETS / "sample_portrait.png"),
            "--audio",
            str(ASSETS / "sample_speech.wav"),
            "--num-frames",
            "41",
        ]
    else:
        mov = _mov_copy(ASSETS / "sample_video.mp4", tmp_path / "source.mov")
        args = [
            "generate",
            "fal-ai/infinitalk/video-to-video",
            "--video",
            str(mov),
            "--audio",
            str(ASSETS / "sample_speech.wav"),
            "--num-frames",
            "41",
        ]
    results = _start_together(args, 6, tmp_path)
    assert [r.returncode for r in results] == [0] * 6, [r.stderr[-2000:] for r in results if r.returncode]
    ids = {json.loads(r.stdout.strip().splitlines()[-1])["request_id"] for r in results}
    assert len(ids) == 1
    assert fal_env.count("submit") == 1 and len(fal_env.jobs) == 1


def test_an_out_that_is_or_links_to_an_input_is_refused_before_any_upload(fal_env, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes((ASSETS / "sample_video.mp4").read_bytes())
    (tmp_path / "same.mp4").hardlink_to(clip)
    (tmp_path / "alias.mp4").symlink_to(clip)
    source = clip.read_bytes()
    for out in (clip, tmp_path / "same.mp4", tmp_path / "alias.mp4", tmp_path / "sub" / ".." / "clip.mp4"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        proc = cli(
            "generate",
            "fal-ai/infinitalk/video-to-video",
            "--video",
            clip,
            "--audio",
            ASSETS / "sample_speech.wav",
            "--num-frames",
            "41",
            "--out",
            out,
        )
        assert proc.returncode == 2 and "--out:" in proc.stderr and "the --video file" in proc.stderr, (
            proc.stderr
        )
        assert "Traceback" not in proc.stderr
    assert clip.read_bytes() == source and fal_env.requests == []


def test_nothing_to_say_and_a_frame_count_an_endpoint_lacks_are_refused_before_money(fal_env, tmp_path):
    for text in (".", "😀"):
        proc = cli(
            "generate",
            "fal-ai/infinitalk/single-text",
            "--image",
            ASSETS / "sample_portrait.png",
            "--text",
            text,
            "--voice",
            "Sarah",
            "--out",
            tmp_path / "x.mp4",
        )
        assert proc.returncode == 2 and "nothing to say" in proc.stderr, proc.stderr
    proc = cli(
        "generate",
        "fal-ai/stable-avatar",
        "--image",
        ASSETS / "sample_portrait.png",
        "--audio",
        ASSETS / "sample_speech.wav",
        "--num-frames",
        "81",
        "--out",
        tmp_path / "x.mp4",
    )
    assert proc.returncode == 2 and "fal-ai/stable-avatar takes no --num-frames" in proc.stderr
    assert fal_env.requests == []
