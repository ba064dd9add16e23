"""Media made on the fly for the media tests (helpers only; imported by the other test_media_* files)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

# The encoders' fastest settings: the files are inputs of the tests, their quality is of no concern (libvpx's
# defaults take 16 times the CPU of its real-time mode).
_VPX_REALTIME = {"deadline": "realtime", "cpu-used": "8"}
FAST_OPTIONS = {
    "libx264": {"preset": "ultrafast", "crf": "10"},
    "libvpx": _VPX_REALTIME,
    "libvpx-vp9": _VPX_REALTIME,
}


def scene(count: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """IMAGE frames [N,H,W,3] float32: a smooth moving texture with mild colour (camera-like content)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phases = rng.uniform(0, 6.28, 3).astype(np.float32)
    out = torch.empty((count, height, width, 3), dtype=torch.float32)
    for i in range(count):
        luma = 0.5 + 0.2 * np.sin(xx / 11 + i / 4 + phases[0]) + 0.15 * np.cos(yy / 13 - i / 6 + phases[1])
        tint = 0.05 * np.sin((xx + yy) / 40 + phases[2])
        frame = np.stack([luma + tint, luma, luma - tint], axis=-1)
        out[i] = torch.from_numpy(np.clip(frame, 0, 1))
    return out


def tone(seconds: float, sample_rate: int, channels: int = 2, amplitude: float = 0.5) -> dict:
    """AUDIO dict: a different sine per channel (440 Hz, 660 Hz, ...)."""
    t = np.arange(round(seconds * sample_rate), dtype=np.float64) / sample_rate
    wave = np.stack([amplitude * np.sin(2 * np.pi * 440 * (1 + c / 2) * t) for c in range(channels)])
    return {"waveform": torch.from_numpy(wave.astype(np.float32)).unsqueeze(0), "sample_rate": sample_rate}


def to_u8(frames: torch.Tensor) -> np.ndarray:
    return (frames * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def write_video(
    path: Path,
    frames_u8: np.ndarray,
    *,
    fps: int = 25,
    audio: dict | None = None,
    rotation: int = 0,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    container: str | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    faststart: bool = False,
) -> Path:
    """Write frames (uint8 [N,H,W,3]) with PyAV directly (independent of the code under test)."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=container, options=options) as out:
        video = out.add_stream(codec, rate=fps, options=FAST_OPTIONS.get(codec, {}))
        video.width, video.height, video.pix_fmt = frames_u8.shape[2], frames_u8.shape[1], pix_fmt
        if time_base is not None:
            video.codec_context.time_base = time_base
        if rotation:
            video.set_display_rotation(rotation)
        if audio is not None:
            samples = audio["waveform"][0].numpy()
            layout = "mono" if samples.shape[0] == 1 else "stereo"
            sound = out.add_stream("aac", rate=audio["sample_rate"], layout=layout)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = audio["sample_rate"], 0
            out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
        for i, pixels in enumerate(frames_u8):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            if time_base is not None:
                frame.time_base = time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return Path(path)


class _Unseekable(io.RawIOBase):
    def __init__(self):
        self.data = bytearray()

    def writable(self):
        return True

    def seekable(self):
        return False

    def write(self, chunk):
        self.data += chunk
        return len(chunk)


def write_webm_without_duration(path: Path, frames_u8: np.ndarray, fps: int = 25) -> Path:
    """VP9 WebM written to a pipe-like sink, so the headers state no duration (like browser recordings)."""
    sink = _Unseekable()
    with av.open(sink, "w", format="webm") as out:
        video = out.add_stream("libvpx-vp9", rate=fps, options=FAST_OPTIONS["libvpx-vp9"])
        video.width, video.height, video.pix_fmt = frames_u8.shape[2], frames_u8.shape[1], "yuv420p"
        for i, pixels in enumerate(frames_u8):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    Path(path).write_bytes(bytes(sink.data))
    return Path(path)


def scramble_frames(path: Path, frames: tuple[int, ...] = (1, 4, 7)) -> None:
    """Damage only decoding shows: every 8th byte of the middle half of each NAL unit of some frames
    changed. The packet index and the NAL framing stay intact, and no byte becomes 0x00-0x03, so no byte
    sequence that H.264 forbids inside a NAL unit appears."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        length_size = (stream.codec_context.extradata[4] & 3) + 1  # avcC
        packets = [(p.pos, bytes(p)) for p in container.demux(stream) if p.size]
    data = bytearray(Path(path).read_bytes())
    for index in frames:
        offset, packet = packets[index]
        pos = 0
        while pos < len(packet):
            size = int.from_bytes(packet[pos : pos + length_size], "big")
            start = offset + pos + length_size
            for i in range(start + size // 4, start + size * 3 // 4, 8):
                if data[i] ^ 0x55 > 3:
                    data[i] ^= 0x55
            pos += length_size + size
    Path(path).write_bytes(data)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 10 * np.log10(1.0 / mse) if mse else float("inf")
