"""Expected failures of the `fal-avatar` command end with a message and exit code 2 or 3, never a traceback.

The disk-full cases use real failing writes: a tiny tmpfs mounted over the result folder (the kernel answers
ENOSPC, exactly as a full disk does; needs the right to mount, which a root CI machine has), and, where
mounting is not allowed, a file-size limit (RLIMIT_FSIZE) on the CLI process: Python ignores SIGXFSZ, so the
write fails with EFBIG at the same call, the same way, and goes through the same translation.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_cli import ASSETS, child, cli, cli_process, generate

from comfyui_fal_avatar.nodes.cli.files import load_image
from comfyui_fal_avatar.nodes.cli.output import save_copy
from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.store.journal import Journal

PORTRAIT, SPEECH = ASSETS / "sample_portrait.png", ASSETS / "sample_speech.wav"


def generate_args(out: Path, *extra) -> list:
    return [
        "generate",
        "fal-ai/infinitalk",
        "--image",
        PORTRAIT,
        "--audio",
        SPEECH,
        "--num-frames",
        "41",
        "--out",
        out,
        *extra,
    ]


def assert_clean(proc: subprocess.CompletedProcess, code: int) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "error: " in proc.stderr


@contextmanager
def mounted_tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip()}); the file-size-limit variant covers it"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


# --- decompression bombs ----------------------------------------------------------------------------------


def one_bit_png(path: Path, width: int, height: int) -> Path:
    """A valid all-black 1-bit PNG: tiny on disk, ``width*height`` pixels when decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    rows = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    data = b"".join(rows.compress(row) for _ in range(height)) + rows.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(
    ("side", "fragment"),
    [
        (10_000, "10000x10000, 100.0 megapixels"),  # above Pillow's warning limit: it only warns
        (20_000, "400.0 megapixels"),
    ],  # above twice the limit: Pillow refuses to open it
)
def test_decompression_bomb_is_an_input_error_naming_the_sizes(tmp_path, side, fragment):
    with pytest.raises(InputError, match=fragment) as caught:
        load_image(one_bit_png(tmp_path / "bomb.png", side, side))
    assert "the limit is 89.5 megapixels" in str(caught.value) and "Downscale it" in str(caught.value)


def test_decompression_bomb_exits_2_before_anything_is_sent(fal_env, tmp_path):
    bomb = one_bit_png(tmp_path / "bomb.png", 20_000, 20_000)
    proc = cli(
        "generate", "fal-ai/infinitalk", "--image", bomb, "--audio", SPEECH, "--out", tmp_path / "x.mp4"
    )
    assert_clean(proc, 2)
    assert "too large to read safely" in proc.stderr and "400.0 megapixels" in proc.stderr
    assert fal_env.requests == []


# --- disk full while downloading the paid result ----------------------------------------------------------


@pytest.fixture(params=["tmpfs", "file-size-limit"])
def full_disk(request, tmp_path, isolated_env):
    """Runs the CLI so that writing the result video fails; yields (run, expected reason)."""
    if request.param == "tmpfs":
        with mounted_tmpfs(isolated_env / "media", "size=16k,mode=0700"):
            yield (lambda *args: cli(*args)), "no space left on the device"
    else:
        # 64 KiB: the journal database stays below it, the 161-frame result video (about 230 KB) does not.
        limit = child("resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))")
        yield (
            (
                lambda *args: subprocess.run(
                    [*limit, *map(str, args)], capture_output=True, text=True, timeout=120
                )
            ),
            "the file is larger than this process may write (file size limit)",
        )


