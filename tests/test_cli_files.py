"""The CLI's file readers against ComfyUI's LoadImage / LoadAudio decisions (v0.28.1), mode by mode.

Audio is compared with a re-implementation of LoadAudio's documented algorithm
(``comfy_extras/nodes_audio.py``: ``load`` + ``f32_pcm``), not with ComfyUI itself; images with the exact
values each mode stands for.
"""

from __future__ import annotations

import io
import json
import math
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from test_cli import ASSETS, cli

from comfyui_fal_avatar.nodes.cli.files import load_audio, load_image
from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.media import encode_image

# --- images ---------------------------------------------------------------------------------------------


def _uploaded_levels(image) -> np.ndarray:
    """The 8-bit RGB levels the node would upload for ``image`` (the PNG the pipeline encodes)."""
    return np.asarray(Image.open(io.BytesIO(encode_image(image).data)))


def test_16_bit_greyscale_keeps_its_levels_instead_of_turning_white(tmp_path):
    raw = np.linspace(0, 65535, 64 * 48).astype(np.uint16).reshape(48, 64)
    Image.frombytes("I;16", (64, 48), raw.astype("<u2").tobytes()).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    image = load_image(tmp_path / "g16.png")
    assert image.shape == (1, 48, 64, 3) and image.dtype == np.float32
    assert np.array_equal(image[0, ..., 0], image[0, ..., 2])
    np.testing.assert_allclose(image[0, ..., 0], raw / 65535.0, atol=1e-6)
    levels = _uploaded_levels(image)
    assert np.array_equal(levels[..., 1], np.rint(raw / 65535.0 * 255).astype(np.uint8))  # 8-bit precision
    assert levels.mean() == pytest.approx(127.5, abs=1)  # the old reader sent 254.0 (nearly all white)


@pytest.mark.parametrize("mode", ["I;16B", "I"])
def test_other_16_bit_greyscale_modes_scale_by_65535(tmp_path, mode):
    raw = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    if mode == "I;16B":  # TIFF keeps the big-endian mode
        path = tmp_path / "g.tif"
        Image.frombytes("I;16B", (4, 1), raw.astype(">u2").tobytes()).save(path)
    else:  # Pillow opens 16-bit PGM as "I"
        path = tmp_path / "g.pgm"
        path.write_bytes(b"P5 4 1 65535\n" + raw.astype(">u2").tobytes())
    assert Image.open(path).mode == mode
    np.testing.assert_allclose(load_image(path)[0, 0, :, 1], raw[0] / 65535.0, atol=1e-6)


def test_float_image_keeps_its_values_and_out_of_range_is_left_to_the_node(tmp_path):
    values = np.array([[0.0, 0.25, 1.0, 1.5]], dtype=np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    image = load_image(tmp_path / "f.tif")
    np.testing.assert_array_equal(image[0, 0, :, 0], values[0])
    assert any("clipped" in w for w in encode_image(image).warnings)  # the node says so


def test_8_bit_greyscale_becomes_three_equal_channels(tmp_path):
    raw = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(raw).save(tmp_path / "g8.png")
    image = load_image(tmp_path / "g8.png")
    assert image.shape == (1, 16, 16, 3)
    for channel in range(3):
        np.testing.assert_array_equal(image[0, ..., channel], raw / np.float32(255))
    assert np.array_equal(_uploaded_levels(image)[..., 0], raw)


def _palette_image(transparent: bool, path: Path) -> np.ndarray:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    img = Image.new("P", (6, 4))
    img.putpalette([c for rgb in colours for c in rgb])
    index = np.arange(24).reshape(4, 6) % 3
    img.putdata(index.ravel().tolist())
    img.save(path, **({"transparency": 1} if transparent else {}))
    return index


def test_palette_image_is_rgb(tmp_path):
    index = _palette_image(False, tmp_path / "p.png")
    image = load_image(tmp_path / "p.png")
    assert image.shape == (1, 4, 6, 3)
    np.testing.assert_array_equal(image[0][index == 0], [[1.0, 0.0, 0.0]] * int((index == 0).sum()))
    np.testing.assert_array_equal(image[0][index == 2], [[0.0, 0.0, 1.0]] * int((index == 2).sum()))


def test_palette_with_transparency_keeps_it_as_a_fourth_channel(tmp_path):
    index = _palette_image(True, tmp_path / "pt.png")
    image = load_image(tmp_path / "pt.png")
    assert image.shape == (1, 4, 6, 4)
    np.testing.assert_array_equal(image[0, ..., 3], np.where(index == 1, 0.0, 1.0))
    assert any("transparent pixels" in w for w in encode_image(image).warnings)


def test_grey_with_alpha_is_four_channels_with_equal_colours(tmp_path):
    la = np.zeros((5, 7, 2), np.uint8)
    la[..., 0], la[..., 1] = 90, np.arange(7, dtype=np.uint8)[None] * 40
    Image.frombytes("LA", (7, 5), la.tobytes()).save(tmp_path / "la.png")
    image = load_image(tmp_path / "la.png")
    assert image.shape == (1, 5, 7, 4)
    np.testing.assert_array_equal(image[0, ..., :3], np.full((5, 7, 3), np.float32(90) / np.float32(255)))
    np.testing.assert_array_equal(image[0, ..., 3], la[..., 1] / np.float32(255))


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((32, 48, 3), np.uint8)
    pixels[:8, :8] = 255  # a white block at the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    image = load_image(tmp_path / "rotated.jpg")
    assert image.shape == (1, 48, 32, 3)  # portrait, as displayed
    assert image[0, :8, -8:].mean() > 0.9 and image[0, :8, :8].mean() < 0.1  # the block is now top-right


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)  # pure red ink
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    image = load_image(tmp_path / "cmyk.jpg")
    assert image.shape == (1, 16, 16, 3)
    np.testing.assert_allclose(image[0].reshape(-1, 3).mean(0), [1.0, 0.0, 0.0], atol=3 / 255)


