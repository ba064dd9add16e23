"""Videos side by side: tiles of different frame rates and sizes on one absolute timeline at the fastest
tile's rate, scaled to a common height, labelled, with the caller's sound; a failed tile is a dark panel."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from comfyui_fal_avatar.nodes.media import probe_video
from comfyui_fal_avatar.nodes.media.side_by_side import Tile, side_by_side
from comfyui_fal_avatar.nodes.media.video_decode import read_audio


def _clip(path: Path, fps: Fraction, count: int, size: tuple[int, int], step: int) -> Path:
    """``count`` frames at ``fps`` whose luma is 20 + ``step`` × the frame's index."""
    width, height = size
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "5", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for i in range(count):
            planes = np.full((height * 3 // 2, width), 128, np.uint8)
            planes[:height] = 20 + step * i
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def _lumas(path: Path, x: int, y: int) -> list[float]:
    """The luma around pixel (x, y) of every frame."""
    with av.open(str(path)) as container:
        return [float(f.to_ndarray()[y - 2 : y + 2, x - 2 : x + 2].mean()) for f in container.decode(video=0)]


def test_tiles_of_16_and_48_fps_sit_on_the_absolute_timeline_at_a_common_height(tmp_path):
    slow = _clip(tmp_path / "slow.mp4", Fraction(16), 32, (96, 64), 6)  # 2 s
    fast = _clip(tmp_path / "fast.mp4", Fraction(48), 72, (64, 128), 2)  # 1.5 s: holds its last frame
    rate = 16000
    sound = (0.2 * np.sin(np.arange(rate) / 4)).astype(np.float32)[None]  # 1 s: silence after it
    result = side_by_side(
        [Tile(slow, ("slow", "$0.10")), Tile(fast, ("fast",))], tmp_path / "out.mp4", seconds=2.0,
        audio=(sound, rate),
    )  # fmt: skip
    info = probe_video(result.path)
    assert (info.width, info.height) == (96 + 32, 64)  # the 64x128 tile at height 64 is 32 wide
    assert info.fps == pytest.approx(48) and info.frame_count == result.frames == 96
    assert info.duration_s == pytest.approx(2.0, abs=1 / 48)
    slow_tile, fast_tile = _lumas(result.path, 48, 56), _lumas(result.path, 96 + 16, 56)
    for t in range(96):
        assert slow_tile[t] == pytest.approx(20 + 6 * (t // 3), abs=3), f"output frame {t}: slow tile"
        assert fast_tile[t] == pytest.approx(20 + 2 * min(t, 71), abs=3), f"output frame {t}: fast tile"
    samples, sample_rate = read_audio(result.path)
    assert sample_rate == rate and samples.shape[1] == pytest.approx(2 * rate, abs=rate // 40)
    assert np.abs(samples[:, : rate - 2000]).max() > 0.1 and np.abs(samples[:, rate + 2000 :]).max() < 0.01


def test_a_failed_tile_is_a_dark_labelled_panel_as_wide_as_the_narrowest_and_the_bytes_repeat(tmp_path):
    clip = _clip(tmp_path / "clip.mp4", Fraction(25), 25, (80, 64), 4)
    tiles = [
        Tile(None, ("fabric", "FAILED", "runner_disconnected")),
        Tile(clip, ("omnihuman", "~$0.48 · 5.0 s")),
    ]
    first = side_by_side(tiles, tmp_path / "a.mp4", seconds=1.0)
    assert (first.width, first.height, first.frames, first.has_audio) == (160, 64, 25, False)
    with av.open(str(first.path)) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert rgb[50:, :80].mean() < 40  # the dark panel below its label
    assert rgb[:12, :80].max() > 200  # the label's white letters
    again = side_by_side(tiles, tmp_path / "b.mp4", seconds=1.0)
    assert again.path.read_bytes() == first.path.read_bytes()
