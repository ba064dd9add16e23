"""Stitching segment videos: timeline geometry, overlap blends, one sound track, atomic and lean output.

The parts are made here with PyAV: frame brightness (Y) encodes the timeline frame index, and the U plane
says which part a frame came from (64 for even parts, 192 for odd ones), so a blend shows up as U moving
from one value to the other. Sound carries short clicks at known times on a quiet tone.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from comfyui_fal_avatar.nodes.errors import MediaDecodeError
from comfyui_fal_avatar.nodes.media import probe_video
from comfyui_fal_avatar.nodes.media.stitch import StitchPart, StitchResult, stitch

# 9 macroblocks wide: a width where x264's AVX-512 macroblock-tree code misread memory (nodes/media/x264.py)
W, H = 144, 64
FPS = 25
RATE = 48000
AAC_FRAME = 1024
U_OF = (64, 192)
CLICK_TOLERANCE = 48  # samples at 48 kHz = 1 ms


def tone(seconds: float, rate: int, freq: float, amp: float = 0.05, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[None], channels, axis=0)


def add_clicks(samples: np.ndarray, rate: int, times_s) -> np.ndarray:
    """2 ms Hann-windowed 3 kHz bursts (peak 0.8) centred on ``times_s``."""
    half = round(0.001 * rate)
    shape = np.hanning(2 * half + 1) * np.sin(
        2 * np.pi * 3000 * np.arange(-half, half + 1) / rate + np.pi / 2
    )
    for time in times_s:
        centre = round(time * rate)
        samples[:, centre - half : centre + half + 1] += (0.8 * shape).astype(np.float32)
    return samples


def click_times(samples: np.ndarray, rate: int) -> list[float]:
    """Centres of the bursts found in channel 0 (peaks above 0.4, at least 20 ms apart)."""
    loud = np.flatnonzero(np.abs(samples[0]) > 0.4)
    if not len(loud):
        return []
    groups = np.split(loud, np.flatnonzero(np.diff(loud) > 0.02 * rate) + 1)
    return [(g[0] + np.argmax(np.abs(samples[0, g[0] : g[-1] + 1]))) / rate for g in groups]


def make_part(path: Path, start: int, frames: int, index: int, *, sound=None, size=(W, H), texture=False):
    """A segment file: Y = 30 + timeline frame, U = part marker; ``sound`` = mono float32 samples at RATE.

    ``texture`` adds a moving pattern to Y (motion for x264's macroblock tree; the mean no longer holds).
    """
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS, options={"crf": "5", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=RATE, layout="mono") if sound is not None else None
        for i in range(frames):
            planes = np.full((height * 3 // 2, width), 128, np.uint8)
            planes[:height] = 30 + start + i
            if texture:
                t = start + i
                planes[:height] += (20 + 15 * np.sin(xx / 5 + t / 2) + 10 * np.cos(yy / 7 - t / 3)).astype(
                    np.uint8
                )
            planes[height : height + height // 4] = U_OF[index % 2]
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            piece = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(sound[None]), format="fltp", layout="mono"
            )
            piece.sample_rate, piece.pts = RATE, 0
            out.mux(audio.encode(piece))
            out.mux(audio.encode(None))
    return path


def layout(lengths, overlaps):
    """Start frames for parts of ``lengths`` with ``overlaps`` between neighbours."""
    starts = [0]
    for length, overlap in zip(lengths[:-1], overlaps, strict=True):
        starts.append(starts[-1] + length - overlap)
    return starts


def make_parts(folder: Path, lengths, overlaps, *, sounds=None, actual=None, texture=False):
    """Parts on disk; ``actual[i]`` frames in file i (default: as asked), ``sounds[i]`` its mono audio."""
    parts = []
    for i, (start, frames) in enumerate(zip(layout(lengths, overlaps), lengths, strict=True)):
        held = actual[i] if actual else frames
        sound = sounds[i] if sounds else None
        path = make_part(folder / f"part{i}.mp4", start, held, i, sound=sound, texture=texture)
        parts.append(StitchPart(path, start, frames))
    return parts


def decode_planes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean Y and mean U of every frame."""
    ys, us = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            planes = frame.to_ndarray()
            height = frame.height
            ys.append(planes[:height].mean())
            us.append(planes[height : height + height // 4].mean())
    return np.array(ys), np.array(us)


def decode_sound(path: Path) -> tuple[np.ndarray, int]:
    """All decoded samples of the first audio track (not trimmed to the video)."""
    chunks = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            chunks.append(frame.to_ndarray())
        return np.concatenate(chunks, axis=1), stream.codec_context.sample_rate


def decoder_threads(path: Path) -> int:
    """Frame threads FFmpeg picks for this file with ``thread_type='AUTO'`` (cores + 1, at most 16)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next(container.decode(stream))
        return stream.codec_context.thread_count


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


LENGTHS = [60, 57, 61]
OVERLAPS = [10, 8]
TOTAL = 60 + 57 + 61 - 18 - 5  # the last part runs 5 frames past the end


def test_frames_follow_the_timeline_and_blend_across_each_overlap(tmp_path):
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS)
    out = tmp_path / "long.mp4"
    result = stitch(parts, out, total_frames=TOTAL)
    assert result == StitchResult(out, TOTAL, W, H, TOTAL / FPS, False)
    info = probe_video(out)
    assert (info.frame_count, info.fps, info.width, info.height) == (TOTAL, 25.0, W, H)
    assert info.duration_s == pytest.approx(TOTAL / FPS) and not info.has_audio
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    ys, us = decode_planes(out)
    assert len(ys) == TOTAL
    assert np.abs(ys - (30 + np.arange(TOTAL))).max() <= 2  # every frame sits at its timeline index
    covering = np.zeros(TOTAL, int)
    for i, part in enumerate(parts):
        covering[part.start_frame : part.start_frame + part.frames] = i
    overlap_frames = set()
    for i, overlap in enumerate(OVERLAPS):
        first = parts[i + 1].start_frame
        span = np.arange(first, first + overlap)
        overlap_frames.update(span.tolist())
        a, b = U_OF[i % 2], U_OF[(i + 1) % 2]
        moved = (us[span] - a) / (b - a)  # 0 = part i, 1 = part i+1
        assert np.all(np.diff(moved) > 0), moved
        assert moved == pytest.approx((span - first + 0.5) / overlap, abs=0.03)
    solo = np.array([t for t in range(TOTAL) if t not in overlap_frames])
    expected_u = np.array([U_OF[covering[t] % 2] for t in solo])
    assert np.abs(us[solo] - expected_u).max() <= 2


def test_parts_audio_is_joined_on_the_timeline_without_gap_or_doubled_section(tmp_path):
    starts = layout(LENGTHS, OVERLAPS)
    local_clicks = ([0.3, 1.5], [0.6, 1.2], [0.5, 1.9])  # seconds into each part, outside the overlaps
    sounds = [
        add_clicks(tone(frames / FPS, RATE, 200 + 150 * i, amp=0.1), RATE, local_clicks[i])[0]
        for i, frames in enumerate(LENGTHS)
    ]
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS, sounds=sounds)
    out = tmp_path / "long.mp4"
    assert stitch(parts, out, total_frames=TOTAL).has_audio
    samples, rate = decode_sound(out)
    assert rate == RATE and samples.shape[0] == 1
    assert abs(samples.shape[1] - TOTAL * RATE // FPS) <= AAC_FRAME
    expected = sorted(
        start / FPS + t for start, clicks in zip(starts, local_clicks, strict=True) for t in clicks
    )
    found = click_times(samples, rate)
    assert len(found) == len(expected)
    assert np.abs(np.array(found) - expected).max() <= CLICK_TOLERANCE / rate
    # a continuous sound everywhere: the equal-power fade keeps the level of two different tones
    window = RATE // 50
    body = samples[0, : TOTAL * RATE // FPS - window]
    away_from_clicks = np.ones(len(body) // window, bool)
    for t in expected:
        away_from_clicks[max(0, int(t * RATE) // window - 1) : int(t * RATE) // window + 2] = False
    rms = np.sqrt((body[: len(away_from_clicks) * window].reshape(-1, window) ** 2).mean(axis=1))
    level = rms[away_from_clicks]
    assert level.min() > 0.7 * 0.1 / np.sqrt(2) and level.max() < 1.3 * 0.1 / np.sqrt(2)


@pytest.mark.parametrize(("rate", "channels", "extra_s"), [(48000, 2, 1.0), (37800, 1, -0.5)])
def test_given_audio_is_the_one_sound_track_with_clicks_in_place(tmp_path, rate, channels, extra_s):
    starts = layout(LENGTHS, OVERLAPS)
    part_sounds = [add_clicks(tone(f / FPS, RATE, 500), RATE, [0.9])[0] for f in LENGTHS]
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS, sounds=part_sounds)
    duration = TOTAL / FPS
    joins = [s / FPS for s in starts[1:]]  # at each join: its start, middle and end, and just after
    clicks = [0.1] + [t + d for t in joins for d in (0.002, 0.18, 0.3, 0.45)] + [duration - 0.2]
    length = duration + extra_s  # longer audio is cut at the video's end, shorter is padded with silence
    placed = [t for t in clicks + [duration + 0.5] if t < length - 0.01]
    user = add_clicks(tone(length, rate, 330, channels=channels), rate, placed)
    out = tmp_path / "long.mp4"
    result = stitch(parts, out, total_frames=TOTAL, audio=(user, rate))
    assert result.has_audio and result.duration_s == pytest.approx(duration)
    samples, out_rate = decode_sound(out)
    assert samples.shape[0] == channels and out_rate == (rate if rate == 48000 else 48000)
    assert abs(samples.shape[1] - round(duration * out_rate)) <= AAC_FRAME
    found = click_times(samples, out_rate)
    expected = [t for t in placed if t < duration - 0.01]
    assert len(found) == len(expected)
    assert np.abs(np.array(found) - expected).max() <= CLICK_TOLERANCE / RATE
    if length < duration:
        assert np.abs(samples[:, round((length + 0.05) * out_rate) :]).max() < 0.01
    if rate == out_rate:  # the whole track lines up with the original (no offset at any join)
        n = min(samples.shape[1], user.shape[1]) - 200
        ref, got = user[0, 100:n], samples[0]
        lags = range(-40, 41)
        scores = [np.dot(ref, got[100 + lag : n + lag]) for lag in lags]
        assert lags[int(np.argmax(scores))] == 0
        assert np.corrcoef(ref, got[100:n])[0, 1] > 0.98


_CHILD = """
import hashlib, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_media_stitch import StitchPart, stitch, user_audio
spec = json.loads(sys.argv[1])
parts = [StitchPart(Path(path), start, frames) for path, start, frames in spec["parts"]]
for name, audio in (("given", user_audio()), ("parts", None)):
    out = Path(spec["out"] + name)
    stitch(parts, out, total_frames=spec["total"], audio=audio)
    print(hashlib.sha256(out.read_bytes()).hexdigest())
"""


def user_audio():
    return tone(TOTAL / FPS, RATE, 440, channels=2), RATE


def test_the_same_inputs_give_the_same_bytes_whatever_the_heap_holds(tmp_path):
    """Twice in this process, then in children where ``MALLOC_PERTURB_`` fills fresh and freed heap blocks
    with other bytes: any read of memory nobody wrote (as x264's AVX-512 code did) changes the output."""
    sounds = [tone(f / FPS, RATE, 200 + 100 * i)[0] for i, f in enumerate(LENGTHS)]
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS, sounds=sounds, texture=True)
    expected = []
    for audio in (user_audio(), None):
        first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
        stitch(parts, first, total_frames=TOTAL, audio=audio)
        stitch(parts, second, total_frames=TOTAL, audio=audio)
        assert digest(first) == digest(second)
        expected.append(digest(first))
    spec = {"parts": [[str(p.path), p.start_frame, p.frames] for p in parts], "total": TOTAL}
    children = {
        value: subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                json.dumps({**spec, "out": str(tmp_path / f"child{value}")}),
                str(Path(__file__).parent),
            ],
            env={**os.environ, "MALLOC_PERTURB_": str(value)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for value in (1, 85, 170, 255)
    }
    for value, child in children.items():
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0
        assert out.split() == expected, f"MALLOC_PERTURB_={value} changed the bytes"


def test_a_frame_more_or_two_fewer_in_a_file_is_tolerated(tmp_path):
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS, actual=[61, 55, 59])
    out = tmp_path / "long.mp4"
    stitch(parts, out, total_frames=TOTAL)
    ys, us = decode_planes(out)
    assert len(ys) == TOTAL
    # part 1 lacks its last two frames (inside the second overlap): its last frame is held there
    first = parts[2].start_frame
    assert np.abs(ys[:first] - (30 + np.arange(first))).max() <= 2
    moved = (us[first : first + OVERLAPS[1]] - U_OF[1]) / (U_OF[0] - U_OF[1])
    assert np.all(np.diff(moved) > 0)


@pytest.mark.parametrize("actual", [54, 60])
def test_a_part_with_a_wrong_frame_count_is_refused_naming_the_file(tmp_path, actual):
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS, actual=[60, actual, 61])
    out = tmp_path / "long.mp4"
    with pytest.raises(MediaDecodeError, match=f"part1.mp4 .*holds {actual} frames, 57 were expected") as err:
        stitch(parts, out, total_frames=TOTAL)
    assert err.value.path == str(parts[1].path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part0.mp4", "part1.mp4", "part2.mp4"]


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_truncated_or_corrupt_part_fails_cleanly_and_leaves_out_untouched(tmp_path):
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS)
    out = tmp_path / "long.mp4"
    out.write_bytes(b"the previous result")
    _truncate(parts[2].path, 0.5)  # moov first (faststart): the index promises frames the file lacks
    with pytest.raises(
        MediaDecodeError, match=r"part2.mp4 \(it is truncated: \d+ frames could be decoded"
    ) as err:
        stitch(parts, out, total_frames=TOTAL)
    assert err.value.path == str(parts[2].path)
    parts[1].path.write_bytes(b"\x00" * 4096)
    with pytest.raises(MediaDecodeError, match="part1.mp4"):
        stitch(parts, out, total_frames=TOTAL)
    assert out.read_bytes() == b"the previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "part0.mp4", "part1.mp4", "part2.mp4"]


def test_a_failure_while_encoding_leaves_no_partial_output(tmp_path):
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS)
    out = tmp_path / "long.mp4"

    def cancel(done, total):
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stitch(parts, out, total_frames=TOTAL, on_progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part0.mp4", "part1.mp4", "part2.mp4"]


def test_a_part_of_another_size_is_scaled_to_the_first_parts_size(tmp_path):
    starts = layout(LENGTHS, OVERLAPS)
    parts = make_parts(tmp_path, LENGTHS, OVERLAPS)
    odd = make_part(tmp_path / "big.mp4", starts[1], LENGTHS[1], 1, size=(96, 72))
    parts[1] = StitchPart(odd, starts[1], LENGTHS[1])
    out = tmp_path / "long.mp4"
    assert (stitch(parts, out, total_frames=TOTAL).width, probe_video(out).height) == (W, H)
    ys, _ = decode_planes(out)
    assert np.abs(ys - (30 + np.arange(TOTAL))).max() <= 2


def test_many_parts_are_streamed_two_open_at_a_time_with_few_frames_alive(tmp_path):
    lengths = [31, 33, 31, 29, 33, 31, 29, 30]
    overlaps = [10, 11, 12, 10, 11, 12, 10]
    total = sum(lengths) - sum(overlaps)
    assert total < 200  # progress is then reported after every frame
    parts = make_parts(tmp_path, lengths, overlaps, sounds=[tone(f / FPS, RATE, 300)[0] for f in lengths])
    gc.collect()

    def alive() -> tuple[int, int]:
        """Frames and open input files made since the freeze below, in one pass over the objects (exact
        types: no isinstance on every object, which also trips deprecation shims in torch)."""
        kinds = [type(o) for o in gc.get_objects()]
        return kinds.count(av.VideoFrame), kinds.count(av.container.InputContainer)

    # gc.get_objects() leaves out frozen objects: each call then walks only what the stitch made, not the
    # whole heap of a process that imported torch (which made this test one of the suite's slowest). What
    # is alive now stays frozen, like everything imported before the tests ran (conftest.py): unfreezing
    # would hand all of it back to the collector.
    gc.freeze()
    base = alive()
    seen: list[tuple[int, int]] = []
    progress: list[int] = []

    def watch(done, total_frames):
        progress.append(done)
        frames, files = alive()
        seen.append((frames - base[0], files - base[1]))

    stitch(parts, tmp_path / "long.mp4", total_frames=total, on_progress=watch)
    assert progress == list(range(1, total + 1))
    # Alive: the blended frame just encoded; per open part its last frame and the frame PyAV keeps ready
    # for the decoder's next output; when a file drains, the frames its frame threads delayed (threads − 1,
    # one of them the last). Buffering a part (29-33 frames) would exceed this, and so would buffering an
    # overlap (10-12) on machines with up to 8 cores.
    threads = decoder_threads(parts[0].path)
    assert max(frames for frames, _ in seen) <= 5 + max(0, threads - 2)
    assert max(open_files for _, open_files in seen) == 4  # two parts (video + audio reader each)
    assert len(decode_planes(tmp_path / "long.mp4")[0]) == total


@pytest.mark.parametrize(
    ("starts", "frames", "total", "message"),
    [
        ([1, 40], [50, 50], 80, "start at frame 0"),
        ([0, 50], [50, 50], 90, "must overlap part 0"),
        ([0, 45, 48], [50, 50, 50], 95, "overlaps part 0"),
        ([0, 40], [50, 50], 95, "must end the timeline"),
        ([0, 40], [50, 50], 0, "at least 1"),
    ],
)
def test_a_bad_layout_is_a_programming_error(tmp_path, starts, frames, total, message):
    parts = [
        StitchPart(tmp_path / f"p{i}.mp4", s, f) for i, (s, f) in enumerate(zip(starts, frames, strict=True))
    ]
    with pytest.raises(ValueError, match=message):
        stitch(parts, tmp_path / "out.mp4", total_frames=total)
