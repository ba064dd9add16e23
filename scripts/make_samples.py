"""Regenerate the sample media shipped in nodes/assets/ (made by the project, license-clean).

- sample_portrait.png: a portrait drawn with Pillow.
- sample_speech.wav: speech synthesised offline with espeak-ng (Debian package `espeak-ng`), 16 kHz mono.
- sample_video.mp4: 3 s of the portrait with a slow zoom (H.264, 25 fps), the source for dubbing.

Run: python scripts/make_samples.py   (needs Pillow, and espeak-ng on PATH for the speech)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ASSETS = Path(__file__).resolve().parent.parent / "nodes" / "assets"
SPEECH = "Hello! I am a talking avatar, made with fal and Comfy U I. Nice to meet you."


def draw_portrait(size: int = 512) -> Image.Image:
    img = Image.new("RGB", (size, size), (58, 92, 128))
    d = ImageDraw.Draw(img)
    s = size / 512
    for y in range(size):  # soft vertical background gradient
        shade = int(40 * y / size)
        d.line([(0, y), (size, y)], fill=(58 + shade, 92 + shade, 128 + shade // 2))
    d.ellipse([96 * s, 380 * s, 416 * s, 640 * s], fill=(52, 70, 96))  # shoulders
    d.rectangle([216 * s, 330 * s, 296 * s, 400 * s], fill=(224, 178, 146))  # neck
    d.ellipse([150 * s, 90 * s, 362 * s, 360 * s], fill=(236, 190, 156))  # face
    d.chord([140 * s, 70 * s, 372 * s, 250 * s], 180, 360, fill=(70, 44, 30))  # hair
    for cx in (208, 304):  # eyes
        d.ellipse([(cx - 18) * s, 196 * s, (cx + 18) * s, 218 * s], fill=(255, 255, 255))
        d.ellipse([(cx - 8) * s, 199 * s, (cx + 8) * s, 215 * s], fill=(60, 40, 30))
        d.arc([(cx - 24) * s, 176 * s, (cx + 24) * s, 196 * s], 200, 340, fill=(70, 44, 30), width=int(4 * s))
    d.line([256 * s, 220 * s, 248 * s, 262 * s, 262 * s, 266 * s], fill=(200, 150, 120), width=int(3 * s))
    d.arc([220 * s, 280 * s, 292 * s, 312 * s], 10, 170, fill=(170, 80, 80), width=int(5 * s))  # mouth
    return img.filter(ImageFilter.SMOOTH)


def make_speech(out: Path) -> None:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng); the portrait was written.")
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), SPEECH], check=True)
    import av  # resample to 16 kHz mono PCM16 with PyAV, as the pack itself would

    with av.open(str(raw)) as src, av.open(str(out), "w", format="wav") as dst:
        stream = dst.add_stream("pcm_s16le", rate=16000, layout="mono")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        for frame in src.decode(audio=0):
            for rframe in resampler.resample(frame):
                dst.mux(stream.encode(rframe))
        for rframe in resampler.resample(None):
            dst.mux(stream.encode(rframe))
        dst.mux(stream.encode(None))
    raw.unlink()


def make_video(portrait: Image.Image, out: Path, *, seconds: float = 3.0, size: int = 320) -> None:
    import av

    frames = int(seconds * 25)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "23", "preset": "veryslow"})
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            zoom = 1.0 + 0.08 * i / frames  # a slow push-in, so the clip is not a still
            crop = portrait.width / zoom
            box = ((portrait.width - crop) / 2, (portrait.height - crop) / 2)
            img = portrait.resize((size, size), Image.LANCZOS, box=(*box, box[0] + crop, box[1] + crop))
            container.mux(stream.encode(av.VideoFrame.from_image(img)))
        container.mux(stream.encode(None))


if __name__ == "__main__":
    ASSETS.mkdir(parents=True, exist_ok=True)
    portrait = draw_portrait()
    portrait.save(ASSETS / "sample_portrait.png", optimize=True)
    make_video(portrait, ASSETS / "sample_video.mp4")
    make_speech(ASSETS / "sample_speech.wav")
    for f in sorted(ASSETS.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes")
