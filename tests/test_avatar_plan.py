"""Endpoint rows, frame rules, validation and cost estimates (no network, no media)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar.catalog import catalog_json
from comfyui_fal_avatar.nodes.avatar.frames import (
    auto_frames,
    frames_for_seconds,
    round_down_4n1,
    round_up_4n1,
    speech_seconds,
)
from comfyui_fal_avatar.nodes.avatar.plan import check_params, make_plan
from comfyui_fal_avatar.nodes.errors import InputError


def test_4n1_rounding():
    assert [round_up_4n1(n) for n in (1, 2, 41, 42, 44, 45, 46)] == [1, 5, 41, 45, 45, 45, 49]
    assert [round_down_4n1(n) for n in (1, 4, 41, 44, 45)] == [1, 1, 41, 41, 45]
    assert frames_for_seconds(5.8) == 145  # 145 frames is exactly 5.8 s
    assert frames_for_seconds(5.81) == 149


def test_auto_frames_clamps_to_rule_and_source():
    rule = ep.INFINITALK_FRAMES
    assert auto_frames(0.5, rule) == 41
    assert auto_frames(10.0, rule) == 253  # 250 frames → next 4n+1
    assert auto_frames(60.0, rule) == 721
    assert auto_frames(10.0, rule, source_frames=100) == 97


def test_every_widget_has_tooltip_and_fal_defaults():
    for spec in ep.GENERATION_ENDPOINTS:
        for p in spec.params:
            assert p.tooltip, (spec.node_id, p.name)
    assert ep.INFINITALK_IMAGE.param("resolution").options == ("480p", "720p")
    assert ep.INFINITALK_IMAGE.param("acceleration").default == "regular"
    assert len(ep.INFINITALK_TEXT.param("voice").options) == 20
    assert ep.STABLE_AVATAR.param("aspect_ratio").options == ("16:9", "1:1", "9:16", "auto")
    assert ep.STABLE_AVATAR.param("num_inference_steps").default == 50


def test_rows_carry_fals_published_bounds():
    """As fal's OpenAPI documents state them (copies in TanStack/ai at ec0e5a493, see endpoints.py)."""
    assert (ep.INFINITALK_IMAGE.frames, ep.INFINITALK_TEXT.frames) == (ep.INFINITALK_FRAMES,) * 2
    assert ep.INFINITALK_VIDEO.frames == ep.INFINITALK_VIDEO_FRAMES
    assert (ep.INFINITALK_FRAMES.min_frames, ep.INFINITALK_FRAMES.max_frames) == (41, 721)
    v2v = ep.INFINITALK_VIDEO_FRAMES
    assert (v2v.min_frames, v2v.max_frames, v2v.default_frames) == (41, 241, 145)
    assert ep.INFINITALK_VIDEO.param("num_frames").maximum == 241 and ep.INFINITALK_VIDEO.max_audio_s == 9.64
    bounds = {
        p.name: (p.minimum, p.maximum, p.default)
        for p in ep.STABLE_AVATAR.params
        if p.kind in ("int", "float")
    }
    assert bounds == {
        "guidance_scale": (1.0, 10.0, 5.0),
        "audio_guidance_scale": (0.0, 10.0, 4.0),
        "num_inference_steps": (10, 50, 50),
        "perturbation": (0.0, 1.0, 0.1),
        "seed": (-1, ep.SEED_MAX, -1),  # fal: an integer with no default; -1 leaves it out
    }


def test_video_to_video_frames_stop_at_241():
    assert check_params(ep.INFINITALK_VIDEO, {"num_frames": 241})["num_frames"] == 241
    with pytest.raises(InputError, match="245 is outside 0..241"):  # the widget: 0 = auto, then 41..241
        check_params(ep.INFINITALK_VIDEO, {"num_frames": 245})
    assert check_params(ep.INFINITALK_IMAGE, {"num_frames": 721})["num_frames"] == 721
    plan = make_plan(ep.INFINITALK_VIDEO, {}, audio_s=20.0, source_frames=600)
    assert plan.frames == 241 and plan.arguments["num_frames"] == 241
    assert any("at most 9.64 s" in w for w in plan.warnings)
    with pytest.raises(InputError, match="num_inference_steps"):
        check_params(ep.STABLE_AVATAR, {"num_inference_steps": 9})


def test_image_audio_plan_auto_frames_and_cost():
    plan = make_plan(ep.INFINITALK_IMAGE, {"resolution": "720p"}, audio_s=4.0)
    assert plan.frames == 101
    assert plan.arguments["num_frames"] == 101
    assert plan.arguments["seed"] == 42 and plan.seed == 42
    assert "image_url" not in plan.arguments
    assert plan.cost_usd == pytest.approx(101 / 25 * 0.40)
    assert plan.warnings == ()


