"""Speech pauses in audio samples: a 10 ms level profile and the quiet stretches in it (numpy only).

The level of each 10 ms hop is the mean over channels of the hop's variance (its power without the DC
offset), in dBFS. The threshold comes from the clip's own levels, so it follows the recording level and
the background noise: the speech level is the 90th percentile of the audible hops, the floor the 10th
percentile of all hops (digital silence counted as 60 dB under the speech), and a hop is quiet below the
middle of the two (in dB). A 50 ms median removes clicks and the breaks between syllables. Two quiet
runs merge when what separates them lasts at most 0.5 s and stays 15 dB under the speech (a breath).
A pause is a quiet run of at least ``min_pause_s``. A clip whose levels span less than 10 dB (steady
noise, a tone) has no pauses except its digital silence.

Cost: two float32 passes over the samples in cache-sized chunks, then work on 100 values a second
(``benchmarks/pauses_bench.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

HOP_S = 0.01
SILENT_DB = -100.0  # hops below this are digital silence (or as good as)
_FLOOR_DB = -120.0  # the level reported for exact zeros
_FLOOR_PERCENTILE, _SPEECH_PERCENTILE = 10, 90
_THRESHOLD_AT = 0.5  # quiet below floor + 0.5 × (speech − floor), in dB
_MIN_SPREAD_DB = 10.0
_SILENCE_BELOW_SPEECH_DB = 60.0
_MEDIAN_HOPS = 5
_BREATH_S, _BREATH_BELOW_SPEECH_DB = 0.5, 15.0  # a quiet sound this short and low is a breath
_CHUNK_SAMPLES = 1 << 18  # per channel: a chunk stays in the CPU cache


@dataclass(frozen=True)
class Pause:
    """A quiet stretch. ``quietest_s``: centre of its quietest 100 ms; ``level_db``: its mean level."""

    start_s: float
    end_s: float
    quietest_s: float
    level_db: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SpeechProfile:
    """Per-hop levels (dBFS) of a clip, its speech level (90th percentile of the audible hops) and pauses."""

    hop_s: float
    level_db: np.ndarray
    duration_s: float
    pauses: tuple[Pause, ...]
    speech_db: float

    @cached_property
    def _power(self) -> np.ndarray:
        return 10.0 ** (self.level_db / 10.0)

    def _hops(self, start_s: float, end_s: float) -> tuple[int, int]:
        """Indices of the hops that lie wholly inside [start_s, end_s]."""
        first = max(0, math.ceil(round(start_s / self.hop_s, 6)))
        last = min(len(self.level_db), math.floor(round(end_s / self.hop_s, 6)))
        return first, last

    def level(self, start_s: float, end_s: float) -> float:
        """Mean level (dBFS) of the hops inside [start_s, end_s]; past the clip's end counts as silence."""
        first, last = self._hops(start_s, end_s)
        if last <= first:
            return _FLOOR_DB
        return float(10.0 * np.log10(self._power[first:last].mean()))

    def quietest(self, start_s: float, end_s: float, window_s: float = 0.1) -> float:
        """Centre of the quietest ``window_s`` window that lies inside [start_s, end_s] (of equally quiet
        windows, the one nearest the middle); the middle of the range when no window fits."""
        middle = (start_s + end_s) / 2
        first, last = self._hops(start_s, end_s)
        width = max(1, round(window_s / self.hop_s))
        if last - first < width:
            return middle
        power = np.concatenate(([0.0], np.cumsum(self._power[first:last])))
        sums = power[width:] - power[:-width]
        ties = np.flatnonzero(sums <= sums.min() * (1 + 1e-9) + 1e-18)
        centres = (first + ties + width / 2) * self.hop_s
        return float(centres[np.argmin(np.abs(centres - middle))])


