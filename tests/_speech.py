"""Synthetic speech with known pauses, for the pause-detection and segment-planning tests.

Syllables are harmonic tone bursts (f0 100-240 Hz, five harmonics, a sine envelope) of 80-220 ms; words
are 1-4 syllables separated by 40-``max_gap_s`` gaps; phrases are words up to a given length; pauses are
silence between phrases. Background noise (white plus low-passed) and breaths (noise bursts 25 dB below
the speech) can be added. Every value is known, so tests can compare against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # float32 [C, T]
    rate: int
    pauses: tuple[tuple[float, float], ...]  # (start_s, end_s) of every silence between phrases

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.rate


def _syllable(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / rate
    f0 = rng.uniform(100, 240)
    arch = np.sin(np.pi * np.arange(n) / n)
    phase = 2 * np.pi * f0 * t * (1 + 0.05 * arch)
    # sin(k·phase) for k = 1..5 from sin and cos of phase (sin((k+1)x) = 2cos(x)·sin(kx) − sin((k−1)x)):
    # two sines instead of five, the suite's largest libm cost
    twice_cos, below, harmonic = 2 * np.cos(phase), np.zeros(n), np.sin(phase)
    wave = harmonic.copy()
    for k in range(2, 6):
        below, harmonic = harmonic, twice_cos * harmonic - below
        wave += harmonic / k
    return wave * arch**0.6 * rng.uniform(0.5, 1.0)


def _box_sum(values: np.ndarray, width: int) -> np.ndarray:
    """``np.convolve(values, np.ones(width), mode="same")`` for an even ``width``, from a running sum."""
    half = np.zeros(width // 2)
    total = np.concatenate([[0.0], np.cumsum(np.concatenate([half, values, half]))])
    return total[width : width + len(values)] - total[: len(values)]


def _phrase(length_s: float, rate: int, rng: np.random.Generator, max_gap_s: float) -> np.ndarray:
    """Words and short gaps, ``length_s`` long (at least 80 ms); starts and ends with a syllable."""
    parts: list[np.ndarray] = []
    used = 0
    limit = round(length_s * rate)
    while True:
        for _ in range(rng.integers(1, 5)):
            n = round(rng.uniform(0.08, 0.22) * rate)
            if used + n > limit:  # the phrase ends with a shorter syllable
                n = max(limit - used, round(0.08 * rate))
                parts.append(_syllable(n, rate, rng))
                return np.concatenate(parts)
            parts.append(_syllable(n, rate, rng))
            used += n
        gap = round(rng.uniform(0.04, max_gap_s) * rate)
        if used + gap + round(0.08 * rate) > limit:
            return np.concatenate(parts)
        parts.append(np.zeros(gap))
        used += gap


def speech(
    plan: list[float],
    *,
    rate: int = 16000,
    seed: int = 0,
    level_db: float = -20.0,
    noise_db: float | None = -40.0,
    channels: int = 1,
    breaths: bool = False,
    max_gap_s: float = 0.11,
    dips: tuple[float, ...] = (),
) -> Speech:
    """``plan`` alternates phrase and pause lengths in seconds (phrase, pause, phrase, ...).

    ``level_db``: RMS of the voiced parts in dBFS; ``noise_db``: the background's RMS relative to that
    (None: digital silence between words). ``dips``: centres (s) of 100 ms silences, aligned to 10 ms,
    cut into the phrases (shorter than any pause, the quietest 100 ms around them).
    """
    rng = np.random.default_rng(seed)
    parts, pauses, at = [], [], 0
    for index, length in enumerate(plan):
        if index % 2 == 0:
            chunk = _phrase(length, rate, rng, max_gap_s)
        else:
            chunk = np.zeros(round(length * rate))
            pauses.append((at / rate, (at + len(chunk)) / rate))
        parts.append(chunk)
        at += len(chunk)
    voice = np.concatenate(parts)
    for centre in dips:
        first = round((round(centre * 100) - 5) * rate / 100)
        voice[first : first + rate // 10] = 0.0
    voiced = voice[np.abs(voice) > 1e-6]
    voice *= 10 ** (level_db / 20) / np.sqrt(np.mean(voiced**2))
    if breaths:
        for start, end in pauses:
            if end - start >= 0.6:
                n = round(0.3 * rate)
                first = round((start + end) / 2 * rate) - n // 2
                burst = rng.normal(0, 1, n) * np.sin(np.pi * np.arange(n) / n)
                voice[first : first + n] += burst * 10 ** ((level_db - 25) / 20)
    out = np.empty((channels, len(voice)), np.float32)
    for channel in range(channels):
        out[channel] = voice * (1.0 if channel == 0 else 0.8)
        if noise_db is not None:
            white = rng.normal(0, 1, len(voice))
            rumble = _box_sum(rng.normal(0, 1, len(voice)), 64) / 8
            noise = white + rumble
            out[channel] += noise * 10 ** ((level_db + noise_db) / 20) / np.sqrt(np.mean(noise**2))
    return Speech(out, rate, tuple(pauses))


def talk(total_s: float, *, seed: int = 0, **kwargs) -> Speech:
    """Speech of about ``total_s``: phrases of 1.5-7 s separated by pauses of 0.25-1.2 s."""
    rng = np.random.default_rng(seed + 1000)
    plan: list[float] = []
    used = 0.0
    while used < total_s:
        phrase = min(rng.uniform(1.5, 7.0), max(total_s - used, 1.0))
        plan.append(phrase)
        used += phrase
        if used < total_s - 1.0:
            pause = rng.uniform(0.25, 1.2)
            plan.append(pause)
            used += pause
        else:
            break
    return speech(plan, seed=seed, **kwargs)
