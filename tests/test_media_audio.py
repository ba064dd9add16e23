"""AUDIO → WAV/FLAC payloads: round trips, warnings and bad input."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest
import torch
from test_media_samples import tone

from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.media import audio_duration_s, encode_audio

STEP = 1 / 32768  # one PCM16 step


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getsampwidth() == 2
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        return frames.reshape(-1, wav.getnchannels()).T.astype(np.float32) / 32768, wav.getframerate()


def _read_flac(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        to_float = av.AudioResampler(format="fltp")
        chunks = [f.to_ndarray() for frame in container.decode(stream) for f in to_float.resample(frame)]
        return np.concatenate(chunks, axis=1), stream.codec_context.sample_rate


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_wav_round_trip_within_one_pcm16_step(rate, channels):
    audio = tone(0.5, rate, channels)
    rng = np.random.default_rng(rate + channels)  # some noise so every PCM16 level pattern is exercised
    audio["waveform"] += torch.from_numpy(rng.uniform(-0.3, 0.3, audio["waveform"].shape).astype(np.float32))
    payload = encode_audio(audio)
    assert payload.content_type == "audio/wav" and payload.file_name.endswith(".wav")
    samples, got_rate = _read_wav(payload.data)
    assert got_rate == rate and samples.shape == (channels, round(0.5 * rate))
    assert np.abs(samples - audio["waveform"][0].numpy()).max() <= STEP
    assert payload.info["duration_s"] == pytest.approx(0.5)
    assert payload.info["channels"] == channels and payload.info["sample_rate"] == rate
    assert payload.size == payload.info["pcm16_bytes"] + 44 and payload.warnings == ()


@pytest.mark.parametrize("channels", [1, 2])
def test_flac_is_lossless_against_the_wav_samples_and_smaller(channels):
    audio = tone(1.0, 44100, channels)
    flac = encode_audio(audio, fmt="flac")
    assert flac.content_type == "audio/flac" and flac.data[:4] == b"fLaC"
    samples, rate = _read_flac(flac.data)
    reference, _ = _read_wav(encode_audio(audio).data)
    assert rate == 44100 and np.array_equal(samples, reference)
    assert flac.size <= flac.info["pcm16_bytes"]


def test_hashes_are_deterministic():
    audio = tone(0.25, 16000, 1)
    for fmt in ("wav", "flac"):
        first, second = (
            encode_audio(audio, fmt=fmt),
            encode_audio({**audio, "waveform": audio["waveform"].numpy()}, fmt=fmt),
        )
        assert first.data == second.data and first.sha256 == second.sha256


def test_batch_uses_first_item_with_warning():
    first, second = tone(0.2, 16000, 1), tone(0.2, 16000, 1, amplitude=0.1)
    batch = {"waveform": torch.cat([first["waveform"], second["waveform"]]), "sample_rate": 16000}
    payload = encode_audio(batch)
    assert payload.data == encode_audio(first).data
    assert any("batch of 2" in w for w in payload.warnings)


def test_loud_samples_are_clipped_with_warning():
    audio = tone(0.2, 16000, 1, amplitude=1.5)
    payload = encode_audio(audio)
    samples, _ = _read_wav(payload.data)
    assert samples.max() == pytest.approx(32767 / 32768) and samples.min() == -1.0
    assert any("clipped" in w for w in payload.warnings)


def test_silent_audio_is_a_warning_not_an_error():
    payload = encode_audio({"waveform": torch.zeros((1, 1, 16000)), "sample_rate": 16000})
    assert any("silent" in w for w in payload.warnings)


def test_duration_and_min_seconds():
    audio = tone(1.5, 16000, 1)
    assert audio_duration_s(audio) == pytest.approx(1.5)
    assert encode_audio(audio, min_seconds=1.5).info["duration_s"] == pytest.approx(1.5)
    with pytest.raises(InputError, match="1.50 s long; this endpoint needs at least 2 s") as err:
        encode_audio(audio, min_seconds=2, field="speech")
    assert err.value.field == "speech"


@pytest.mark.parametrize(
    ("audio", "needle"),
    [
        ({"waveform": torch.zeros((1, 2, 0)), "sample_rate": 16000}, "empty"),
        ({"waveform": torch.zeros((0, 2, 100)), "sample_rate": 16000}, "empty"),
        ({"waveform": torch.zeros((2, 100)), "sample_rate": 16000}, "batch, channels, samples"),
        ({"waveform": torch.zeros((1, 9, 100)), "sample_rate": 16000}, "9 channels"),
        ({"waveform": torch.zeros((1, 1, 100)), "sample_rate": 0}, "sample rate"),
        ({"waveform": torch.zeros((1, 1, 100)), "sample_rate": 44100.5}, "sample rate"),
        ({"waveform": torch.zeros((1, 1, 100))}, "AUDIO value"),
        (torch.zeros((1, 1, 100)), "AUDIO value"),
    ],
)
def test_bad_audio_is_an_input_error(audio, needle):
    with pytest.raises(InputError, match=needle) as err:
        encode_audio(audio)
    assert err.value.field == "audio"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_samples_are_input_errors(bad):
    audio = tone(0.1, 16000, 2)
    audio["waveform"][0, 1, 10] = bad
    with pytest.raises(InputError, match="NaN or infinite"):
        encode_audio(audio)
