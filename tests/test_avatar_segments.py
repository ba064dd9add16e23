"""Segment plans for long talking videos: the geometry, the cuts in pauses, balance and the limits."""

from __future__ import annotations

import ast
import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from _speech import speech, talk

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar.frames import FrameRule, frames_covering, round_down_4n1, round_up_4n1
from comfyui_fal_avatar.nodes.avatar.partition import Line, best_joins
from comfyui_fal_avatar.nodes.avatar.segments import frame_rule, plan_segments
from comfyui_fal_avatar.nodes.media.pauses import Pause, speech_profile

INFINITALK = ep.INFINITALK_FRAMES


@dataclass(frozen=True)
class FakeProfile:
    """A profile without audio: given pauses, and levels/quietest points from a fixed hash of the time."""

    duration_s: float
    speech_db: float
    pauses: tuple[Pause, ...]

    def level(self, start_s: float, end_s: float) -> float:
        if start_s >= self.duration_s:
            return -120.0
        return self.speech_db - 35 * (math.sin(round(start_s * 100) * 12.9898) * 43758.5453 % 1.0)

    def quietest(self, start_s: float, end_s: float, window_s: float = 0.1) -> float:
        return start_s + (end_s - start_s) * (math.sin(round(start_s * 100) * 78.233) * 43758.5453 % 1.0)


def _random_profile(rng: random.Random, duration_s: float) -> FakeProfile:
    pauses, at = [], rng.uniform(0.0, 3.0)
    while at < duration_s:
        length = rng.choice([0.05, 0.2, 0.3, 0.5, 1.0, 2.5])
        end = min(at + length, duration_s)
        pauses.append(Pause(at, end, rng.uniform(at, end), rng.uniform(-80, -25)))
        at = end + rng.expovariate(1 / rng.choice([1.0, 4.0, 15.0, 40.0])) + 0.05
    return FakeProfile(duration_s, -20.0, tuple(pauses))


