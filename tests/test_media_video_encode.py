"""Source video payloads: IMAGE frames → H.264 MP4, files uploaded as is or re-encoded, bad input."""

from __future__ import annotations

import hashlib
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from test_media_samples import psnr, scene, to_u8, tone, write_video, write_webm_without_duration

from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.media import (
    decode_audio,
    decode_frames,
    encode_frames,
    encode_video_file,
    probe_video,
    validate_video_file,
)

AAC_FRAME = 1024


def _save(payload, path):
    path.write_bytes(payload.read_bytes())
    return path


def test_frames_round_trip_with_audio(tmp_path):
    frames = scene(25, 64, 80)
    payload = encode_frames(frames, 25.0, audio=tone(1.0, 44100, 2))
    assert payload.content_type == "video/mp4" and payload.data is not None and payload.path is None
    assert payload.info["frame_count"] == 25 and payload.info["has_audio"] and payload.warnings == ()
    path = _save(payload, tmp_path / "out.mp4")
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.frame_count) == (80, 64, 25.0, 25)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and info.audio_codec == "aac"
    assert psnr(decode_frames(path), frames) >= 35
    audio = decode_audio(path)
    assert audio["sample_rate"] == 44100 and audio["waveform"].shape[1] == 2
    assert abs(audio["waveform"].shape[2] - 44100) <= AAC_FRAME


def test_audio_longer_than_the_video_is_cut(tmp_path):
    payload = encode_frames(scene(10, 32, 32), 25.0, audio=tone(3.0, 16000, 1))
    audio = decode_audio(_save(payload, tmp_path / "out.mp4"))
    assert abs(audio["waveform"].shape[2] - 0.4 * 16000) <= AAC_FRAME


def test_odd_sizes_are_padded_by_one_pixel(tmp_path):
    frames = scene(5, 33, 47)
    payload = encode_frames(frames, 24.0)
    assert (payload.info["width"], payload.info["height"]) == (48, 34)
    decoded = decode_frames(_save(payload, tmp_path / "odd.mp4"))
    assert decoded.shape == (5, 34, 48, 3)
    assert psnr(decoded[:, :33, :47], frames) >= 35
    assert psnr(decoded[:, 33:, :47], frames[:, 32:33]) >= 30  # the padding repeats the last row


def test_one_frame_and_fractional_rates(tmp_path):
    payload = encode_frames(scene(1, 16, 16).numpy(), 29.97)
    info = probe_video(_save(payload, tmp_path / "one.mp4"))
    assert info.frame_count == 1 and info.fps == pytest.approx(29.97)


def test_encoding_is_deterministic():
    frames, audio = scene(8, 32, 48), tone(0.32, 48000, 2)
    first = encode_frames(frames, 25.0, audio=audio)
    second = encode_frames(frames.clone(), 25.0, audio=audio)
    assert first.data == second.data and first.sha256 == second.sha256


def test_rgba_and_out_of_range_frames_warn_once():
    frames = torch.cat([scene(3, 16, 16), torch.full((3, 16, 16, 1), 0.5)], dim=-1)
    frames[1, 0, 0, 0] = 2.0
    payload = encode_frames(frames, 25.0)
    assert (
        len(payload.warnings) == 2 and "1 frames" in payload.warnings[0] and "3 frames" in payload.warnings[1]
    )


@pytest.mark.parametrize(
    ("frames", "fps", "needle"),
    [
        (torch.zeros((0, 16, 16, 3)), 25.0, "zero-frame"),
        (torch.zeros((4, 16, 16)), 25.0, "4 dimensions"),
        (torch.zeros((4, 16, 16, 3)), 0.0, "frame rate"),
        (torch.zeros((4, 16, 16, 3)), float("nan"), "frame rate"),
    ],
)
def test_bad_frames_are_input_errors(frames, fps, needle):
    with pytest.raises(InputError, match=needle) as err:
        encode_frames(frames, fps)
    assert err.value.field == "frames"