def test_long_audio_warns_how_much_is_cut():
    plan = make_plan(ep.INFINITALK_IMAGE, {}, audio_s=40.0)
    assert plan.frames == 721
    assert any("11.16 s will be cut" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({"num_frames": 150}, "num_frames", "use 149 or 153"),
        ({"num_frames": 37}, "num_frames", "outside 41..721"),
        ({"resolution": "1080p"}, "resolution", "not one of 480p, 720p"),
        ({"acceleration": "turbo"}, "acceleration", "not one of"),
        ({"prompt": "   "}, "prompt", "is empty"),
        ({"seed": -5}, "seed", "-5 is outside 0..4294967295"),  # integers, never 4.29497e+09
        ({"seed": 2**32}, "seed", "4294967296 is outside 0..4294967295"),
    ],
)
def test_bad_widget_values_name_the_widget(values, field, fragment):
    with pytest.raises(InputError) as info:
        check_params(ep.INFINITALK_IMAGE, values)
    assert info.value.field == field
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("value", "fragment"), [(10.5, "10.5 is outside 1..10"), (0.25, "0.25 is outside 1..10")]
)
def test_float_ranges_read_as_written(value, fragment):
    with pytest.raises(InputError, match=fragment):
        check_params(ep.STABLE_AVATAR, {"guidance_scale": value})


def test_audio_too_short_or_missing():
    with pytest.raises(InputError, match="audio: is 0.30 s long"):
        make_plan(ep.INFINITALK_IMAGE, {}, audio_s=0.3)
    with pytest.raises(InputError, match="no audio connected"):
        make_plan(ep.INFINITALK_IMAGE, {}, audio_s=None)


def test_text_endpoint_estimates_length_and_limits_text():
    text = "Hello there, this is a test of the built-in voice."
    plan = make_plan(ep.INFINITALK_TEXT, {"text_input": text})
    assert plan.frames == frames_for_seconds(speech_seconds(text)) == 93
    assert plan.arguments["voice"] == "Sarah" and plan.arguments["text_input"] == text
    with pytest.raises(InputError, match="text_input: is empty"):
        check_params(ep.INFINITALK_TEXT, {"text_input": ""})
    with pytest.raises(InputError, match="voice"):
        check_params(ep.INFINITALK_TEXT, {"voice": "Robot"})


def test_a_long_text_needs_auto_frames_one_job_speaks_at_most_1500_characters():
    long = "Word " * 400  # 2000 characters: a long run splits it
    assert (
        check_params(ep.INFINITALK_TEXT, {"text_input": long, "num_frames": 0})["text_input"] == long.strip()
    )
    # an explicit num_frames means one job: refused at validation (before the prompt starts)
    with pytest.raises(
        InputError,
        match=r"text_input: is 1999 characters long; one fal job speaks at most 1500\. "
        r"Set num_frames to 0 \(auto\)",
    ):
        check_params(ep.INFINITALK_TEXT, {"text_input": long, "num_frames": 721})
    assert check_params(ep.INFINITALK_TEXT, {"text_input": "a" * 1500, "num_frames": 721})
    # one job planned directly (whatever num_frames says) is refused too
    with pytest.raises(InputError, match="one fal job speaks at most 1500"):
        make_plan(ep.INFINITALK_TEXT, {"text_input": long, "num_frames": 0})
    # the widget takes a whole long run's text, and no more
    assert ep.INFINITALK_TEXT.param("text_input").max_length == ep.LONG_TEXT_CHARS == 20_000
    check_params(ep.INFINITALK_TEXT, {"text_input": "a" * 20_000})
    with pytest.raises(InputError, match="limit is 20000"):
        check_params(ep.INFINITALK_TEXT, {"text_input": "a" * 20_001})


def test_video_to_video_billing_multiplier_and_source_clamp():
    plan = make_plan(ep.INFINITALK_VIDEO, {"fps": 30.0}, audio_s=10.0, source_frames=120)
    assert plan.frames == 117
    assert "fps" not in plan.arguments  # local-only widget
    assert plan.cost_usd == pytest.approx(117 / 25 * 0.20 * 1.25)
    short = make_plan(ep.INFINITALK_VIDEO, {"num_frames": 81}, audio_s=3.0, source_frames=300)
    assert short.cost_usd == pytest.approx(81 / 25 * 0.20)