def test_multi_frame_gif_uses_the_first_frame_and_says_so(tmp_path):
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    notes: list[str] = []
    image = load_image(tmp_path / "anim.gif", warn=notes.append)
    assert image.shape == (1, 8, 8, 3)
    np.testing.assert_array_equal(image[0, 0, 0], [1.0, 0.0, 0.0])
    assert notes == ["image: anim.gif has 3 frames; only the first one is used."]


def test_single_frame_image_gives_no_warning(tmp_path):
    notes: list[str] = []
    load_image(ASSETS / "sample_portrait.png", warn=notes.append)
    assert notes == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), (b"not an image at all", "not an image"), ("dir", "directory")],
)
def test_unreadable_images_are_input_errors(tmp_path, content, expected):
    path = tmp_path / "face.png"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=expected):
        load_image(path)


def test_truncated_image_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        buffer, "PNG"
    )
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError, match="truncated"):
        load_image(tmp_path / "cut.png")


def _rgba_portrait(path: Path) -> np.ndarray:
    portrait = np.asarray(Image.open(ASSETS / "sample_portrait.png").convert("RGB"))
    height, width = portrait.shape[:2]
    alpha = np.tile(np.linspace(0, 255, width).round().astype(np.uint8), (height, 1))
    rgba = np.dstack([portrait, alpha])
    Image.fromarray(rgba).save(path)
    return rgba


def _uploaded_pngs(emulator) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(io.BytesIO(f.data)))
        for f in emulator.files.values()
        if f.content_type == "image/png"
    ]