def hop_levels(samples: np.ndarray, sample_rate: int) -> tuple[float, np.ndarray]:
    """``(hop_s, level_db)``: the level of each 10 ms hop (the last may be shorter), mean over channels.

    Works on float32 chunks of the input (no copy of the whole clip); each hop's sum and sum of squares
    (float32 sums, accurate to ~1e-6) go to float64 before the variance is taken from them.
    """
    if samples.ndim == 1:
        samples = samples[None, :]
    channels, total = samples.shape
    hop = max(1, round(sample_rate * HOP_S))
    power = np.empty(-(-total // hop), np.float64)
    step = max(hop, _CHUNK_SAMPLES // hop * hop)
    for begin in range(0, total, step):
        chunk = np.asarray(samples[:, begin : begin + step], np.float32)
        count = -(-chunk.shape[1] // hop)
        lengths = np.full(count, hop, np.float64)
        if chunk.shape[1] % hop:  # the clip's last hop is shorter: pad it with zeros, divide by its length
            lengths[-1] = chunk.shape[1] % hop
            chunk = np.pad(chunk, ((0, 0), (0, count * hop - chunk.shape[1])))
        blocks = chunk.reshape(channels, count, hop)
        sums = blocks.sum(axis=2).astype(np.float64)
        squares = np.einsum("chk,chk->ch", blocks, blocks).astype(np.float64)
        variance = (squares - sums * sums / lengths) / lengths
        power[begin // hop : begin // hop + count] = variance.mean(axis=0)
    with np.errstate(divide="ignore"):
        level = 10.0 * np.log10(np.maximum(power, 0.0))
    return hop / sample_rate, np.maximum(level, _FLOOR_DB)


def _median(level: np.ndarray, width: int) -> np.ndarray:
    if len(level) < width:
        return level
    pad = width // 2
    padded = np.pad(level, pad, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)


def _threshold(level: np.ndarray) -> tuple[float, float]:
    """``(quiet_below_db, speech_db)`` from the clip's own levels."""
    audible = level > SILENT_DB
    if not audible.any():
        return SILENT_DB, _FLOOR_DB
    speech = float(np.percentile(level[audible], _SPEECH_PERCENTILE))
    # Digital silence counts as a floor 60 dB under the speech, so that clean audio (exact zeros between
    # words) does not take its floor from the fading ends of syllables.
    floor = float(
        np.percentile(np.where(audible, level, speech - _SILENCE_BELOW_SPEECH_DB), _FLOOR_PERCENTILE)
    )
    if speech - floor < _MIN_SPREAD_DB:
        return SILENT_DB, speech
    return floor + _THRESHOLD_AT * (speech - floor), speech


def _quiet_runs(smooth: np.ndarray, quiet_below: float, breath_below: float, breath_hops: int):
    """``(first, last)`` hop indices (last exclusive) of the quiet runs; two runs merge when what
    separates them is at most ``breath_hops`` long and never reaches ``breath_below`` (a breath)."""
    quiet = (smooth < quiet_below).view(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet, [0]))))
    first, last = edges[::2], edges[1::2]
    if len(first) < 2:
        return first, last
    between = np.maximum.reduceat(smooth, np.column_stack((last[:-1], first[1:])).ravel())[::2]
    merge = (first[1:] - last[:-1] <= breath_hops) & (between < breath_below)
    return first[np.concatenate(([True], ~merge))], last[np.concatenate((~merge, [True]))]


def speech_profile(samples: np.ndarray, sample_rate: int, *, min_pause_s: float = 0.2) -> SpeechProfile:
    """Level profile and pauses of float samples ``[C, T]`` (or ``[T]``) at ``sample_rate`` Hz."""
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2) or samples.shape[-1] == 0:
        raise ValueError(f"expected samples [channels, time], got shape {samples.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    hop_s, level = hop_levels(samples, sample_rate)
    duration_s = samples.shape[-1] / sample_rate
    quiet_below, speech_db = _threshold(level)
    smooth = _median(level, _MEDIAN_HOPS)
    first, last = _quiet_runs(
        smooth, quiet_below, speech_db - _BREATH_BELOW_SPEECH_DB, round(_BREATH_S / hop_s)
    )
    profile = SpeechProfile(hop_s, level, duration_s, (), speech_db)
    pauses = []
    for begin, end in zip(first, last, strict=True):
        start_s, end_s = float(begin * hop_s), float(min(end * hop_s, duration_s))
        if end_s - start_s >= min_pause_s - 1e-9:
            quietest = profile.quietest(start_s, end_s)
            pauses.append(Pause(start_s, end_s, quietest, profile.level(start_s, end_s)))
    return SpeechProfile(hop_s, level, duration_s, tuple(pauses), speech_db)