def test_a_dubbing_source_shorter_than_the_audio_is_named_as_the_cut():
    plan = make_plan(ep.INFINITALK_VIDEO, {}, audio_s=6.5, source_frames=75)
    (warning,) = plan.warnings
    assert warning.startswith("The source video is 3.00 s, shorter than the audio (6.50 s)")
    assert "(73 frames, 2.92 s), so the last 3.58 s of the audio will be cut" in warning
    chosen = make_plan(ep.INFINITALK_VIDEO, {"num_frames": 41}, audio_s=6.5, source_frames=300)
    assert chosen.warnings == ("num_frames 41 covers 1.64 s; the last 4.86 s of the audio will be cut.",)


@pytest.mark.parametrize("text", [".", "😀", "…!?", " 😀 🎉 "])
def test_a_text_with_nothing_to_say_is_refused(text):
    with pytest.raises(InputError, match="nothing to say"):
        check_params(ep.INFINITALK_TEXT, {"text_input": text, "voice": "Sarah"})


@pytest.mark.parametrize("text", ["Hi.", "你好", "٣", "नमस्ते", "42"])
def test_a_text_with_a_letter_or_digit_in_any_script_is_taken(text):
    assert check_params(ep.INFINITALK_TEXT, {"text_input": text, "voice": "Sarah"})["text_input"] == text


def test_stable_avatar_seed_omitted_by_default_and_minimum_price():
    plan = make_plan(ep.STABLE_AVATAR, {}, audio_s=2.0)
    assert "seed" not in plan.arguments and plan.seed == -1
    assert "num_frames" not in plan.arguments
    assert plan.cost_usd == pytest.approx(0.40)  # 4-second minimum
    seeded = make_plan(ep.STABLE_AVATAR, {"seed": 7}, audio_s=10.0)
    assert seeded.arguments["seed"] == 7
    assert seeded.cost_usd == pytest.approx(1.0)  # billed per generated second: the 10 s of audio


def test_catalog_json_is_complete():
    rows = catalog_json()["endpoints"]
    assert [r["node_id"] for r in rows] == [s.node_id for s in ep.GENERATION_ENDPOINTS]
    v2v = next(r for r in rows if r["endpoint_id"] == "fal-ai/infinitalk/video-to-video")
    assert v2v["price"]["multiplier_above_frames"] == {"frames": 81, "factor": 1.25}
    assert all(r["price_source"] for r in rows)
    # what the browser needs to estimate a long run as the planner cuts it
    long_run = {r["node_id"]: r["long_run"] for r in rows}
    assert long_run["FalInfiniTalkImageToVideo"] == {
        "min_frames": 41,
        "max_frames": 721,
        "max_frames_at": {},
        "overlap_frames": 8,
        "margin_frames": 24,
        "extra_segments": 2,
        "text_slack": 1.15,
        "text_tail_s": 0.6,
    }
    assert (long_run["FalStableAvatar"]["min_frames"], long_run["FalStableAvatar"]["max_frames"]) == (
        25,
        7500,
    )
    # a limit per job that depends on the resolution: OmniHuman 60 s at 720p, 30 s at 1080p (the strictest)
    assert long_run["FalOmniHuman15"]["max_frames_at"] == {"720p": 1500, "1080p": 750}
    assert long_run["FalOmniHuman15"]["max_frames"] == 750
    # the widgets whose text is spoken, for the browser's length estimate
    texts = {r["node_id"]: (r["text_param"], r["text2_param"]) for r in rows if r["length_from"] == "text"}
    assert texts["FalInfiniTalkTextToVideo"] == ("text_input", None) and texts["FalAiAvatarMultiText"] == (
        "text",
        "text2",
    )
    # dubbing's length is its video's
    assert {r["endpoint_id"] for r in rows if r["source_video"]} == {
        s.endpoint_id for s in ep.GENERATION_ENDPOINTS if s.family == "footage_lipsync"
    }
    text = next(r for r in rows if r["length_from"] == "text")
    assert (text["max_text_chars"], text["text_max_length"], text["chars_per_second"]) == (1500, 20_000, 14.0)


def test_web_fixture_is_the_current_catalog():
    """The web tests (tests/web) read the rows from a fixture: it must be what GET /fal_avatar/endpoints
    serves. Regenerate with: json.dumps(catalog_json(), indent=1) + newline (nodes/avatar/catalog.py)."""
    fixture = Path(__file__).parent / "web" / "fixtures" / "endpoints.json"
    assert json.loads(fixture.read_text(encoding="utf-8")) == catalog_json()


def test_unknown_endpoint_lists_known_ones():
    with pytest.raises(KeyError, match="fal-ai/stable-avatar"):
        ep.endpoint("fal-ai/nope")
