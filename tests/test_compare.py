"""`fal-avatar compare` against the emulator: one job per model under the spend guard, journaled (an identical
compare pays nothing), one side-by-side MP4 with the input's sound, a table and JSON; bad models refused
before any upload; a failed model kept in the table and the video (exit code 3)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.cli import main
from comfyui_fal_avatar.nodes.cli.files import load_audio, load_image
from comfyui_fal_avatar.nodes.compare.plan import parse_models, plan_compare, qualifying
from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.media import probe_video
from comfyui_fal_avatar.nodes.store.journal import Journal

ASSETS = Path(__file__).resolve().parent.parent / "nodes" / "assets"
IMAGE, SPEECH = ASSETS / "sample_portrait.png", ASSETS / "sample_speech.wav"  # the speech is 6.5 s long
UPLOAD_ROUTES = {"cdn_upload", "token", "storage_initiate", "signed_put", "multipart_create"}


CLI = [sys.executable, "-m", "comfyui_fal_avatar.nodes.cli"]
# A background job's children start with SIGINT ignored; the child restores Python's own handler first.
WITH_CTRL_C = [sys.executable, "-c",
               "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "runpy.run_module('comfyui_fal_avatar.nodes.cli', run_name='__main__', "
               "alter_sys=True)"]  # fmt: skip


def compare(capsys, out: Path, models: str, *extra: str) -> tuple[int, str, str]:
    argv = ["compare", "--image", str(IMAGE), "--audio", str(SPEECH), "--models", models, "--out", str(out),
            "--seconds", "3", *extra]  # fmt: skip
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_rows(stdout: str) -> dict[str, str]:
    """The table's lines by model name (the table ends at the first empty line)."""
    lines = stdout.split("\n\n")[0].splitlines()
    assert lines[0].split()[:3] == ["MODEL", "RESOLUTION", "EST."]
    return {line.split()[0]: line for line in lines[1:]}


def test_three_models_three_jobs_one_side_by_side_video_with_sound_then_an_identical_compare_is_free(
    fal_env, tmp_path, capsys
):
    out = tmp_path / "side.mp4"
    code, stdout, stderr = compare(capsys, out, "omnihuman,fabric,kling-std")
    assert code == 0, stderr[-2000:]
    assert fal_env.count("submit") == 3
    assert {job.arguments.get("resolution") for job in fal_env.jobs.values()} == {"1080p", "480p", None}
    info = probe_video(out)
    tiles = [probe_video(Path(entry.local_path)) for entry in Journal().entries()]
    assert len(tiles) == 3
    height = min(tile.height for tile in tiles)
    assert info.height == height and info.width == sum(round(t.width * height / t.height) for t in tiles)
    assert info.fps == pytest.approx(max(t.fps for t in tiles), abs=0.01)  # the fastest tile's rate (30)
    assert info.duration_s == pytest.approx(3.0, abs=1 / info.fps)
    assert info.has_audio
    rows = table_rows(stdout)
    assert set(rows) == {"omnihuman", "fabric", "kling-std"}
    assert "~$0.48" in rows["omnihuman"] and "1080p (default)" in rows["omnihuman"]  # $0.16/s x 3 s
    assert "~$0.24" in rows["fabric"] and "480p (cheapest)" in rows["fabric"]  # $0.08/s at 480p
    assert all(" s " in line and line.rstrip().endswith("ok") for line in rows.values())  # a time per model

    code, stdout, _ = compare(capsys, out, "omnihuman,fabric,kling-std", "--json")
    assert code == 0 and fal_env.count("submit") == 3  # nothing submitted again
    result = json.loads(stdout)
    assert result["estimated_new_spend_usd"] == 0 and result["failed"] == 0
    assert [m["model"] for m in result["models"]] == ["omnihuman", "fabric", "kling-std"]
    assert all(
        m["reused"] and m["new_spend_usd"] == 0 and m["render_s"] is not None for m in result["models"]
    )
    assert result["width"] == info.width and result["has_audio"]


def test_the_spend_limit_refuses_the_whole_comparison_before_any_upload(fal_env, tmp_path, capsys):
    # omnihuman $0.48 + fabric $0.24 for 3 s: each alone is under $0.50, together they are not
    code, _, stderr = compare(capsys, tmp_path / "side.mp4", "omnihuman,fabric", "--max-usd", "0.5")
    assert code == 2
    assert "~$0.72 for 2 models" in stderr and "Nothing was uploaded or submitted" in stderr
    assert fal_env.count("submit") == 0 and not UPLOAD_ROUTES & set(fal_env.routes())
    assert not (tmp_path / "side.mp4").exists()


@pytest.mark.parametrize(
    ("models", "said"),
    [
        ("omnihuman,kling-stnd", "unknown model 'kling-stnd'"),
        ("omnihuman,veed/fabric-1.0/text", "portrait + text model"),
        ("stable-avatar", "compatibility model"),
        ("fabric,fabric", "fabric is listed more than once"),
    ],
)
def test_unknown_or_non_portrait_models_are_refused_naming_the_ones_that_qualify(
    models, said, fal_env, tmp_path, capsys
):
    code, _, stderr = compare(capsys, tmp_path / "side.mp4", models)
    assert code == 2 and said in stderr
    if "more than once" not in said:
        assert (
            "omnihuman, kling-std, kling-pro, fabric, fabric-fast, aurora, sync3, longcat, flashtalk"
            in stderr
        )
    assert fal_env.requests == [] or not {"submit", *UPLOAD_ROUTES} & set(fal_env.routes())


def test_speech_shorter_than_a_models_minimum_is_refused_before_any_upload(fal_env, tmp_path, capsys):
    code, _, stderr = compare(capsys, tmp_path / "side.mp4", "omnihuman,kling-std", "--seconds", "1.5")
    assert code == 2 and "kling-std: " in stderr and "at least 2 s" in stderr
    assert fal_env.count("submit") == 0 and not UPLOAD_ROUTES & set(fal_env.routes())


def test_one_model_failing_keeps_the_others_and_says_so_with_exit_code_3(fal_env, tmp_path, capsys):
    fal_env.inject_job(
        "runner_error", match={"resolution": "480p"}, error_type="runner_disconnected", status=503
    )
    out = tmp_path / "side.mp4"
    code, stdout, stderr = compare(capsys, out, "omnihuman,fabric,kling-std")
    assert code == 3, stderr[-2000:]
    rows = table_rows(stdout)
    assert "FAILED" in rows["fabric"] and "runner_disconnected" in rows["fabric"]
    assert rows["omnihuman"].rstrip().endswith("ok") and rows["kling-std"].rstrip().endswith("ok")
    info = probe_video(out)
    assert info.has_audio and info.duration_s == pytest.approx(3.0, abs=1 / info.fps)
    # the failed model's tile is a dark panel with its label: three tiles wide
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    third = info.width // 3
    assert frame[info.height // 2, third : 2 * third].mean() < 50  # the middle tile (fabric) is dark
    assert frame[info.height // 2, :third].mean() > 50

    code, stdout, _ = compare(capsys, out, "omnihuman,fabric,kling-std", "--json")
    assert code == 0 and fal_env.count("submit") == 4  # only the failed model runs again
    assert [m["new_spend_usd"] > 0 for m in json.loads(stdout)["models"]] == [False, True, False]


def _start(command: list[str], out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*command, "compare", "--image", str(IMAGE), "--audio", str(SPEECH),
         "--models", "omnihuman,fabric,kling-std", "--seconds", "3", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_until_running(emulator, proc: subprocess.Popen, running: int) -> None:
    deadline = time.monotonic() + 120
    while sum(j.state == "IN_PROGRESS" for j in emulator.jobs.values()) < running:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)


def _wait_until_journaled(proc: subprocess.Popen, jobs: int) -> None:
    """Until the journal holds fal's request id for ``jobs`` submits: a job running on fal is not yet one the
    run knows (its submit may still be on the way, or its answer not yet journaled)."""
    deadline = time.monotonic() + 120
    while sum(entry.request_id is not None for entry in Journal().entries()) < jobs:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)


def test_a_compare_killed_while_its_jobs_run_is_re_attached_by_the_next_one_without_a_new_submit(
    fal_env, tmp_path, capsys
):
    running = threading.Event()  # two jobs stay IN_PROGRESS until the killed run is gone
    fal_env.inject_job("slow", times=2, release=running)
    out = tmp_path / "side.mp4"
    proc = _start(CLI, out)
    # Killed once every submit is journaled: killed mid-submit, a model's outcome is unknown and the next
    # compare asks fal's request history (test_sigkill_while_submitting_then_run_again covers that).
    _wait_until_journaled(proc, 3)
    _wait_until_running(fal_env, proc, 2)
    proc.kill()
    proc.communicate(timeout=30)
    assert fal_env.count("submit") == 3 and not out.exists()
    running.set()

    code, stdout, stderr = compare(capsys, out, "omnihuman,fabric,kling-std")
    assert code == 0, stderr[-2000:]
    assert fal_env.count("submit") == 3  # the running jobs were re-attached to, none submitted again
    assert set(table_rows(stdout)) == {"omnihuman", "fabric", "kling-std"} and probe_video(out).has_audio


def test_ctrl_c_cancels_every_models_job_and_exits_130(fal_env, tmp_path):
    fal_env.inject_job("slow", times=3, processing_time=60)
    proc = _start(WITH_CTRL_C, tmp_path / "side.mp4")
    _wait_until_running(fal_env, proc, 3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert fal_env.count("cancel") == 3 and not (tmp_path / "side.mp4").exists()


def test_every_model_failing_writes_no_video_and_exits_3(fal_env, tmp_path, capsys):
    fal_env.inject_job("runner_error", times=2, error_type="runner_disconnected", status=503)
    code, stdout, _ = compare(capsys, tmp_path / "side.mp4", "flashtalk,sync3")
    assert code == 3 and "no video: every model failed" in stdout
    assert all("FAILED" in line for line in table_rows(stdout).values())
    assert not (tmp_path / "side.mp4").exists()


def test_seconds_trims_the_speech_before_the_request_key_and_a_required_choice_takes_the_cheapest(tmp_path):
    specs = parse_models("fabric,omnihuman")
    plan = plan_compare(specs, image=load_image(IMAGE), audio=load_audio(SPEECH), seconds=2.5)
    assert plan.seconds == 2.5 and plan.audio["waveform"].shape[-1] == 2.5 * plan.audio["sample_rate"]
    fabric, omnihuman = plan.entries
    assert (fabric.resolution, fabric.resolution_from, fabric.request.values) == (
        "480p",
        "cheapest",
        {"resolution": "480p"},
    )
    assert (omnihuman.resolution, omnihuman.resolution_from, omnihuman.request.values) == (
        "1080p",
        "default",
        {},
    )
    asked = plan_compare(
        specs, image=load_image(IMAGE), audio=load_audio(SPEECH), seconds=9, resolution="720p"
    )
    assert [e.resolution_from for e in asked.entries] == ["--resolution", "--resolution"]
    assert asked.seconds == pytest.approx(6.500875)  # shorter than asked: all of it
    with pytest.raises(InputError, match="no model listed offers '4k'"):
        plan_compare(specs, image=None, audio=load_audio(SPEECH), seconds=3, resolution="4k")


def test_every_portrait_audio_row_has_a_short_name_and_only_they_qualify():
    assert {spec.family for spec in qualifying()} == {"portrait_audio"}
    assert all(spec.short_name for spec in qualifying())
    names = [spec.short_name for spec in ep.GENERATION_ENDPOINTS if spec.short_name]
    assert len(names) == len(set(names)) and ep.BY_SHORT_NAME["kling-std"].endpoint_id.endswith("v2/standard")


def test_help_names_the_models(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = capsys.readouterr().out
    assert "--models" in text and "kling-std" in text and "--seconds" in text and "--max-usd" in text
