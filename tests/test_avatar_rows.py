"""The row model: what every row must say, and how plans and estimates read it (no network, no media)."""

from __future__ import annotations

import dataclasses

import pytest

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar.plan import check_params, make_plan
from comfyui_fal_avatar.nodes.avatar.pricing import PriceRule, per_minute
from comfyui_fal_avatar.nodes.avatar.row import (
    ANY_RESOLUTION,
    CHOOSE,
    FAMILIES,
    LENGTH_RULES,
    OUTPUT_EXTRAS,
    PARAM_KINDS,
    SLOT_KINDS,
    STATUSES,
    Param,
    SegmentRule,
)
from comfyui_fal_avatar.nodes.avatar.rows.common import AUDIO, IMAGE, resolution
from comfyui_fal_avatar.nodes.errors import InputError

ROWS = ep.GENERATION_ENDPOINTS


@pytest.mark.parametrize("spec", ROWS, ids=lambda s: s.endpoint_id)
def test_every_row_says_what_differs(spec):
    assert spec.family in FAMILIES and spec.length_rule in LENGTH_RULES and spec.status in STATUSES
    assert spec.length_from in ("audio", "text", "video")
    assert all(p.kind in PARAM_KINDS for p in spec.params)
    assert all(s.kind in SLOT_KINDS for s in spec.media)
    assert set(spec.output_extras) <= set(OUTPUT_EXTRAS), f"{spec.endpoint_id}: an output field nobody reads"
    fields = [p.field for p in spec.params if p.fal] + [s.fal_field for s in spec.media if s.kind != "frames"]
    assert len(fields) == len(set(fields)), f"{spec.endpoint_id}: a fal field twice"
    assert set(spec.max_seconds) <= {ANY_RESOLUTION, *spec.resolutions}
    assert (spec.length_rule == "num_frames") == (spec.frames is not None)
    assert (spec.length_rule == "num_segments") == (spec.segments is not None)
    assert spec.length_rule != "text" or spec.role_param("text") is not None
    assert (spec.status == "delisted") == bool(spec.status_note) == (spec.family == "compatibility")
    assert spec.source, f"{spec.endpoint_id}: say where the row's facts come from"
    assert spec.price.source and spec.price.label == "estimated"
    if spec.max_seconds_at(spec.default_resolution) is None:
        assert spec.planning_max_s, f"{spec.endpoint_id}: an unknown limit needs a stated planning limit"
    seed = spec.seed_param
    assert seed is None or seed.kind == "int"
    assert spec.output_has_seed <= (seed is not None)


def test_lookup_by_family_and_id():
    assert ep.endpoint(" fal-ai/infinitalk/ ") is ep.INFINITALK_IMAGE
    assert ep.STABLE_AVATAR in ep.by_family("compatibility")
    with pytest.raises(KeyError, match="expected one of"):
        ep.endpoint("fal-ai/nope")


def _row(**changes):
    """A made-up row built from InfiniTalk's, changed where a test needs it."""
    base = dataclasses.replace(
        ep.STABLE_AVATAR,
        endpoint_id="test/row",
        family="portrait_audio",
        status="live",
        status_note="",
        media=(IMAGE, AUDIO),
        params=(),
        price=PriceRule({"*": 0.1}, "test"),
        length_rule="audio",
        max_seconds={ANY_RESOLUTION: 60.0},
    )
    return dataclasses.replace(base, **changes)


def test_a_required_choice_without_default_is_refused_until_chosen():
    spec = _row(params=(resolution(("720p", "480p"), None, "Output resolution."),), strict=True)
    p = spec.param("resolution")
    assert p.choice_required and p.required and p.default is None
    for missing in ({}, {"resolution": CHOOSE}, {"resolution": None}):
        with pytest.raises(InputError, match=r"resolution: choose one of 720p, 480p: fal has no default"):
            check_params(spec, missing)
    assert make_plan(spec, {"resolution": "480p"}, audio_s=5.0).arguments == {"resolution": "480p"}


def test_a_strict_row_refuses_fields_it_does_not_have_and_sends_only_its_own():
    spec = _row(params=(resolution(("720p", "480p"), None, "r"),), strict=True)
    with pytest.raises(
        InputError, match=r"seed: .*has no field seed \(fal refuses unknown fields\); its fields: resolution"
    ):
        check_params(spec, {"resolution": "720p", "seed": 3})
    lenient = dataclasses.replace(spec, strict=False)
    assert make_plan(lenient, {"resolution": "720p", "seed": 3}, audio_s=5.0).arguments == {
        "resolution": "720p"
    }


def test_a_row_without_seed_sends_none_and_plans_no_seed():
    plan = make_plan(_row(), {}, audio_s=5.0)
    assert plan.seed is None and "seed" not in plan.arguments