def _check_geometry(plan, total: int, rule: FrameRule, overlap: int, margin: int) -> None:
    """Every invariant of the shared geometry (see nodes/avatar/segments.py)."""
    usable = round_down_4n1(rule.max_frames - margin)
    segs = plan.segments
    assert plan.total_frames == total and plan.overlap == overlap
    assert [s.index for s in segs] == list(range(len(segs)))
    assert segs[0].start_frame == 0
    for s in segs:
        assert s.frames % 4 == 1 and rule.min_frames <= s.frames <= usable, s
    for here, after in itertools.pairwise(segs):
        cut = round(here.cut_s * 25)
        assert cut == here.cut_s * 25 or abs(cut - here.cut_s * 25) < 1e-9
        assert after.start_frame == cut - overlap // 2
        assert here.frames == round_up_4n1(cut + overlap - overlap // 2 - here.start_frame)
        assert here.start_frame < after.start_frame < here.end_frame
        assert overlap <= here.end_frame - after.start_frame <= overlap + 3
    last = segs[-1]
    assert last.cut_s is None and last.end_frame >= total
    assert last.frames == round_up_4n1(max(total - last.start_frame, rule.min_frames))
    # past N: at most the 4n+1 rounding, or padding up to the minimum when the limits leave no choice
    assert last.end_frame - total <= 3 or last.frames == rule.min_frames
    fits_one = round_up_4n1(total) <= usable
    assert (len(segs) == 1) == fits_one
    if not fits_one:
        least = math.ceil((total - overlap) / (usable - overlap))
        assert least <= len(segs) <= least + 2


def test_frames_covering_is_not_rounded_to_4n1():
    assert [frames_covering(s) for s in (0.001, 0.04, 0.041, 28.84, 74.999, 75.0, 600.0)] == [
        1,
        1,
        2,
        721,
        1875,
        1875,
        15000,
    ]


def test_one_segment_when_it_fits():
    for total, frames in ((1, 41), (40, 41), (100, 101), (250, 253), (697, 697)):
        plan = plan_segments(total, INFINITALK)
        assert [(s.start_frame, s.frames, s.cut_s) for s in plan.segments] == [(0, frames, None)]
        assert plan.notes == () and sum(s.frames for s in plan.segments) == frames
    assert len(plan_segments(698, INFINITALK).segments) == 2  # 701 > 721 - 24
    assert plan_segments(721, INFINITALK, margin=0).segments[0].frames == 721


def test_equal_lengths_without_a_profile():
    # 75 s, 90 s, 10 min: the fewest segments, equal to a frame (before the 4n+1 rounding)
    for seconds, count in ((75, 3), (90, 4), (600, 22)):
        plan = plan_segments(frames_covering(seconds), INFINITALK)
        frames = [s.frames for s in plan.segments]
        assert len(frames) == count and max(frames) - min(frames) <= 4, frames
        assert plan.notes[0].startswith(f"{count} segments of ")
    # just over three full segments: four of about 21 s, not three of 27.9 s and a 2 s tail
    plan = plan_segments(3 * 697 - 2 * 8 + 50, INFINITALK)  # 2125 frames: cuts at 4 + 529.25 × i
    assert [s.frames for s in plan.segments] == [537, 537, 541, 537]
    assert [s.start_frame for s in plan.segments] == [0, 529, 1058, 1588]
    assert [s.cut_s for s in plan.segments] == [21.32, 42.48, 63.68, None]


@pytest.mark.parametrize("seed", range(6))
def test_geometry_holds_for_random_inputs(seed):
    rng = random.Random(seed)
    rules = [frame_rule(spec) for spec in ep.GENERATION_ENDPOINTS] + [FrameRule(81, 129, 81)]
    for _ in range(60):
        rule = rng.choice(rules)
        overlap, margin = rng.choice([2, 4, 7, 8, 9, 12, 16]), rng.choice([0, 3, 24])
        usable = round_down_4n1(rule.max_frames - margin)
        total = rng.randint(1, usable * rng.choice([1, 2, 5, 12]))
        profile = None if rng.random() < 0.25 else _random_profile(rng, total / 25 * rng.uniform(0.8, 1.1))
        plan = plan_segments(total, rule, profile, overlap=overlap, margin=margin)
        _check_geometry(plan, total, rule, overlap, margin)
        if len(plan.segments) > 1 and rule.max_frames > 4 * rule.min_frames:  # no padding when balanced
            assert plan.segments[-1].end_frame - total <= 3


def test_limits_from_every_endpoint_row():
    rules = {spec.endpoint_id: frame_rule(spec) for spec in ep.GENERATION_ENDPOINTS}
    assert rules["fal-ai/infinitalk"] is INFINITALK
    assert rules["fal-ai/infinitalk/single-text"] is INFINITALK
    assert rules["fal-ai/infinitalk/video-to-video"] is ep.INFINITALK_VIDEO_FRAMES
    assert rules["fal-ai/stable-avatar"] == FrameRule(min_frames=25, max_frames=7500, default_frames=25)
    for endpoint_id, rule in rules.items():
        plan = plan_segments(frames_covering(600), rule)
        usable = round_down_4n1(rule.max_frames - 24)
        _check_geometry(plan, 15000, rule, 8, 24)
        assert max(s.frames for s in plan.segments) <= usable, endpoint_id
    stable = plan_segments(frames_covering(600), rules["fal-ai/stable-avatar"])
    assert len(stable.segments) == 3  # 2 × 298.92 s do not cover 600 s
    assert all(s.frames / 25 <= 300 for s in stable.segments)
    assert len(plan_segments(frames_covering(290), rules["fal-ai/stable-avatar"]).segments) == 1


def test_bad_requests():
    with pytest.raises(ValueError):
        plan_segments(0, INFINITALK)
    with pytest.raises(ValueError):
        plan_segments(1000, INFINITALK, overlap=0)
    with pytest.raises(ValueError):
        plan_segments(1000, FrameRule(41, 61, 41), margin=24)


def _true_pause(sp, time_s):
    return next(((a, b) for a, b in sp.pauses if a <= time_s <= b), None)


@pytest.mark.parametrize(
    ("seconds", "seed", "count", "ratio"),
    [(75, 0, 3, 1.15), (90, 2, 4, 1.2), (180, 3, 7, 1.25), (600, 0, 24, 1.35)],
)
def test_joins_fall_in_the_true_pauses(seconds, seed, count, ratio):
    sp = talk(seconds, seed=seed, noise_db=-35.0, breaths=True)
    profile = speech_profile(sp.samples, sp.rate)
    total = frames_covering(sp.duration_s)
    plan = plan_segments(total, INFINITALK, profile)
    _check_geometry(plan, total, INFINITALK, 8, 24)
    frames = [s.frames for s in plan.segments]
    assert len(frames) == count and max(frames) / min(frames) <= ratio, frames
    for i, seg in enumerate(plan.segments[:-1]):
        pause = _true_pause(sp, seg.cut_s)
        assert pause is not None, seg
        first = plan.segments[i + 1].start_frame
        fade = seg.end_frame - first
        if pause[1] - pause[0] >= (fade + 1) / 25 + 2 * 0.05:  # room for the overlap and the tolerance
            assert pause[0] - 0.05 <= first / 25 and (first + fade) / 25 <= pause[1] + 0.05
    assert len(plan.notes) == 1 + (count > math.ceil((total - 8) / (697 - 8)))


def test_a_stretch_without_pauses_is_cut_at_its_quietest_100_ms():
    # 10 s, a pause, 31 s without any pause (a 100 ms dip at 26.0 s), a pause, 10 s
    sp = speech([10.0, 0.6, 31.0, 0.6, 10.0], noise_db=-40.0, max_gap_s=0.07, dips=(26.0,))
    profile = speech_profile(sp.samples, sp.rate)
    plan = plan_segments(frames_covering(sp.duration_s), INFINITALK, profile)
    assert [s.cut_s for s in plan.segments] == [26.0, None]
    before, after = profile.pauses[0].end_s, profile.pauses[1].start_s
    assert abs(before - sp.pauses[0][1]) <= 0.05 and abs(after - sp.pauses[1][0]) <= 0.05
    assert plan.notes[1:] == (
        f"no pause between {before:.2f} s and {after:.2f} s: cut at 26.00 s (the quietest 100 ms in reach)",
    )


def test_speech_without_any_pause():
    sp = speech([45.0], noise_db=-40.0, max_gap_s=0.07, dips=(21.0,))
    profile = speech_profile(sp.samples, sp.rate)
    assert profile.pauses == ()
    plan = plan_segments(frames_covering(sp.duration_s), INFINITALK, profile)
    assert [s.cut_s for s in plan.segments] == [21.0, None]
    assert plan.notes[1] == (
        f"no pause between 0.00 s and {sp.duration_s:.2f} s: cut at 21.00 s (the quietest 100 ms in reach)"
    )


def test_one_more_segment_when_that_puts_every_join_in_a_pause():
    # 55 s with the only reachable pause for two segments missing: three segments, both joins in pauses
    sp = speech([18.0, 0.5, 18.0, 0.5, 18.0], noise_db=-40.0)
    profile = speech_profile(sp.samples, sp.rate)
    total = frames_covering(sp.duration_s)
    assert math.ceil((total - 8) / (697 - 8)) == 2
    plan = plan_segments(total, INFINITALK, profile)
    assert len(plan.segments) == 3
    assert all(_true_pause(sp, s.cut_s) for s in plan.segments[:-1])
    assert plan.notes[1] == "3 segments rather than 2, so that every join falls in a pause"


def test_dubbing_uses_the_source_length_and_its_time_ranges():
    sp = talk(40, seed=5, noise_db=-35.0)
    profile = speech_profile(sp.samples, sp.rate)
    source_frames = frames_covering(52.0)  # the source video is longer than the new speech
    plan = plan_segments(source_frames, INFINITALK, profile)
    _check_geometry(plan, source_frames, INFINITALK, 8, 24)
    ranges = [(s.start_frame / 25, s.end_frame / 25) for s in plan.segments]
    assert ranges[0][0] == 0.0 and ranges[-1][1] >= 52.0
    for (_, end), (next_start, _) in itertools.pairwise(ranges):
        assert next_start < end and end - next_start >= 8 / 25
    for seg in plan.segments[:-1]:  # the silence after the speech counts as a pause
        assert _true_pause(sp, seg.cut_s) or seg.cut_s >= sp.duration_s
    assert not any(note.startswith("no pause") for note in plan.notes)
    silent = plan_segments(frames_covering(100.0), INFINITALK, profile)  # 60 s of silence after the speech
    assert len(silent.segments) == 4 and len(silent.notes) == 1
    assert all(s.cut_s > sp.duration_s or _true_pause(sp, s.cut_s) for s in silent.segments[:-1])
    shorter = plan_segments(frames_covering(33.0), INFINITALK, profile)  # the source is the shorter one
    assert shorter.segments[-1].start_frame < 825 <= shorter.segments[-1].end_frame


def test_the_domain_layer_does_not_import_media():
    for path in (Path(__file__).resolve().parent.parent / "nodes" / "avatar").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert "media" not in (node.module or ""), path
            elif isinstance(node, ast.Import):
                assert not any("media" in alias.name for alias in node.names), path


def test_best_joins_matches_brute_force():
    rng = random.Random(7)
    for _ in range(200):
        size = rng.randint(1, 9)
        points = np.sort(np.array(rng.sample(range(1, 60), size), np.float64))
        gap = rng.choice([-3.0, 0.0, 1.0])
        line = Line(
            starts=points + gap,
            ends=points,
            join_cost=np.array([rng.uniform(0, 2) for _ in range(size)]),
            begin=0.0,
            end=60.0,
            min_len=rng.choice([1.0, 5.0]),
            max_len=rng.choice([15.0, 25.0, 40.0]),
            last_min_len=1.0,
            balance_weight=4.0,
        )
        count, target = rng.randint(1, 4), 60.0 / 3

        def cost(joins, line=line, target=target):
            bounds = [line.begin, *(x for j in joins for x in (line.ends[j], line.starts[j])), line.end]
            lengths = [b - a for a, b in zip(bounds[::2], bounds[1::2], strict=True)]
            if any(not line.min_len <= n <= line.max_len for n in lengths[:-1]):
                return math.inf
            if not line.last_min_len <= lengths[-1] <= line.max_len:
                return math.inf
            balance = sum(4.0 * ((n - target) / target) ** 2 for n in lengths)
            return balance + sum(line.join_cost[j] for j in joins)

        best = min((cost(c) for c in itertools.combinations(range(size), count - 1)), default=math.inf)
        found = best_joins(line, count, target)
        if math.isinf(best):
            assert found is None
        else:
            assert found is not None and cost(found) == pytest.approx(best)
