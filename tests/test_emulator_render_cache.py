"""The emulator's render cache (``FalEmulator(render_cache=...)``, the test session's): a job's video is
encoded once per folder, whichever emulator asks, and read back with the bytes, progress and cancellation
of a render."""

from __future__ import annotations

from fractions import Fraction

import _http
import numpy as np
import pytest
from test_emulator_models import KEY, _run

from comfyui_fal_avatar.nodes.emulator import FalEmulator, render
from comfyui_fal_avatar.nodes.emulator.render_cache import RenderCache, render_digest
from comfyui_fal_avatar.nodes.emulator.samples import data_uri, sample_png, sample_wav

FRAMES = 30


def _pictures() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (64, 48, 3), np.uint8) for _ in range(2)]


def _sound() -> np.ndarray:
    return np.random.default_rng(4).normal(0, 0.1, 16000).astype(np.float32)


@pytest.fixture
def encodes(monkeypatch) -> list[int]:
    """The frame count of every video the renderer encodes."""
    seen: list[int] = []
    encode = render._encode

    def counted(target, backgrounds, pick, sound, fps, levels, *rest):
        seen.append(len(levels))
        return encode(target, backgrounds, pick, sound, fps, levels, *rest)

    monkeypatch.setattr(render, "_encode", counted)
    return seen


def test_the_same_inputs_are_encoded_once_and_read_back_as_rendered(tmp_path, encodes):
    cache = RenderCache(tmp_path / "renders")
    pictures, sound = _pictures(), _sound()
    order = lambda index: index // 10 % 2  # noqa: E731
    progress: list[list[tuple[int, int]]] = [[], []]
    made = [
        render.render_mp4(
            pictures, sound, FRAMES, order=order, cache=cache, progress=lambda *p, seen=seen: seen.append(p)
        )
        for seen in progress
    ]
    assert encodes == [FRAMES]
    assert made[0] == made[1] == render.render_mp4(pictures, sound, FRAMES, order=order)
    assert progress[0][:FRAMES] == [(done, FRAMES) for done in range(1, FRAMES + 1)]  # frame by frame
    assert progress[0][-1] == (FRAMES, FRAMES) and progress[1] == [(FRAMES, FRAMES)]  # the stored one at once
    assert [p.suffix for p in cache.folder.iterdir()] == [".mp4"]  # no temporary file left


def test_any_changed_input_is_another_render():
    pictures, sound = _pictures(), _sound()
    picks = np.arange(FRAMES) % 2
    other_picture = [p.copy() for p in pictures]
    other_picture[1][5, 5, 0] ^= 1
    louder = sound.copy()
    louder[100] += 0.01
    variants = [
        (pictures, sound, Fraction(25), picks),
        (other_picture, sound, Fraction(25), picks),  # one pixel
        (pictures, louder, Fraction(25), picks),  # one sample
        (pictures, sound, Fraction(30000, 1001), picks),  # the frame rate
        (pictures, sound, Fraction(25), picks[::-1].copy()),  # the order of the pictures
        (pictures, sound, Fraction(25), picks[:-1]),  # one frame fewer
        (pictures[:1], sound, Fraction(25), picks * 0),  # a picture fewer, the frames alike
        (pictures, sound[None], Fraction(25), picks),  # the sound's shape
    ]
    assert len({render_digest(*variant) for variant in variants}) == len(variants)


def test_a_stop_is_honoured_on_a_stored_render(tmp_path, encodes):
    cache = RenderCache(tmp_path)
    render.render_mp4(_pictures(), _sound(), FRAMES, cache=cache)
    with pytest.raises(render.Cancelled):
        render.render_mp4(_pictures(), _sound(), FRAMES, cache=cache, should_stop=lambda: True)
    assert encodes == [FRAMES]


def test_two_emulators_sharing_a_folder_deliver_one_encode(tmp_path, encodes):
    arguments = {
        "image_url": data_uri(sample_png(320, 240), "image/png"),
        "audio_url": data_uri(sample_wav(1.0), "audio/wav"),
        "prompt": "p",
    }
    videos = []
    for _ in range(2):
        with FalEmulator(KEY, processing_time=0.0, max_output_side=64, render_cache=tmp_path) as emu:
            body = _run(emu, "fal-ai/infinitalk", arguments).json()
            videos.append(_http.get(body["video"]["url"]).content)
    assert len(encodes) == 1 and videos[0] == videos[1] and len(videos[0]) > 1000
