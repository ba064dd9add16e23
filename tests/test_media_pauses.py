"""Pause detection on synthetic speech whose pauses are known (tests/_speech.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _speech import Speech, speech, talk

from comfyui_fal_avatar.nodes.media.pauses import Pause, hop_levels, speech_profile

TOLERANCE_S = 0.05


def _assert_found(sp: Speech, pauses: tuple[Pause, ...]) -> None:
    """Every true pause is found once, with both edges within 50 ms; nothing else is found."""
    for start, end in sp.pauses:
        hits = [p for p in pauses if p.start_s < end and p.end_s > start]
        assert len(hits) == 1, (start, end, hits)
        assert abs(hits[0].start_s - start) <= TOLERANCE_S and abs(hits[0].end_s - end) <= TOLERANCE_S
        assert hits[0].start_s <= hits[0].quietest_s <= hits[0].end_s
    assert len(pauses) == len(sp.pauses)


@pytest.mark.parametrize("level_db", [-6.0, -26.0, -46.0])
@pytest.mark.parametrize("noise_db", [None, -45.0, -25.0, -12.0])
def test_pauses_at_any_level_and_noise_with_breaths(level_db, noise_db):
    sp = talk(40, seed=int(-level_db), level_db=level_db, noise_db=noise_db, breaths=True)
    assert any(end - start >= 0.6 for start, end in sp.pauses)  # so some pauses hold a breath
    profile = speech_profile(sp.samples, sp.rate)
    _assert_found(sp, profile.pauses)
    assert profile.speech_db == pytest.approx(level_db, abs=6.0)
    for pause in profile.pauses:
        assert pause.level_db < profile.speech_db - 10


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_any_rate_mono_or_multichannel(rate):
    sp = talk(20, seed=rate, rate=rate, channels=3, noise_db=-30.0)
    profile = speech_profile(sp.samples, rate)
    assert profile.hop_s == round(rate * 0.01) / rate
    assert profile.duration_s == sp.samples.shape[1] / rate
    assert len(profile.level_db) == math.ceil(sp.samples.shape[1] / round(rate * 0.01))
    _assert_found(sp, profile.pauses)
    assert speech_profile(sp.samples[0], rate).pauses == speech_profile(sp.samples[:1], rate).pauses


def test_breath_in_a_pause_does_not_split_it():
    sp = speech([2.0, 1.0, 2.0], noise_db=-50.0, breaths=True)
    profile = speech_profile(sp.samples, sp.rate)
    mid, quiet = (sp.pauses[0][0] + sp.pauses[0][1]) / 2, profile.pauses[0].quietest_s
    assert profile.level(mid - 0.05, mid + 0.05) > profile.level(quiet - 0.05, quiet + 0.05) + 15  # a breath
    _assert_found(sp, profile.pauses)


def test_pauses_shorter_than_the_minimum_are_not_reported():
    sp = speech([2.0, 0.15, 2.0, 0.3, 2.0], noise_db=-40.0, max_gap_s=0.07)
    profile = speech_profile(sp.samples, sp.rate)
    assert len(profile.pauses) == 1
    assert abs(profile.pauses[0].start_s - sp.pauses[1][0]) <= TOLERANCE_S
    assert len(speech_profile(sp.samples, sp.rate, min_pause_s=0.12).pauses) == 2


def test_dc_offset_does_not_change_the_pauses():
    sp = talk(20, seed=3, noise_db=-40.0)
    plain = speech_profile(sp.samples, sp.rate)
    shifted = speech_profile(sp.samples + np.float32(0.25), sp.rate)
    assert [(p.start_s, p.end_s) for p in shifted.pauses] == [(p.start_s, p.end_s) for p in plain.pauses]


def test_steady_sound_has_no_pauses_and_silence_is_one_pause():
    rng = np.random.default_rng(0)
    assert speech_profile(rng.normal(0, 0.1, (2, 16000 * 5)).astype(np.float32), 16000).pauses == ()
    tone = np.sin(2 * np.pi * 440 * np.arange(16000 * 5) / 16000).astype(np.float32)
    assert speech_profile(tone, 16000).pauses == ()
    silent = speech_profile(np.zeros((1, 16000 * 3), np.float32), 16000)
    assert [(p.start_s, p.end_s, p.level_db) for p in silent.pauses] == [(0.0, 3.0, -120.0)]


def test_levels_are_exact_for_a_sine_and_the_short_last_hop():
    rate = 16000
    samples = np.zeros((2, rate + 40), np.float32)  # 100 full hops of 160 samples and one of 40
    samples[:, :rate] = 0.1 * np.sin(2 * np.pi * 1000 * np.arange(rate) / rate)  # 10 periods per hop
    samples[:, rate:] = 0.5  # DC only: no power
    hop_s, level = hop_levels(samples, rate)
    assert hop_s == 0.01 and len(level) == 101
    np.testing.assert_allclose(level[:100], 10 * np.log10(0.1**2 / 2), atol=1e-3)  # -23.01 dBFS
    assert level[100] == -120.0


def test_quietest_and_level():
    sp = speech([10.0], noise_db=-40.0, max_gap_s=0.07, dips=(4.2,))
    profile = speech_profile(sp.samples, sp.rate)
    assert profile.pauses == ()
    assert profile.quietest(1.0, 9.0) == pytest.approx(4.2)
    assert profile.quietest(3.0, 4.0) != pytest.approx(4.2)  # the dip is outside this range
    assert profile.quietest(4.0, 4.05) == pytest.approx(4.025)  # no 100 ms window fits: the middle
    dip = profile.level(4.15, 4.25)
    assert dip == pytest.approx(profile.speech_db - 40, abs=6)
    assert profile.level(20.0, 21.0) == -120.0  # past the end: silence


def test_bad_input():
    with pytest.raises(ValueError, match="samples"):
        speech_profile(np.zeros((1, 1, 10), np.float32), 16000)
    with pytest.raises(ValueError, match="samples"):
        speech_profile(np.zeros((1, 0), np.float32), 16000)
    with pytest.raises(ValueError, match="sample rate"):
        speech_profile(np.zeros((1, 10), np.float32), 0)
