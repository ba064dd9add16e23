"""The output fields a row declares beside the video, read once from fal's result JSON as typed values."""

from __future__ import annotations

import pytest

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar.row import OUTPUT_EXTRAS
from comfyui_fal_avatar.nodes.emulator.models import BY_ID
from comfyui_fal_avatar.nodes.pipeline.result_extras import (
    OutputExtras,
    describe_jobs,
    read_extras,
)

AURORA = {
    "video": {"url": "https://x/v.mp4", "fps": 23.976, "width": 848, "height": 480, "num_frames": 24,
              "duration": 1.001},
}  # fmt: skip


def test_every_name_a_row_may_declare_is_read():
    extras = read_extras({**AURORA, "duration": 6.04, "timings": {"inference": 3.2}}, OUTPUT_EXTRAS)
    assert extras == OutputExtras(
        duration=6.04,
        timings=(("inference", 3.2),),
        video_fps=23.976,
        video_width=848,
        video_height=480,
        video_num_frames=24,
        video_duration=1.001,
    )
    assert set(extras.to_json()) == set(OUTPUT_EXTRAS)
    assert extras.to_json()["timings"] == {"inference": 3.2}


def test_only_what_the_row_declares_is_read():
    extras = read_extras({**AURORA, "duration": 6.04}, ("duration",))
    assert extras.to_json() == {"duration": 6.04} and extras.video_fps is None


@pytest.mark.parametrize(
    "result",
    [{}, None, {"duration": "6 s", "video": "https://x"}, {"duration": -1.0, "video": {"fps": float("nan")}}],
)
def test_a_missing_or_malformed_field_is_unknown_not_an_error(result):
    extras = read_extras(result, OUTPUT_EXTRAS)
    assert extras == OutputExtras() and extras.to_json() == {} and extras.describe() == ""


def test_a_status_line_names_them_per_job():
    one = read_extras(
        {"duration": 6.04, "timings": {"inference": 3.25, "note": "x"}}, ("duration", "timings")
    )
    assert describe_jobs((one,)) == "duration 6.04 s · inference 3.25 s"
    assert describe_jobs((one, OutputExtras())) == "segment 1: duration 6.04 s · inference 3.25 s"
    assert describe_jobs(()) == ""
    video = read_extras(
        AURORA, ("video.fps", "video.width", "video.height", "video.num_frames", "video.duration")
    )
    assert video.describe() == "23.976 fps · 848×480 · 24 frames · video 1.001 s"


@pytest.mark.parametrize("spec", ep.GENERATION_ENDPOINTS, ids=lambda s: s.endpoint_id)
def test_the_emulator_returns_the_fields_each_row_declares(spec):
    """The emulator's outputs follow the row: top-level extras by name, ``video.*`` as a VideoFile."""
    outputs = set(BY_ID[spec.endpoint_id].outputs)
    top = {name for name in spec.output_extras if "." not in name}
    assert top == outputs - {"seed", "video_file"}
    assert any(name.startswith("video.") for name in spec.output_extras) == ("video_file" in outputs)
    assert spec.output_has_seed == ("seed" in outputs)