def test_rgba_portrait_is_composited_over_white_and_the_cli_says_so(fal_env, tmp_path):
    rgba = _rgba_portrait(tmp_path / "face.png")
    proc = cli(
        "generate",
        "fal-ai/infinitalk",
        "--image",
        tmp_path / "face.png",
        "--audio",
        ASSETS / "sample_speech.wav",
        "--num-frames",
        "41",
        "--out",
        tmp_path / "x.mp4",
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning: image: 1 image had transparent pixels; they were composited over white" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["warnings"]
    (uploaded,) = _uploaded_pngs(fal_env)
    alpha = rgba[..., 3:].astype(np.float64) / 255
    expected = rgba[..., :3] * alpha + 255 * (1 - alpha)
    assert uploaded.shape == expected.shape  # RGB, same size
    assert np.abs(uploaded - expected).max() <= 0.5 + 1e-3  # rounded to the nearest level
    assert np.all(uploaded[:, 0] == 255) and np.array_equal(uploaded[:, -1], rgba[:, -1, :3])


def test_16_bit_portrait_uploads_its_own_levels(fal_env, tmp_path):
    grey = np.asarray(Image.open(ASSETS / "sample_portrait.png").convert("L")).astype(np.uint16) * 257
    Image.frombytes("I;16", grey.shape[::-1], grey.astype("<u2").tobytes()).save(tmp_path / "face16.png")
    proc = cli(
        "generate",
        "fal-ai/infinitalk",
        "--image",
        tmp_path / "face16.png",
        "--audio",
        ASSETS / "sample_speech.wav",
        "--num-frames",
        "41",
        "--out",
        tmp_path / "x.mp4",
    )
    assert proc.returncode == 0, proc.stderr
    (uploaded,) = _uploaded_pngs(fal_env)
    assert np.array_equal(uploaded[..., 0], grey // 257) and np.array_equal(uploaded[..., 2], grey // 257)


# --- audio ------------------------------------------------------------------------------------------------


def comfy_load_audio(path: Path) -> tuple[np.ndarray, int]:
    """ComfyUI v0.28.1 LoadAudio (``load`` + ``f32_pcm``) with numpy for torch: ``([1, C, T], rate)``."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate, channels = stream.codec_context.sample_rate, stream.channels
        frames = []
        for frame in container.decode(streams=stream.index):
            buffer = frame.to_ndarray()
            if buffer.shape[0] != channels:
                buffer = buffer.reshape(-1, channels).T
            frames.append(buffer)
    wav = np.concatenate(frames, axis=1)
    if wav.dtype == np.int16:
        wav = wav.astype(np.float32) / 2**15
    elif wav.dtype == np.int32:
        wav = wav.astype(np.float32) / 2**31
    return wav[None], rate


def _write_wav(path: Path, samples: np.ndarray, rate: int, width: int) -> None:
    """``samples``: int ``[C, T]`` written as little-endian PCM of ``width`` bytes."""
    interleaved = np.ascontiguousarray(samples.T).astype("<i4")
    raw = interleaved.view(np.uint8).reshape(-1, 4)[:, :width].tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[0])
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(raw)


def _random_pcm(channels: int, length: int, bits: int, seed: int = 0) -> np.ndarray:
    top = 2 ** (bits - 1)
    return np.random.default_rng(seed).integers(-top, top, (channels, length), dtype=np.int64)


@pytest.mark.parametrize(
    ("bits", "channels", "rate"),
    [(16, 1, 16000), (16, 2, 44100), (24, 2, 48000), (16, 6, 48000), (24, 6, 22050)],
)
def test_pcm_wav_matches_loadaudio_exactly(tmp_path, bits, channels, rate):
    pcm = _random_pcm(channels, 5000, bits)
    _write_wav(tmp_path / "a.wav", pcm, rate, bits // 8)
    audio = load_audio(tmp_path / "a.wav")
    reference, reference_rate = comfy_load_audio(tmp_path / "a.wav")
    assert audio["sample_rate"] == reference_rate == rate
    assert audio["waveform"].dtype == np.float32 and audio["waveform"].shape == (1, channels, 5000)
    np.testing.assert_array_equal(audio["waveform"], reference)
    np.testing.assert_array_equal(
        audio["waveform"][0], pcm / np.float64(2 ** (bits - 1))
    )  # channel order kept


def test_unsigned_8_bit_wav_is_centred_on_zero(tmp_path):
    with wave.open(str(tmp_path / "u8.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(bytes([0, 64, 128, 192, 255]))
    waveform = load_audio(tmp_path / "u8.wav")["waveform"]
    np.testing.assert_array_equal(waveform[0, 0], [-1.0, -0.5, 0.0, 0.5, 127 / 128])


def _encode(path: Path, codec: str, fmt: str, rate: int, layout: str, seconds: float = 1.0) -> None:
    t = np.arange(int(rate * seconds)) / rate
    channels = av.AudioLayout(layout).nb_channels
    tone = np.stack([0.5 * np.sin(2 * math.pi * (220 + 110 * c) * t) for c in range(channels)]).astype(
        np.float32
    )
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        stream.format = fmt
        if fmt.endswith("p") or fmt == "fltp":
            data = tone
        else:
            data = np.ascontiguousarray(tone.T).reshape(1, -1)
        if fmt.startswith("s16"):
            data = np.rint(data * 32767).astype(np.int16)
        elif fmt.startswith("s32"):
            data = np.rint(data * 2**31 * 0.999).astype(np.int32)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


@pytest.mark.parametrize(
    ("name", "codec", "fmt", "rate", "layout"),
    [
        ("a.flac", "flac", "s16", 44100, "stereo"),
        ("b.flac", "flac", "s32", 48000, "mono"),  # 24-bit-capable FLAC decodes as 32-bit
        ("c.mp3", "libmp3lame", "fltp", 44100, "stereo"),
        ("d.mp3", "libmp3lame", "s16p", 22050, "mono"),
        ("e.ogg", "libopus", "flt", 48000, "stereo"),
        ("f.m4a", "aac", "fltp", 24000, "5.1"),
    ],
)
def test_compressed_audio_matches_loadaudio(tmp_path, name, codec, fmt, rate, layout):
    _encode(tmp_path / name, codec, fmt, rate, layout)
    audio = load_audio(tmp_path / name)
    reference, reference_rate = comfy_load_audio(tmp_path / name)
    assert audio["sample_rate"] == reference_rate == rate
    assert (
        audio["waveform"].shape == reference.shape
        and audio["waveform"].shape[1] == av.AudioLayout(layout).nb_channels
    )
    np.testing.assert_array_equal(audio["waveform"], reference.astype(np.float32))
    loudness = np.sqrt((audio["waveform"][0, :, rate // 4 : rate // 2] ** 2).mean())
    assert 0.25 < loudness < 0.5  # the 0.5-amplitude tones, not silence or noise (RMS 0.354)


@pytest.mark.parametrize(
    ("content", "expected"), [(None, "no such file"), (b"RIFF....garbage", "cannot read audio")]
)
def test_unreadable_audio_is_an_input_error(tmp_path, content, expected):
    path = tmp_path / "speech.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=expected):
        load_audio(path)


def test_a_video_without_sound_has_no_audio_stream(tmp_path):
    with av.open(str(tmp_path / "silent.mp4"), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height = 32, 32
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(InputError, match="no audio stream"):
        load_audio(tmp_path / "silent.mp4")