def test_full_disk_keeps_the_paid_job_and_a_rerun_downloads_it_for_free(
    fal_env, tmp_path, full_disk, isolated_env
):
    run, reason = full_disk
    proc = run(*generate_args(tmp_path / "talk.mp4", "--num-frames", "161"))
    assert_clean(proc, 3)
    (entry,) = Journal().entries()
    assert entry.state == "completed" and entry.request_id  # paid, result known: not "failed"
    message = proc.stderr
    assert f"Saving the result video failed: {reason} ({isolated_env / 'media'})" in message
    assert re.search(r"The file needs \d+ KB", message)
    assert f"the fal job {entry.request_id} is finished and paid for" in message
    assert f"fal-avatar fetch {entry.request_id} --endpoint" in message
    assert not [
        p for p in (isolated_env / "media").iterdir() if p.name.startswith(".")
    ]  # no partial file left
    assert fal_env.count("submit") == 1


def test_rerun_after_freeing_space_makes_no_new_submit(fal_env, tmp_path, isolated_env):
    args = generate_args(tmp_path / "talk.mp4")
    with mounted_tmpfs(isolated_env / "media", "size=16k,mode=0700"):
        assert_clean(cli(*args), 3)
    proc = cli(*args)  # the tmpfs is gone: the media folder has room again
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["reused"] is True and (tmp_path / "talk.mp4").stat().st_size > 10_000
    assert fal_env.count("submit") == 1 and fal_env.count("file_get") == 2  # one failed, one good download
    (entry,) = Journal().entries()
    assert entry.state == "downloaded"


# --- the output file ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "fragment"),
    [("missing-folder/talk.mp4", "missing-folder does not exist"), (".", "is a folder")],
)
def test_unwritable_out_is_refused_before_anything_is_sent(fal_env, tmp_path, out, fragment):
    proc = cli(*generate_args(tmp_path / out))
    assert_clean(proc, 2)
    assert "--out: " in proc.stderr and fragment in proc.stderr
    assert fal_env.requests == []


def test_read_only_out_folder_is_refused_before_anything_is_sent(fal_env, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "ro,size=16k"):
        proc = cli(*generate_args(tmp_path / "ro" / "talk.mp4"))
    assert_clean(proc, 2)
    assert "cannot write into" in proc.stderr and "read-only" in proc.stderr
    assert fal_env.requests == []


def test_out_on_a_full_disk_keeps_the_stored_video_and_says_where(fal_env, tmp_path):
    with mounted_tmpfs(tmp_path / "small", "size=16k"):
        proc = cli(*generate_args(tmp_path / "small" / "talk.mp4"))
        assert not (tmp_path / "small" / "talk.mp4").exists()  # no half-written file
    assert_clean(proc, 3)
    (entry,) = Journal().entries()
    assert entry.state == "downloaded" and Path(entry.local_path).is_file()
    assert f"Writing {tmp_path / 'small' / 'talk.mp4'} failed: no space left on the device" in proc.stderr
    assert f"copy the video of request {entry.request_id} from {entry.local_path}." in proc.stderr
    again = cli(*generate_args(tmp_path / "talk.mp4"))
    assert again.returncode == 0 and fal_env.count("submit") == 1


def test_fetch_refuses_a_missing_out_folder(fal_env, tmp_path):
    proc = cli(
        "fetch", "some-request-id", "--endpoint", "fal-ai/infinitalk", "--out", tmp_path / "no" / "x.mp4"
    )
    assert_clean(proc, 2)
    assert fal_env.requests == []


def test_demo_refuses_an_unwritable_sheet_before_running(tmp_path):
    proc = cli("demo", "--out", tmp_path / "demo.mp4", "--sheet", tmp_path / "no" / "sheet.png")
    assert_clean(proc, 2)
    assert "--sheet: " in proc.stderr and not (tmp_path / "demo.mp4").exists()


# --- other local failures -----------------------------------------------------------------------------------


def test_missing_input_files_exit_2(fal_env, tmp_path):
    proc = cli(
        "generate",
        "fal-ai/infinitalk",
        "--image",
        tmp_path / "nope.png",
        "--audio",
        SPEECH,
        "--out",
        tmp_path / "x.mp4",
    )
    assert_clean(proc, 2)
    assert "image: cannot read" in proc.stderr and "no such file" in proc.stderr
    proc = cli(
        "generate", "fal-ai/infinitalk", "--image", PORTRAIT, "--audio", tmp_path, "--out", tmp_path / "x.mp4"
    )
    assert_clean(proc, 2)
    assert "audio: cannot read audio" in proc.stderr
    assert fal_env.requests == []


