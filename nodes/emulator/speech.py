"""Offline speech-like audio for the emulated single-text endpoint (no TTS engine, no external tools).

Each character gets 1/14 s (≈ 14 characters per second, a normal speaking rate); each word is voiced as
one tone burst per syllable (vowel group) at the voice's pitch with a few harmonics, spaces and punctuation
are silence. Deterministic for a given (text, voice).
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from .fal_schemas import VOICES
from .inputs import SAMPLE_RATE

CHARS_PER_SECOND = 14.0
_FEMALE = {"Aria", "Sarah", "Laura", "River", "Charlotte", "Alice", "Matilda", "Jessica", "Lily"}


def voice_pitch(voice: str) -> float:
    """Fundamental frequency (Hz) of a voice name: ~210 Hz female, ~120 Hz male, small per-voice offset."""
    base = 210.0 if voice in _FEMALE else 120.0
    index = VOICES.index(voice) if voice in VOICES else 0
    return base * (1.0 + 0.03 * (index % 5 - 2))


def _syllables(word: str) -> int:
    return max(1, len(re.findall(r"[aeiouyAEIOUY\u00c0-\u024f]+", word)))


def synthesize(text: str, voice: str) -> np.ndarray:
    """Mono float32 samples at SAMPLE_RATE, about len(text) / 14 seconds long (at least one character)."""
    text = text.strip() or "."
    slot = SAMPLE_RATE / CHARS_PER_SECOND
    out = np.zeros(int(round(len(text) * slot)) + 1, np.float32)
    rng = np.random.default_rng(zlib.crc32(f"{voice}\0{text}".encode()))
    f0 = voice_pitch(voice)
    for match in re.finditer(r"\w+", text):
        start, end = int(match.start() * slot), int(match.end() * slot)
        count = _syllables(match.group())
        bounds = np.linspace(start, end, count + 1).astype(int)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            out[a:b] += _burst(b - a, f0 * rng.uniform(0.9, 1.12), rng)
    return np.clip(out, -1.0, 1.0)


def _burst(length: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    """One voiced syllable: harmonics with a gliding pitch, a raised-cosine envelope and a consonant onset."""
    if length <= 0:
        return np.zeros(0, np.float32)
    t = np.arange(length) / SAMPLE_RATE
    pitch = f0 * (1.0 + 0.06 * np.sin(np.pi * np.arange(length) / length))
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.sin(np.pi * np.arange(length) / length) ** 0.6
    onset = rng.normal(0.0, 0.15, length) * np.exp(-t / 0.015)
    return (0.35 * wave * envelope + onset).astype(np.float32)
