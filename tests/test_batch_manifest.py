"""Reading a batch manifest: columns, values, line numbers, paths and outputs, shared decoded inputs."""

from __future__ import annotations

import gc
import json

import pytest
from test_batch import folder  # noqa: F401 - a fixture

from comfyui_fal_avatar.nodes.cli.delivered import DeliveredOutputs
from comfyui_fal_avatar.nodes.cli.manifest import MediaLoader, read_manifest
from comfyui_fal_avatar.nodes.errors import InputError


def test_csv_line_numbers_follow_the_file_through_quoted_multi_line_cells_and_blank_lines(folder):  # noqa: F811
    (folder / "m.csv").write_text(
        "\ufeffendpoint;image;text;voice;num_frames;seed\n"  # a BOM and semicolons (a spreadsheet's export)
        'fal-ai/infinitalk/single-text;portrait.png;"Hello;\nthere";Sarah;41;1\n'
        "\n"
        "fal-ai/infinitalk/single-text;portrait.png;Hi;Nobody;41;x\n",
        encoding="utf-8",
    )
    rows, problems = read_manifest(folder / "m.csv")
    assert [r.line for r in rows] == [2]
    assert rows[0].values == {"text_input": "Hello;\nthere", "voice": "Sarah", "num_frames": 41, "seed": 1}
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(5, "seed")]  # voice is checked later


def test_paths_outputs_and_typed_jsonl_values(folder, tmp_path):  # noqa: F811
    (tmp_path / "renders").mkdir()
    lines = [
        {
            "endpoint": "fal-ai/infinitalk",
            "image": "portrait.png",
            "audio": "speech.wav",
            "num_frames": "auto",
        },
        {
            "endpoint": "fal-ai/stable-avatar",
            "image": "portrait.png",
            "audio": "short.wav",
            "seed": 3.0,
            "param.guidance_scale": 4,
            "out": "sub/../x.mp4",
        },
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "seed": 3.5},
        {
            "endpoint": "fal-ai/infinitalk",
            "image": "portrait.png",
            "audio": "speech.wav",
            "prompt": "a",
            "param.prompt": "b",
            "resolution": True,
        },
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "out": "../x.mp4"},
    ]
    (folder / "m.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    rows, problems = read_manifest(folder / "m.jsonl", out_dir=tmp_path / "renders")
    first, second = rows
    assert first.values == {"num_frames": 0} and first.image == folder / "portrait.png"
    assert first.out == tmp_path / "renders" / "m-1.mp4"
    assert (
        second.values == {"seed": 3, "guidance_scale": 4.0} and second.out == tmp_path / "renders" / "x.mp4"
    )
    found = {(p.line, p.message.split(":")[0]) for p in problems}
    assert found == {(3, "seed"), (4, "param.prompt"), (4, "resolution"), (5, "out")}
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InputError, match="--out-dir"):
        read_manifest(folder / "m.jsonl", out_dir=tmp_path / "a-file")
    (folder / "empty.csv").write_text("endpoint,image\n")
    assert [str(p) for p in read_manifest(folder / "empty.csv")[1]] == ["the manifest has no rows"]


def test_rows_sharing_a_file_share_its_decoded_pixels_while_any_row_holds_them(folder):  # noqa: F811
    (folder / "m.csv").write_text(
        "endpoint,image,audio\nfal-ai/infinitalk,portrait.png,speech.wav\nfal-ai/stable-avatar,portrait.png,speech.wav\n"
    )
    rows, problems = read_manifest(folder / "m.csv")
    assert not problems
    media = MediaLoader()
    one, two = (r.request(media) for r in rows)
    assert one.image is two.image and one.audio["waveform"] is two.audio["waveform"]
    del one, two
    gc.collect()
    assert not media._images  # nobody holds them: not kept in memory
    assert rows[0].request(media).image.shape[0] == 1  # read again when needed


def test_outputs_stay_in_the_output_folder_and_missing_folders_are_fine(folder, tmp_path):  # noqa: F811
    good = {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav"}
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    outs = [
        "new/deeper/a.mp4",
        "../escape.mp4",
        str(tmp_path / "abs.mp4"),
        str(folder / "renders" / "in.mp4"),
        "sub/../../escape2.mp4",
    ]
    (folder / "m.jsonl").write_text("".join(json.dumps({**good, "out": o}) + "\n" for o in outs))
    rows, problems = read_manifest(folder / "m.jsonl", out_dir=folder / "renders")  # does not exist yet
    assert [r.out for r in rows] == [folder / "renders" / "new/deeper/a.mp4", folder / "renders" / "in.mp4"]
    assert [(p.line, "outside the output folder" in p.message) for p in problems] == [
        (2, True),
        (3, True),
        (5, True),
    ]
    assert not (folder / "renders").exists()  # checking makes nothing
    (folder / "m2.jsonl").write_text(json.dumps({**good, "out": "x.mp4"}) + "\n")
    with pytest.raises(InputError, match="blocker is a file"):
        read_manifest(folder / "m2.jsonl", out_dir=tmp_path / "blocker" / "renders")


def test_an_output_never_replaces_an_input_of_any_row_nor_the_manifest(folder):  # noqa: F811
    (folder / "link.wav").symlink_to(folder / "speech.wav")
    (folder / "hard.png").hardlink_to(folder / "portrait.png")
    rows = [
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "short.wav", "out": "short.wav"},
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "out": "clip.mp4"},
        {
            "endpoint": "fal-ai/infinitalk/video-to-video",
            "video": "clip.mp4",
            "audio": "speech.wav",
            "num_frames": 41,
        },
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "out": "link.wav"},
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "out": "hard.png"},
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "out": "m.jsonl"},
    ]
    (folder / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept, problems = read_manifest(folder / "m.jsonl", overwrite=True)
    assert [r.line for r in kept] == [3]
    said = {p.line: p.message for p in problems}
    assert "the audio of line 1" in said[1] and "the video of line 3" in said[2]
    assert "the audio of line 2" in said[4] and "the image of line 1" in said[5] and "the manifest" in said[6]


def test_an_existing_file_is_replaced_only_if_the_batch_wrote_it_or_with_overwrite(folder):  # noqa: F811
    row = {
        "endpoint": "fal-ai/infinitalk",
        "image": "portrait.png",
        "audio": "speech.wav",
        "out": "notes.txt",
    }
    (folder / "notes.txt").write_text("my notes")
    (folder / "m.jsonl").write_text(json.dumps(row) + "\n")
    rows, problems = read_manifest(folder / "m.jsonl")
    assert not rows and "--overwrite" in problems[0].message and problems[0].line == 1
    assert read_manifest(folder / "m.jsonl", overwrite=True)[0]
    assert read_manifest(folder / "m.jsonl", is_ours=lambda out: out == folder / "notes.txt")[0]


def test_the_record_of_delivered_outputs_knows_a_file_as_written_and_not_once_changed(tmp_path):
    out, manifest = tmp_path / "a.mp4", tmp_path / "m.csv"
    record = DeliveredOutputs(tmp_path / "record.json")
    out.write_bytes(b"video")
    assert not record.is_ours(out, manifest)
    record.record(out, manifest)
    assert record.is_ours(out, manifest) and not record.is_ours(out, tmp_path / "other.csv")
    out.write_bytes(b"the user's own file")
    assert not record.is_ours(out, manifest)