def test_fal_names_differ_from_widget_names():
    spec = _row(params=(Param("voice", "enum", "Roger", "v", options=ep.VOICES, fal_name="voice1"),))
    assert make_plan(spec, {"voice": "Aria"}, audio_s=5.0).arguments == {"voice1": "Aria"}


def test_bool_fields_are_checked_and_sent():
    spec = _row(params=(Param("turbo_mode", "bool", False, "t"),))
    assert make_plan(spec, {"turbo_mode": True}, audio_s=5.0).arguments == {"turbo_mode": True}
    with pytest.raises(InputError, match="turbo_mode: expected true or false"):
        check_params(spec, {"turbo_mode": "yes"})


def test_limits_per_resolution_and_the_planning_limit_for_an_unknown_one():
    spec = _row(
        params=(resolution(("720p", "1080p"), "1080p", "r"),), max_seconds={"720p": 60.0, "1080p": 30.0}
    )
    assert spec.max_seconds_at("720p") == 60.0 and spec.max_seconds_at("1080p") == 30.0
    assert spec.max_seconds_at(None) == 30.0  # the strictest when the resolution is not known
    assert spec.max_audio_s == 30.0  # at fal's default resolution
    plan = make_plan(spec, {"resolution": "1080p"}, audio_s=40.0)
    assert plan.seconds == 30.0 and "at most 30 s at 1080p: the last 10.00 s will be cut" in plan.warnings[0]
    unknown = _row(max_seconds={ANY_RESOLUTION: None}, planning_max_s=60.0)
    assert unknown.max_seconds_at("720p") is None and unknown.job_seconds("720p") == 60.0
    assert make_plan(unknown, {}, audio_s=130.0).seconds == 130.0  # fal's own refusal names its limit


def test_text_roles_and_limits_per_job():
    text = Param("text", "text", "Hi.", "t", required=True, role="text", fal_name="first_text_input")
    text2 = Param("text2", "text", "Hello.", "t", required=True, role="text2", fal_name="second_text_input")
    spec = _row(
        media=(IMAGE,), params=(text, text2), length_rule="text", length_from="text", max_text_chars=30
    )
    plan = make_plan(spec, {"text": "a" * 14, "text2": "b" * 14})
    assert plan.arguments == {"first_text_input": "a" * 14, "second_text_input": "b" * 14}
    assert plan.seconds == pytest.approx(2.0)  # both speakers' speech at 14 characters a second
    with pytest.raises(
        InputError, match=r"text2: the two texts are 10 \+ 21 characters; one test/row job speaks at most 30"
    ):
        make_plan(spec, {"text": "a" * 10, "text2": "b" * 21})
    single = _row(media=(IMAGE,), params=(text,), length_rule="text", length_from="text", max_text_chars=30)
    with pytest.raises(
        InputError, match=r"text: is 31 characters long; one fal job speaks at most 30\. Shorten it"
    ):
        make_plan(single, {"text": "a" * 31})


def test_audio_too_short_for_the_row_and_a_second_speaker():
    spec = _row(
        min_audio_s=2.0,
        media=(IMAGE, AUDIO, dataclasses.replace(AUDIO, name="audio2", fal_field="second_audio_url")),
    )
    with pytest.raises(InputError, match=r"audio: is 1.50 s long; .* needs at least 2 s"):
        make_plan(spec, {}, audio_s=1.5)
    with pytest.raises(InputError, match=r"audio2: is 1.00 s long"):
        make_plan(spec, {}, audio_s=3.0, audio2_s=1.0)
    assert make_plan(spec, {}, audio_s=3.0, audio2_s=9.0).seconds == 9.0  # the tracks play together


def test_num_segments_follow_the_audio():
    rule = SegmentRule(first_s=5.8, step_s=5.0, max_segments=10)
    assert [rule.segments_for(s) for s in (1.0, 5.8, 5.9, 20.0, 50.8, 80.0)] == [1, 1, 2, 4, 10, 10]
    assert rule.seconds(4) == pytest.approx(20.8) and rule.max_s == pytest.approx(50.8)
    spec = _row(length_rule="num_segments", segments=rule, max_seconds={ANY_RESOLUTION: rule.max_s})
    plan = make_plan(spec, {}, audio_s=20.0)
    assert plan.arguments == {"num_segments": 4} and plan.seconds == pytest.approx(
        20.0
    )  # stops with the audio