def test_a_data_directory_that_cannot_be_created_exits_2(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    proc = cli("jobs", env_extra={"FAL_AVATAR_HOME": str(tmp_path / "a-file" / "home")})
    assert_clean(proc, 2)
    assert "data directory" in proc.stderr and "FAL_AVATAR_HOME" in proc.stderr


def test_emulator_on_a_busy_port_exits_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = cli_process("emulator", "--port", port)  # a real server: in this process it could stay up
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in proc.stderr


def test_clean_run_has_no_leftover_files(fal_env, tmp_path, isolated_env):
    assert cli(*generate_args(tmp_path / "talk.mp4")).returncode == 0
    assert sorted(os.listdir(isolated_env / "media")) == [f"{Journal().entries()[0].request_id}.mp4"]


def test_fetch_out_onto_its_stored_copy_is_refused_and_keeps_the_copy(fal_env, tmp_path):
    """`fetch <id> --out <its stored copy>` used to delete the paid stored copy (with a traceback)."""
    first = json.loads(generate(out=tmp_path / "a.mp4").stdout.strip().splitlines()[-1])
    stored = Journal().get(first["request_id"]).local_path
    kept = stored.read_bytes()
    proc = cli("fetch", first["request_id"], "--endpoint", "fal-ai/infinitalk", "--out", stored)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "result store" in proc.stderr
    assert stored.read_bytes() == kept
    again = generate(out=stored)  # generate --out into the store: the same refusal, nothing sent
    assert again.returncode == 2 and "result store" in again.stderr
    assert stored.read_bytes() == kept and fal_env.count("submit") == 1


def test_save_copy_onto_the_stored_file_itself_is_a_no_op(tmp_path):
    stored = tmp_path / "stored.mp4"
    stored.write_bytes(b"paid video")
    link = tmp_path / "link.mp4"
    os.link(stored, link)
    save_copy(stored, stored, request_id="r")
    save_copy(stored, link, request_id="r")
    assert stored.read_bytes() == b"paid video" == link.read_bytes()


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "http://127.0.0.1:abc"])
def test_a_malformed_fal_url_setting_exits_2_naming_the_variable(fal_env, tmp_path, url):
    proc = cli(*generate_args(tmp_path / "talk.mp4"), env_extra={"FAL_REST_URL": url})
    assert_clean(proc, 2)
    assert "FAL_REST_URL is not a valid URL" in proc.stderr and fal_env.requests == []


def test_non_finite_numbers_in_a_manifest_or_a_param_exit_2_with_the_line(fal_env, tmp_path):
    row = {"endpoint": "fal-ai/infinitalk", "image": str(PORTRAIT), "audio": str(SPEECH)}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps(row)[:-1] + ', "seed": NaN}\n' + json.dumps(row)[:-1] + ', "seed": Infinity}\n'
    )
    proc = cli("batch", manifest)
    assert_clean(proc, 2)
    assert "line 1: seed: nan is not a finite number" in proc.stderr and "line 2: seed: inf" in proc.stderr
    proc = cli(
        "generate",
        "fal-ai/stable-avatar",
        "--image",
        PORTRAIT,
        "--audio",
        SPEECH,
        "--param",
        "guidance_scale=nan",
        "--out",
        tmp_path / "x.mp4",
    )
    assert_clean(proc, 2)
    assert "guidance_scale: 'nan' is not a finite number" in proc.stderr and fal_env.requests == []


@pytest.mark.parametrize(("limit", "code"), [("1e20", 0), ("100000000000000000000", 0), ("0", 2), ("1.5", 2)])
def test_jobs_limit_takes_any_whole_number(isolated_env, limit, code):
    proc = cli("jobs", "--limit", limit)
    assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr
