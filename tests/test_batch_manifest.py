"""Reading a batch manifest: columns, values, line numbers, paths and outputs, shared decoded inputs."""

from __future__ import annotations

import gc
import json

import pytest
from test_batch import folder  # noqa: F401 - a fixture

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
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "num_frames": "auto"},
        {"endpoint": "fal-ai/stable-avatar", "image": "portrait.png", "audio": "short.wav", "seed": 3.0,
         "param.guidance_scale": 4, "out": "sub/../x.mp4"},
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "seed": 3.5},
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "prompt": "a",
         "param.prompt": "b", "resolution": True},
        {"endpoint": "fal-ai/infinitalk", "image": "portrait.png", "audio": "speech.wav", "out": "nowhere/x.mp4"},
    ]
    (folder / "m.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    rows, problems = read_manifest(folder / "m.jsonl", out_dir=tmp_path / "renders")
    first, second = rows
    assert first.values == {"num_frames": 0} and first.image == folder / "portrait.png"
    assert first.out == tmp_path / "renders" / "m-1.mp4"
    assert second.values == {"seed": 3, "guidance_scale": 4.0} and second.out == tmp_path / "renders" / "x.mp4"
    found = {(p.line, p.message.split(":")[0]) for p in problems}
    assert found == {(3, "seed"), (4, "param.prompt"), (4, "resolution"), (5, "out")}
    with pytest.raises(InputError, match="--out-dir"):
        read_manifest(folder / "m.jsonl", out_dir=tmp_path / "missing")
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
