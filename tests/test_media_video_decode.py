"""Result MP4 → probe, IMAGE frames and AUDIO; damaged files → MediaDecodeError with the file kept."""

from __future__ import annotations

import dataclasses
import threading
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from test_media_samples import psnr, scene, to_u8, tone, write_video, write_webm_without_duration

from comfyui_fal_avatar.nodes.errors import MediaDecodeError
from comfyui_fal_avatar.nodes.media import decode_audio, decode_frames, probe_video, video_decode, video_probe

RID = "req-4f1c9e"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """20 frames 64x48 at 25 fps with 0.8 s of stereo 48 kHz AAC, and its source frames."""
    frames = scene(20, 48, 64)
    path = write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", to_u8(frames), audio=tone(0.8, 48000, 2))
    return path, frames


def test_probe_reads_headers(clip):
    info = probe_video(clip[0])
    assert (info.width, info.height, info.frame_count) == (64, 48, 20)
    assert info.fps == 25.0 and type(info.fps) is float
    assert info.duration_s == pytest.approx(0.8)
    assert info.has_audio and info.audio_sample_rate == 48000 and info.audio_channels == 2
    assert info.codec == "h264" and info.container == "mp4" and info.rotation == 0 and info.frame_count_exact


def test_probe_does_not_decode(clip, monkeypatch):
    real_open = av.open

    class NoDecoding:
        def __init__(self, container):
            self._container = container

        def __getattr__(self, name):
            if name in ("decode", "demux"):
                raise AssertionError(f"probe_video called container.{name}()")
            return getattr(self._container, name)

    monkeypatch.setattr(video_probe.av, "open", lambda *a, **k: NoDecoding(real_open(*a, **k)))
    assert probe_video(clip[0]).frame_count == 20


def test_decode_frames_matches_the_source(clip):
    frames = decode_frames(clip[0])
    assert frames.shape == (20, 48, 64, 3) and frames.dtype == torch.float32 and frames.is_contiguous()
    assert 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0
    assert psnr(frames, clip[1]) >= 35


def test_frames_equal_a_plain_conversion_and_no_helper_thread_outlives_the_call(clip):
    """The page-touching thread writes zeros ahead of the writer: every frame must still hold its pixels."""
    with av.open(str(clip[0])) as container:
        expected = [torch.from_numpy(f.to_ndarray(format="rgb24")) / 255.0 for f in container.decode(video=0)]
    assert torch.equal(decode_frames(clip[0]), torch.stack(expected))
    assert not [t for t in threading.enumerate() if t.name == "fal-avatar-prefault"]


@pytest.mark.parametrize("backwards", [False, True], ids=["in order", "backwards"])
@pytest.mark.parametrize("run", range(3))
def test_the_page_toucher_never_overwrites_a_claimed_frame(run, backwards):
    """Frames are claimed before they are written, in order (the writer meets the running toucher) or
    from the last one back (the toucher must stop at once): no written frame may end up with its zeros."""
    out = torch.empty((600, 64 * video_decode._Prefault._STRIDE), dtype=torch.float32)
    prefault = video_decode._Prefault(out, out.shape[0])
    try:
        for index in reversed(range(out.shape[0])) if backwards else range(out.shape[0]):
            prefault.claim(index)
            out[index].fill_(1.0)
    finally:
        prefault.close()
    assert bool((out == 1.0).all())


def test_max_frames_and_stride(clip):
    full = decode_frames(clip[0])
    assert torch.equal(decode_frames(clip[0], max_frames=5), full[:5])
    assert torch.equal(decode_frames(clip[0], stride=3), full[::3])
    assert torch.equal(decode_frames(clip[0], stride=3, max_frames=4), full[::3][:4])
    assert decode_frames(clip[0], max_frames=500).shape[0] == 20
    with pytest.raises(ValueError):
        decode_frames(clip[0], stride=0)


def test_progress_and_torch_threads_restored(clip):
    torch.set_num_threads(2)
    seen = []
    decode_frames(clip[0], on_progress=lambda done, total: seen.append((done, total)))
    assert torch.get_num_threads() == 2
    assert seen[-1] == (20, 20) and all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))


def test_decode_audio_is_trimmed_to_the_video(clip):
    audio = decode_audio(clip[0])
    waveform = audio["waveform"]
    assert audio["sample_rate"] == 48000 and waveform.dtype == torch.float32
    assert waveform.shape == (1, 2, 38400)  # 0.8 s exactly: the AAC tail padding is cut
    source = tone(0.8, 48000, 2)["waveform"]
    assert (
        float(torch.corrcoef(torch.stack([waveform[0, 0, 2000:30000], source[0, 0, 2000:30000]]))[0, 1])
        > 0.99
    )


