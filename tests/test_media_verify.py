"""Is a result video whole: check_header (headers + packet index) and verify_video (every frame decoded)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from test_media_samples import scene, scramble_frames, to_u8, tone, write_video

from comfyui_fal_avatar.nodes.errors import MediaDecodeError
from comfyui_fal_avatar.nodes.media import check_header, decode_frames, verify_video

RID = "req-9a1b"
CHECKS = [check_header, verify_video]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """30 frames 128x96 with 1.2 s of stereo AAC, index at the front (as fal's results are)."""
    folder = tmp_path_factory.mktemp("verify")
    return write_video(
        folder / "clip.mp4", to_u8(scene(30, 96, 128)), audio=tone(1.2, 48000, 2), faststart=True
    )


def damaged_copy(clip: Path, tmp_path: Path, change) -> Path:
    data = bytearray(clip.read_bytes())
    path = tmp_path / "damaged.mp4"
    path.write_bytes(change(data) or data)
    return path


def video_packets(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of each video packet in the file."""
    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]


@pytest.mark.parametrize("check", CHECKS)
def test_a_whole_file_passes_and_gives_its_facts(clip, check):
    info = check(clip, request_id=RID, expected_size=clip.stat().st_size)
    assert (info.width, info.height, info.frame_count) == (128, 96, 30) and info.has_audio


@pytest.mark.parametrize("check", CHECKS)
def test_a_size_other_than_fal_stated_fails(clip, check):
    with pytest.raises(MediaDecodeError) as err:
        check(clip, request_id=RID, expected_size=clip.stat().st_size + 1)
    assert (
        err.value.detail == f"it has {clip.stat().st_size} bytes where fal stated {clip.stat().st_size + 1}"
    )
    assert err.value.request_id == RID and err.value.path == str(clip)


def test_a_cut_off_file_fails_even_when_its_index_is_intact(clip, tmp_path):
    path = damaged_copy(clip, tmp_path, lambda data: data[: len(data) // 2])
    with pytest.raises(MediaDecodeError, match="cut off") as err:
        check_header(path, request_id=RID)
    assert err.value.detail.startswith("it is cut off: ") and err.value.detail.endswith(
        " of 30 video frames are present"
    )
    with pytest.raises(MediaDecodeError):  # decoding trips over the cut first
        verify_video(path, request_id=RID)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize(
    "body", [b"<html><body><h1>502 Bad Gateway</h1></body></html>\n", bytes(range(256)) * 64, b""]
)
def test_something_that_is_not_a_video_fails(tmp_path, check, body):
    path = tmp_path / "result.mp4"
    path.write_bytes(body)
    with pytest.raises(MediaDecodeError) as err:
        check(path, request_id=RID)
    assert err.value.detail.startswith("it does not open as a video")
    assert path.is_file()  # kept for inspection


@pytest.mark.parametrize("check", CHECKS)
def test_a_missing_file_fails(tmp_path, check):
    with pytest.raises(MediaDecodeError, match="cannot read the file"):
        check(tmp_path / "gone.mp4", request_id=RID)


@pytest.mark.parametrize("check", CHECKS)
def test_a_file_without_video_fails(tmp_path, check):
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(MediaDecodeError, match="no video stream"):
        check(path, request_id=RID)


def test_damaged_frames_pass_the_header_check_but_not_the_full_one(clip, tmp_path):
    """Bytes changed inside three P-frames: the index and the NAL framing are intact, only decoding shows
    the damage."""
    path = tmp_path / "scrambled.mp4"
    path.write_bytes(clip.read_bytes())
    scramble_frames(path)
    assert check_header(path, request_id=RID).frame_count == 30
    with pytest.raises(MediaDecodeError) as err:
        verify_video(path, request_id=RID)
    assert "damaged" in err.value.detail or "decoding failed" in err.value.detail
    assert err.value.request_id == RID
    with pytest.raises(MediaDecodeError, match="is damaged"):  # the frames output refuses it too
        decode_frames(path, request_id=RID)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("where", ["keyframe", "middle", "end"])
def test_zeroed_bytes_inside_a_frame_fail_without_decoding(clip, tmp_path, check, where):
    """A zero-filled run (a failed write, a sparse download) is impossible inside H.264 frame data: both
    checks find it from the bytes alone, even where the decoder would accept them."""
    packets = video_packets(clip)
    index = {"keyframe": 0, "middle": 15, "end": 29}[where]
    offset, size = packets[index]

    def zero(data: bytearray) -> None:
        data[offset + size // 2 : offset + size // 2 + 16] = bytes(16)

    path = damaged_copy(clip, tmp_path, zero)
    with pytest.raises(MediaDecodeError) as err:
        check(path, request_id=RID)
    assert err.value.detail == f"the data of video frame {index + 1} is damaged"


def test_the_header_check_decodes_nothing(clip, monkeypatch):
    import av.packet

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("check_header decoded a packet")

    monkeypatch.setattr(av.packet.Packet, "decode", no_decoding)
    assert check_header(clip).frame_count == 30
