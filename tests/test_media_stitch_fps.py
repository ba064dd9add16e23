"""Stitching at the model's own frame rate: parts at 29.97 or 16 fps stay at that rate, and each part sits on
the absolute timeline (35 joins drift by no frame), with the caller's sound over the whole length."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from comfyui_fal_avatar.nodes.media import probe_video
from comfyui_fal_avatar.nodes.media.stitch import PLAN_FPS, StitchPart, on_output_timeline, stitch

W, H = 64, 32


def _part(path: Path, first: int, count: int, fps: Fraction) -> Path:
    """``count`` frames at ``fps`` whose luma is 30 + (output timeline frame % 200)."""
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "5", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        for i in range(count):
            planes = np.full((H * 3 // 2, W), 128, np.uint8)
            planes[:H] = 30 + (first + i) % 200
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(16)], ids=["29.97", "16"])
def test_parts_keep_their_fps_and_sit_on_the_absolute_timeline(tmp_path, fps):
    lengths, overlap = [17] * 35, 8  # planning frames (25/s): 17 × 25/29.97 is no whole number of frames
    starts = [i * (lengths[0] - overlap) for i in range(len(lengths))]
    total = starts[-1] + lengths[-1]
    plan = [
        StitchPart(tmp_path / f"p{i}.mp4", s, n) for i, (s, n) in enumerate(zip(starts, lengths, strict=True))
    ]
    moved, out_total = on_output_timeline(plan, total, fps)
    assert out_total == round(Fraction(total) * fps / PLAN_FPS)
    for part in moved:
        _part(part.path, part.start_frame, part.frames, fps)
    rate = 16000
    sound = (0.1 * np.sin(np.arange(round(total / PLAN_FPS * rate)) / 5)).astype(np.float32)[None]
    result = stitch(plan, tmp_path / "out.mp4", total_frames=total, audio=(sound, rate))
    info = probe_video(result.path)
    assert info.fps == pytest.approx(float(fps), abs=1e-3), "never resampled to 25"
    assert result.frames == info.frame_count == out_total
    assert info.duration_s == pytest.approx(total / PLAN_FPS, abs=1.5 / float(fps))
    with av.open(str(result.path)) as container:
        lumas = [float(f.to_ndarray()[:H].mean()) for f in container.decode(video=0)]  # the Y plane
    last = moved[-1]
    solo = range(moved[-2].start_frame + moved[-2].frames, out_total)  # the last part alone, after 34 joins
    assert len(solo) > 3
    for t in solo:
        assert lumas[t] == pytest.approx(30 + t % 200, abs=2), f"frame {t} of the last part drifted"
    assert last.start_frame + last.frames == out_total