def test_no_audio_track(tmp_path):
    path = write_video(tmp_path / "silent.mp4", to_u8(scene(3, 16, 16)))
    assert decode_audio(path) is None and not probe_video(path).has_audio


def test_single_frame_video(tmp_path):
    frames = scene(1, 32, 32)
    path = write_video(tmp_path / "one.mp4", to_u8(frames))
    assert probe_video(path).frame_count == 1
    decoded = decode_frames(path)
    assert decoded.shape == (1, 32, 32, 3) and psnr(decoded, frames) >= 35


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_honoured(tmp_path, rotation):
    stored = np.zeros((1, 32, 64, 3), np.uint8)
    stored[0, :8, :8] = 255  # white block in the stored top-left corner
    path = write_video(tmp_path / "rot.mp4", stored, rotation=rotation)
    info = probe_video(path)
    upright = torch.from_numpy(np.rot90(stored[0], rotation // 90).copy()).float() / 255  # counter-clockwise
    assert info.rotation == rotation and (info.height, info.width) == upright.shape[:2]
    decoded = decode_frames(path)
    assert decoded.shape[1:3] == upright.shape[:2]
    assert float((decoded[0] - upright).abs().mean()) < 0.02


def test_variable_frame_rate_decodes_every_frame(tmp_path):
    frames = scene(12, 32, 32)
    pts = [0, 40, 80, 100, 180, 200, 300, 310, 400, 500, 520, 700]  # milliseconds
    path = write_video(tmp_path / "vfr.mp4", to_u8(frames), pts=pts, time_base=Fraction(1, 1000))
    decoded = decode_frames(path)
    assert decoded.shape[0] == 12 and psnr(decoded, frames) >= 35


def test_container_without_frame_count(tmp_path):
    frames = scene(15, 32, 48)
    path = write_video(tmp_path / "clip.mkv", to_u8(frames), container="matroska")
    info = probe_video(path)
    assert not info.frame_count_exact and info.frame_count == 15  # estimated from duration x fps
    decoded = decode_frames(path)
    assert decoded.shape[0] == 15 and psnr(decoded, frames) >= 35


def test_webm_without_duration_counts_packets(tmp_path):
    frames = scene(12, 32, 32)
    path = write_webm_without_duration(tmp_path / "recording.webm", to_u8(frames))
    info = probe_video(path)
    assert info.codec == "vp9" and info.frame_count == 12 and info.duration_s == pytest.approx(0.48)
    decoded = decode_frames(path)
    assert decoded.shape[0] == 12 and psnr(decoded, frames) >= 30


@pytest.mark.parametrize("estimate", [1, 2, 40])  # 1: the tensor is regrown twice
def test_wrong_frame_estimates_grow_or_narrow(clip, monkeypatch, estimate):
    real_info = video_decode.video_info

    def wrong(*args):
        return dataclasses.replace(real_info(*args), frame_count=estimate, frame_count_exact=False)

    monkeypatch.setattr(video_decode, "video_info", wrong)
    frames = decode_frames(clip[0])
    monkeypatch.undo()
    assert torch.equal(frames, decode_frames(clip[0]))


def _assert_kept(err, path):
    assert RID in str(err.value) and err.value.request_id == RID
    assert err.value.path == str(path) and path.exists()


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    for call in (probe_video, decode_frames, decode_audio):
        with pytest.raises(MediaDecodeError) as err:
            call(path, request_id=RID)
        _assert_kept(err, path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaDecodeError, match="empty") as err:
        decode_frames(path, request_id=RID)
    _assert_kept(err, path)


@pytest.mark.parametrize("faststart", [True, False])
def test_truncated_file(clip, tmp_path, faststart):
    source = write_video(tmp_path / "src.mp4", to_u8(scene(30, 48, 64)), faststart=faststart)
    path = tmp_path / "cut.mp4"
    path.write_bytes(source.read_bytes()[: source.stat().st_size * 6 // 10])
    with pytest.raises(MediaDecodeError) as err:
        decode_frames(path, request_id=RID)
    _assert_kept(err, path)
    if faststart:
        assert "truncated" in str(err.value)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(MediaDecodeError, match="no video stream") as err:
        probe_video(path, request_id=RID)
    _assert_kept(err, path)


def test_threads_restored_after_a_decode_error(tmp_path):
    source = write_video(tmp_path / "src.mp4", to_u8(scene(30, 48, 64)), faststart=True)
    path = tmp_path / "cut.mp4"
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    torch.set_num_threads(2)
    with pytest.raises(MediaDecodeError):
        decode_frames(path)
    assert torch.get_num_threads() == 2