def test_price_formulas():
    assert PriceRule({"*": 0.10}, "s", min_seconds=4.0).estimate(2.5) == pytest.approx(0.40)
    aurora = PriceRule({"480p": 0.07, "720p": 0.14}, "s", round_up_s=1.0)
    assert aurora.estimate(9.4, "720p") == pytest.approx(1.40)  # 9.4 s billed as 10 s
    assert aurora.estimate(9.4, "1080p") == pytest.approx(1.40)  # unknown resolution: the dearest rate
    sync = per_minute({"*": 8.0}, "s")
    assert sync.estimate(30.0) == pytest.approx(4.0) and sync.describe() == "$8/min"
    units = PriceRule({"*": 0.16}, "s", unit_frames=16, unit_fps=16.0)
    assert units.billed_seconds(2.1) == pytest.approx(3.0)
    above = PriceRule({"480p": 0.2}, "s", multiplier_above_frames=(81, 1.25))
    assert above.estimate(3.24, "480p", frames=81) == pytest.approx(0.648)
    assert above.estimate(3.4, "480p", frames=85) == pytest.approx(0.85)
    assert aurora.describe() == "$0.07/s 480p, $0.14/s 720p; seconds rounded up to 1 s"


def test_readme_table_is_the_rows():
    """The README's model table is made from the rows (regenerate: nodes/avatar/listing.markdown_table)."""
    from pathlib import Path

    from comfyui_fal_avatar.nodes.avatar.listing import markdown_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- models:start -->\n", 1)[1].split("\n<!-- models:end -->", 1)[0]
    assert table == markdown_table()


def test_models_command_lists_every_row(capsys):
    import json

    from comfyui_fal_avatar.nodes.cli import main

    assert main(["models", "--json"]) == 0
    rows = {r["endpoint_id"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert set(rows) == {spec.endpoint_id for spec in ROWS}
    omni = rows["fal-ai/bytedance/omnihuman/v1.5"]
    assert omni["max_seconds_per_job"] == {"720p": 60.0, "1080p": 30.0} and omni["seed"] is False
    assert omni["inputs"] == "image, audio, mask?" and omni["usd_per_second"] == {"*": 0.16}
    assert omni["short_name"] == "omnihuman" and rows["veed/fabric-1.0/text"]["short_name"] is None
    assert rows["fal-ai/stable-avatar"]["status"] == "delisted"
    assert rows["veed/fabric-1.0"]["required_choices"] == ["resolution"] and rows["veed/fabric-1.0"]["strict"]
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "delisted: fal removed it from its catalogue in 2026-08" in table
    assert "unknown (plans 60 s)" in table and "60 s @720p, 30 s @1080p" in table
    assert (
        "  fal-ai/kling-video/ai-avatar/v2/standard  (kling-std)\n" in table
    )  # the short name compare takes


@pytest.mark.parametrize(
    ("endpoint_id", "values", "audio_s", "usd"),
    [
        ("fal-ai/creatify/aurora", {"resolution": "720p"}, 9.4, 1.40),  # 9.4 s billed as 10 s
        ("fal-ai/creatify/aurora", {"resolution": "480p"}, 9.4, 0.70),
        ("fal-ai/sync-lipsync/v2", {}, 30.0, 1.50),  # $3 per minute
        ("fal-ai/sync-lipsync/v2", {"model": "lipsync-2-pro"}, 30.0, 2.50),  # about 1.67x
        ("fal-ai/sync-lipsync/v3", {}, 15.0, 2.00),  # $8 per minute
        ("fal-ai/bytedance/omnihuman/v1.5", {"resolution": "720p"}, 12.0, 1.92),
        ("veed/fabric-1.0", {"resolution": "720p"}, 10.0, 1.50),
        ("veed/fabric-1.0/fast", {"resolution": "480p"}, 10.0, 1.00),
        ("fal-ai/longcat-single-avatar/image-audio-to-video", {"resolution": "720p"}, 5.0, 1.50),  # 5 s
        ("fal-ai/longcat-single-avatar/image-audio-to-video", {}, 5.3, 0.90),  # 6 whole 16-frame seconds
        (
            "fal-ai/longcat-single-avatar/image-audio-to-video",
            {},
            12.0,
            1.80,
        ),  # not 3 whole segments (15.8 s)
        ("fal-ai/stable-avatar", {}, 2.0, 0.40),  # the 4-second minimum
        ("fal-ai/kling-video/ai-avatar/v2/pro", {}, 10.0, 1.15),
    ],
)
def test_estimates_follow_each_rows_formula(endpoint_id, values, audio_s, usd):
    spec = ep.endpoint(endpoint_id)
    assert make_plan(spec, values, audio_s=audio_s).cost_usd == pytest.approx(usd, abs=1e-3)


def test_the_way_to_a_new_generation_depends_on_the_seed():
    assert ep.INFINITALK_IMAGE.new_generation_hint == "change the seed"
    assert "no seed" in ep.endpoint("veed/fabric-1.0").new_generation_hint