def test_nan_frame_is_an_input_error():
    frames = scene(4, 16, 16)
    frames[3, 1, 1, 1] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        encode_frames(frames, 25.0)


def test_mp4_h264_file_is_uploaded_as_is(tmp_path):
    path = write_video(tmp_path / "source.mp4", to_u8(scene(6, 32, 32)), audio=tone(0.24, 48000, 2))
    payload = encode_video_file(path)
    assert payload.path == path and payload.data is None and payload.warnings == ()
    assert payload.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert payload.size == path.stat().st_size and payload.read_bytes() == path.read_bytes()
    assert payload.info["reencoded"] is False and payload.info["frame_count"] == 6
    assert encode_video_file(path).sha256 == payload.sha256
    assert validate_video_file(path).frame_count == 6


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("clip.mov", {"container": "mov"}),
        ("clip.mkv", {"container": "matroska", "codec": "mpeg4"}),
        ("clip.mp4", {"pix_fmt": "yuv444p"}),
    ],
)
def test_other_files_are_reencoded(tmp_path, name, options):
    frames = scene(9, 32, 48)
    path = write_video(tmp_path / name, to_u8(frames), audio=tone(0.36, 48000, 2), **options)
    payload = encode_video_file(path)
    assert payload.data is not None and payload.info["reencoded"] is True
    assert any("re-encoded" in w for w in payload.warnings)
    out = _save(payload, tmp_path / "out.mp4")
    info = probe_video(out)
    assert info.container == "mp4" and info.codec == "h264" and info.frame_count == 9 and info.has_audio
    assert psnr(decode_frames(out), frames) >= 30
    assert encode_video_file(path).sha256 == payload.sha256


def test_browser_recording_without_duration_is_reencoded(tmp_path):
    path = write_webm_without_duration(tmp_path / "recording.webm", to_u8(scene(7, 32, 32)))
    payload = encode_video_file(path)
    assert payload.info["reencoded"] and probe_video(_save(payload, tmp_path / "out.mp4")).frame_count == 7


def test_rotated_source_is_reencoded_upright(tmp_path):
    stored = np.zeros((2, 32, 64, 3), np.uint8)
    stored[:, :8, :8] = 255
    path = write_video(tmp_path / "phone.mp4", stored, rotation=90)
    payload = encode_video_file(path)
    out = _save(payload, tmp_path / "upright.mp4")
    info = probe_video(out)
    assert info.rotation == 0 and (info.width, info.height) == (32, 64)
    assert torch.allclose(decode_frames(out), decode_frames(path), atol=0.1)


def _frame_times(path):
    with av.open(str(path)) as container:
        return [round(float(frame.pts * frame.time_base), 3) for frame in container.decode(video=0)]


def test_variable_frame_rate_source_keeps_every_frame_and_its_timing(tmp_path):
    pts = [0, 40, 80, 100, 180, 200, 300, 310, 400, 500]
    source = write_video(
        tmp_path / "vfr.mkv",
        to_u8(scene(10, 32, 32)),
        pts=pts,
        time_base=Fraction(1, 1000),
        container="matroska",
    )
    out = _save(encode_video_file(source), tmp_path / "vfr.mp4")
    assert decode_frames(out).shape[0] == 10
    assert _frame_times(out) == [p / 1000 for p in pts]


def test_unreadable_files_are_input_errors(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01" * 5000)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path, needle in (
        (garbage, "cannot be read"),
        (empty, "empty"),
        (tmp_path / "missing.mp4", "does not exist"),
    ):
        with pytest.raises(InputError, match=needle) as err:
            encode_video_file(path, field="source")
        assert err.value.field == "source"


@pytest.mark.parametrize(("name", "fmt"), [("none.mp4", "mp4"), ("none.mkv", "matroska")])
def test_zero_frame_video_file_is_an_input_error(tmp_path, name, fmt):
    path = tmp_path / name
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        out.start_encoding()  # header and trailer only, no frame
    with pytest.raises(InputError, match="cannot be read as a video") as err:
        encode_video_file(path)
    assert err.value.field == "video"
