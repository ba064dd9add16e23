"""Synthetic sentences for long-form tests: the emulator's offline voice with pauses of known times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from comfyui_fal_avatar.nodes.emulator.inputs import SAMPLE_RATE
from comfyui_fal_avatar.nodes.emulator.speech import synthesize

SENTENCES = (
    "Hello and welcome to this lesson about talking avatars.",
    "Today we look at long videos that are made of several segments.",
    "Each segment is a separate job on fal, and they run side by side.",
    "The joins fall in the pauses of the speech, where the mouth is closed.",
    "A short cross fade hides the change of pose at every join.",
)


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # mono float32
    rate: int
    pauses: tuple[tuple[float, float], ...]  # (start s, end s) of every inserted pause

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def audio(self) -> dict:
        """As a ComfyUI AUDIO value."""
        return {"waveform": self.samples[None, None, :].copy(), "sample_rate": self.rate}

    def in_pause(self, seconds: float, margin: float = 0.0) -> bool:
        return any(a - margin <= seconds <= b + margin for a, b in self.pauses)


def speech(seconds: float, *, pause_s: float = 0.6, voice: str = "Sarah") -> Speech:
    """About ``seconds`` of sentences with ``pause_s`` of silence after each (cut to exactly ``seconds``)."""
    parts, pauses, t, i = [], [], 0.0, 0
    while t < seconds:
        said = synthesize(SENTENCES[i % len(SENTENCES)], voice)
        i += 1
        parts.append(said)
        t += len(said) / SAMPLE_RATE
        parts.append(np.zeros(round(pause_s * SAMPLE_RATE), np.float32))
        pauses.append((t, t + pause_s))
        t += pause_s
    samples = np.concatenate(parts)[: round(seconds * SAMPLE_RATE)].astype(np.float32)
    return Speech(samples, SAMPLE_RATE, tuple(p for p in pauses if p[0] < seconds))


def frame_rms(samples: np.ndarray, rate: int, frames: int, fps: int = 25) -> np.ndarray:
    """RMS of each video frame's stretch of the audio."""
    per = rate // fps
    padded = np.zeros(frames * per, np.float32)
    padded[: min(len(samples), frames * per)] = samples[: frames * per]
    return np.sqrt(np.mean(padded.reshape(frames, per).astype(np.float64) ** 2, axis=1))
