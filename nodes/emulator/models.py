"""How each emulated endpoint behaves: its inputs, what sets the output's length, its fps and frame size, the
extra output fields, the length limits fal states, and its entry in fal's model catalogue.

Facts and their public sources (the rest is the emulator's choice, marked CHOICE: a plausible value, distinct
per family, so that tests see frame rates other than 25 and never a resampled one):

* InfiniTalk, MultiTalk (ai-avatar), StableAvatar: 25 fps; lengths in frames at 25 fps (fal's model pages).
* OmniHuman 1.5: the audio sets the length; at most 30 s of audio at 1080p, 60 s at 720p; ``duration`` in
  the output, "as used for billing" (fal's OpenAPI document via GitHub gokayfem/ComfyUI-fal-API
  ``data/fal_registry.json`` @ 1780dde; fal-ai/fal-js zod types 2026-02). fps 24 and sizes: CHOICE.
* Kling AI Avatar v2: ``duration`` in the output (fal-ai/fal-js ``endpoints.ts`` @ 381105e). Pro at 1080p and
  48 fps (third-party notes); standard 720p at 30 fps: CHOICE. No length limit is known on fal.
* VEED Fabric 1.0 (+ fast, text): frame sizes about 864x480 / 1312x736 (ComfyUI's VeedFabricNode docs,
  docs.comfy.org); 29.97 fps: CHOICE. Text rows speak the text (the emulator's own speech synthesis).
* Creatify Aurora and sync react-1: the output ``video`` is a VideoFile with fps, width, height, num_frames
  and duration (fal-js ``React1Output``). Aurora at 23.976 fps and its sizes: CHOICE. react-1: video and audio
  "15 seconds or shorter" (fal's document).
* LongCat single avatar: ``num_segments`` sets the length, first ≈5.8 s then +5 s each (fal's document); the
  output is the shorter of the audio and that; 16 fps from fal's billing text ("per video-second (16
  frames)"); sizes: CHOICE (InfiniTalk's buckets).
* FlashTalk: ``duration``, ``timings`` and ``seed`` in the output; 512x512 at 25 fps as fal-js describes it
  (an alias of FlashHead's output type, so unconfirmed).
* sync-3 image-to-video: "The output video matches [the audio's] duration" (fal's document); 25 fps and the
  image's own size: CHOICE.
* Lip-sync on footage (sync v2/v3, react-1, VEED lipsync v2): the output keeps the footage's frame rate and
  size (CHOICE: an edit of the mouth does not resample the footage); its length follows ``sync_mode`` /
  ``lipsync_mode`` (fal's enum; meanings as sync.so names them): cut_off = the shorter of video and audio,
  loop / bounce = the longer (the footage looped or played back and forth), silence = the video's length
  (audio padded), remap = the audio's length (footage time-stretched). VEED lipsync v2 has no mode: cut_off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

FPS_25 = Fraction(25)
# (w, h) buckets by resolution, chosen by the input's aspect ratio.
# InfiniTalk: its reference ~640²/~960² areas.
INFINITALK_BUCKETS = {
    "480p": ((640, 640), (896, 448), (448, 832)),
    "720p": ((960, 960), (1280, 704), (704, 1280)),
}
_SHORT_SIDE = {
    "480p": ((848, 480), (480, 848), (480, 480)),
    "720p": ((1280, 720), (720, 1280), (720, 720)),
    "1080p": ((1920, 1080), (1080, 1920), (1080, 1080)),
}
_FABRIC = {"480p": ((864, 480), (480, 864), (480, 480)), "720p": ((1312, 736), (736, 1312), (736, 736))}
STABLE_AVATAR_SIZES = {"1:1": (512, 512), "16:9": (832, 480), "9:16": (480, 832)}


@dataclass(frozen=True)
class Limit:
    """At most ``seconds[resolution]`` (``"*"``: any resolution) of the media in ``media_field``; fal refuses
    longer inputs with a 422 on that field carrying ``message``."""

    media_field: str
    seconds: dict[str, float]
    message: str

    def seconds_for(self, resolution: str | None) -> float | None:
        return self.seconds.get(resolution or "*", self.seconds.get("*"))


@dataclass(frozen=True)
class Model:
    """One emulated endpoint.

    ``visual``: ``image_url`` or ``video_url``. ``audios``: audio URL fields, mixed together (a second one is
    optional). ``texts``: (text field, voice field or None) pairs, spoken one after another. ``length``: what
    sets the output's length — ``num_frames``, ``audio``, ``audio_4n1`` (StableAvatar's 4n+1 frames),
    ``num_segments``, ``text`` or ``sync_mode`` (footage vs audio, field ``sync_field``). ``fps``: None keeps
    the footage's. ``sizes``: buckets by resolution (``"*"``: no resolution field), ``"aspect_ratio"``
    (StableAvatar), ``"image"`` (the image's own size) or ``"footage"``. ``outputs``: fields beside ``video``
    (``seed``, ``duration``, ``timings``) and ``video_file`` for a VideoFile.
    """

    endpoint_id: str
    display_name: str
    category: str
    visual: str
    audios: tuple[str, ...] = ("audio_url",)
    texts: tuple[tuple[str, str | None], ...] = ()
    length: str = "audio"
    fps: Fraction | None = FPS_25
    sizes: dict[str, tuple[tuple[int, int], ...]] | str = field(
        default_factory=lambda: dict(INFINITALK_BUCKETS)
    )
    outputs: tuple[str, ...] = ()
    limits: tuple[Limit, ...] = ()
    sync_field: str | None = None
    bill_whole_seconds: bool = False  # Aurora: "video seconds will be rounded upwards"
    min_billed_seconds: float = 0.0  # StableAvatar: "minimum 4 seconds"
    published: str = "2025-01-01T00:00:00Z"


_OMNIHUMAN_LIMIT = Limit(
    "audio_url",
    {"1080p": 30.0, "720p": 60.0},
    "Audio must be under 30s long for 1080p generation and under 60s long for 720p generation.",
)
_REACT_LIMITS = (
    Limit("video_url", {"*": 15.0}, "The input video must be 15 seconds or shorter."),
    Limit("audio_url", {"*": 15.0}, "The input audio must be 15 seconds or shorter."),
)
_KLING_STANDARD = {"*": _SHORT_SIDE["720p"]}
_KLING_PRO = {"*": _SHORT_SIDE["1080p"]}


def _fabric(endpoint_id: str, name: str, published: str, **kwargs) -> Model:
    return Model(
        endpoint_id,
        name,
        kwargs.pop("category", "image-to-video"),
        "image_url",
        fps=Fraction(30000, 1001),
        sizes=_FABRIC,
        published=published,
        **kwargs,
    )


def _footage(endpoint_id: str, name: str, published: str, sync_field: str | None, **kwargs) -> Model:
    return Model(
        endpoint_id,
        name,
        "video-to-video",
        "video_url",
        length="sync_mode",
        fps=None,
        sizes="footage",
        sync_field=sync_field,
        published=published,
        **kwargs,
    )


MODELS: tuple[Model, ...] = (
    # portrait + audio
    Model(
        "fal-ai/infinitalk",
        "Infinitalk",
        "video-to-video",
        "image_url",
        length="num_frames",  # fal's category
        outputs=("seed",),
        published="2025-08-21T13:55:42Z",
    ),
    Model(
        "fal-ai/bytedance/omnihuman/v1.5",
        "Bytedance Omnihuman V1.5",
        "image-to-video",
        "image_url",
        fps=Fraction(24),
        sizes={k: _SHORT_SIDE[k] for k in ("720p", "1080p")},
        outputs=("duration",),
        limits=(_OMNIHUMAN_LIMIT,),
        published="2025-09-23T14:00:56Z",
    ),
    Model(
        "fal-ai/kling-video/ai-avatar/v2/standard",
        "Kling AI Avatar v2 Standard",
        "image-to-video",
        "image_url",
        fps=Fraction(30),
        sizes=_KLING_STANDARD,
        outputs=("duration",),
        published="2025-12-04T12:58:33Z",
    ),
    Model(
        "fal-ai/kling-video/ai-avatar/v2/pro",
        "Kling AI Avatar v2 Pro",
        "image-to-video",
        "image_url",
        fps=Fraction(48),
        sizes=_KLING_PRO,
        outputs=("duration",),
        published="2025-12-04T12:58:48Z",
    ),
    _fabric("veed/fabric-1.0", "Fabric 1.0", "2025-09-19T22:01:20Z"),
    _fabric("veed/fabric-1.0/fast", "Fabric 1.0 Fast", "2025-10-01T14:00:46Z"),
    Model(
        "fal-ai/creatify/aurora",
        "Creatify Aurora",
        "image-to-video",
        "image_url",
        fps=Fraction(24000, 1001),
        sizes={k: _SHORT_SIDE[k] for k in ("480p", "720p")},
        outputs=("video_file",),
        bill_whole_seconds=True,
        published="2025-12-11T16:16:44Z",
    ),
    Model(
        "fal-ai/sync-lipsync/v3/image-to-video",
        "sync-3 Avatar Image to Video",
        "image-to-video",
        "image_url",
        sizes="image",
        published="2026-06-22T18:42:24Z",
    ),
    Model(
        "fal-ai/longcat-single-avatar/image-audio-to-video",
        "Longcat Single Avatar",
        "audio-to-video",
        "image_url",
        length="num_segments",
        fps=Fraction(16),
        outputs=("seed",),
        published="2025-12-30T17:14:46Z",
    ),
    Model(
        "fal-ai/flashtalk",
        "Flashtalk",
        "audio-to-video",
        "image_url",
        sizes={"*": ((512, 512),)},
        outputs=("duration", "timings", "seed"),
        published="2026-04-16T14:46:43Z",
    ),
    # portrait + text
    Model(
        "fal-ai/infinitalk/single-text",
        "Infinitalk",
        "text-to-video",
        "image_url",
        audios=(),
        texts=(("text_input", "voice"),),
        length="num_frames",
        outputs=("seed",),
        published="2025-08-22T15:48:52Z",
    ),
    Model(
        "fal-ai/ai-avatar/single-text",
        "AI Avatar Single Text",
        "image-to-video",
        "image_url",
        audios=(),
        texts=(("text_input", "voice"),),
        length="num_frames",
        outputs=("seed",),
        published="2025-06-23T16:36:23Z",
    ),
    _fabric(
        "veed/fabric-1.0/text",
        "Fabric 1.0",
        "2025-12-12T15:22:12Z",
        category="text-to-video",
        audios=(),
        texts=(("text", None),),
        length="text",
    ),
    # two people
    Model(
        "fal-ai/ai-avatar/multi",
        "AI Avatar Multi",
        "image-to-video",
        "image_url",
        audios=("first_audio_url", "second_audio_url"),
        length="num_frames",
        outputs=("seed",),
        published="2025-06-23T16:34:01Z",
    ),
    Model(
        "fal-ai/ai-avatar/multi-text",
        "AI Avatar Multi Text",
        "image-to-video",
        "image_url",
        audios=(),
        texts=(("first_text_input", "voice1"), ("second_text_input", "voice2")),
        length="num_frames",
        outputs=("seed",),
        published="2025-06-23T16:34:48Z",
    ),
    # lip-sync on footage
    Model(
        "fal-ai/infinitalk/video-to-video",
        "Infinitalk",
        "video-to-video",
        "video_url",
        length="num_frames",
        outputs=("seed",),
        published="2025-09-22T20:17:35Z",
    ),
    _footage("fal-ai/sync-lipsync/v2", "Sync Lipsync 2.0", "2025-04-01T18:57:06Z", "sync_mode"),
    _footage("fal-ai/sync-lipsync/v3", "sync-3 Lipsync", "2026-04-06T11:59:40Z", "sync_mode"),
    _footage(
        "fal-ai/sync-lipsync/react-1",
        "Sync React-1",
        "2025-12-10T14:23:05Z",
        "lipsync_mode",
        outputs=("video_file",),
        limits=_REACT_LIMITS,
    ),
    _footage("veed/lipsync/v2", "VEED Lipsync", "2026-07-14T07:38:49Z", None),
    # compatibility
    Model(
        "fal-ai/stable-avatar",
        "Stable Avatar",
        "audio-to-video",
        "image_url",
        length="audio_4n1",
        sizes="aspect_ratio",
        limits=(Limit("audio_url", {"*": 300.0}, "Audio must be at most 5 minutes long."),),
        min_billed_seconds=4.0,
        published="2025-08-06T00:00:00Z",
    ),
)
BY_ID = {model.endpoint_id: model for model in MODELS}
DELISTED = frozenset({"fal-ai/stable-avatar"})  # fal removed it from its catalogue in 2026-08
