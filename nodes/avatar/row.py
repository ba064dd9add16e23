"""The shape of an endpoint row: its widgets (:class:`Param`), media inputs (:class:`MediaSlot`), length rule,
limits per resolution, price formula, output shape and catalogue status (:class:`EndpointSpec`).

A row SAYS what differs between fal's avatar models; the code reads the row and assumes nothing about
InfiniTalk (its 25 fps, its 4n+1 frame counts, its seed). The rows themselves live in :mod:`.rows`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .frames import FrameRule
from .pricing import PriceRule

NOT_SENT = object()  # marker: a parameter value that means "leave the field out of the request"
CHOOSE = "choose…"  # what a required choice without a default shows until the user picks an option
ANY_RESOLUTION = "*"  # a ``max_seconds`` key: the limit does not depend on the resolution

# What a row is for (the node category, the README's table, ``fal-avatar models``), in display order.
FAMILIES: dict[str, str] = {
    "portrait_audio": "Portrait + audio",
    "portrait_text": "Portrait + text",
    "two_people": "Two people",
    "footage_lipsync": "Lip-sync on footage",
    "compatibility": "Compatibility",
}
# What sets the length of fal's output: the audio itself, a ``num_frames`` field, a ``num_segments`` field,
# the text (built-in speech) or the source video (lip-sync on footage).
LENGTH_RULES = ("audio", "num_frames", "num_segments", "text", "video")
STATUSES = ("live", "delisted")
PARAM_KINDS = ("text", "int", "float", "enum", "bool")
SLOT_KINDS = ("image", "audio", "video", "frames", "mask")
# Output fields beside ``video`` (and ``seed``) a row may declare: a top-level field, or one of fal's
# VideoFile (``video.<field>``). The pipeline reads them from the result (``pipeline/result_extras.py``).
OUTPUT_EXTRAS = (
    "duration", "timings", "video.fps", "video.width", "video.height", "video.num_frames", "video.duration",
)  # fmt: skip


@dataclass(frozen=True)
class Param:
    """A widget. ``name`` is the widget's (and ``--param``'s) name; ``fal_name`` is fal's field when it
    differs (``voice2`` → ``voice2``, ``voice`` → ``voice1``); ``fal=False`` for local-only widgets (never
    sent).

    ``required``: a text that must not be empty, or (an enum with ``default=None``) a choice the user must
    make because fal has no default (a missing one is a 422). ``role`` marks the text to speak
    (``"text"``) and the second speaker's (``"text2"``), whatever fal calls them.
    """

    name: str
    kind: str  # one of PARAM_KINDS
    default: object
    tooltip: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()
    multiline: bool = False
    max_length: int | None = None
    required: bool = False
    omit_value: object = NOT_SENT  # this widget value means "do not send the field"
    seed: bool = False
    fal: bool = True
    fal_name: str | None = None
    role: str = ""

    @property
    def field(self) -> str:
        """fal's name of the field (where ``arguments`` carry the value)."""
        return self.fal_name or self.name

    @property
    def choice_required(self) -> bool:
        """An enum without a default: the node offers :data:`CHOOSE` first and refuses it before money."""
        return self.kind == "enum" and self.required and self.default is None


@dataclass(frozen=True)
class MediaSlot:
    """A media input socket and the fal URL field it is uploaded to (``None``: used locally).

    Names are the pack's (``image``, ``audio``, ``audio2``, ``video``, ``frames``, ``mask``) and the same on
    every row; ``fal_field`` is fal's (``audio_url``, ``first_audio_url``, ``second_audio_url``, ...).
    """

    name: str
    kind: str  # one of SLOT_KINDS
    fal_field: str | None
    tooltip: str
    optional: bool = False


@dataclass(frozen=True)
class SegmentRule:
    """A ``num_segments`` field: the first segment renders ``first_s``, each further one ``step_s`` more,
    from 1 to ``max_segments`` (LongCat)."""

    first_s: float
    step_s: float
    max_segments: int

    def seconds(self, segments: int) -> float:
        return self.first_s + (segments - 1) * self.step_s

    def segments_for(self, seconds: float) -> int:
        """The fewest segments that cover ``seconds`` (at most ``max_segments``)."""
        needed = 1 + max(0, math.ceil(round((seconds - self.first_s) / self.step_s, 6)))
        return min(needed, self.max_segments)

    @property
    def max_s(self) -> float:
        return self.seconds(self.max_segments)


@dataclass(frozen=True)
class ImageLimits:
    """The portraits a model accepts, as uploaded (after the pack's downscale): sides in pixels, aspect as
    width / height, the uploaded file's bytes; ``None``: no limit stated. ``source`` says who states them.
    A ``max_side`` caps the pack's downscale (fixed, never refused); the rest cannot be fixed without
    changing the picture, so a portrait outside them is refused before any upload."""

    source: str
    min_side: int | None = None
    max_side: int | None = None
    min_aspect: float | None = None
    max_aspect: float | None = None
    max_bytes: int | None = None

    def problem(self, width: int, height: int) -> str | None:
        """What a ``width`` x ``height`` upload breaks, with what to do; ``None`` when it fits."""
        aspect = width / height
        if self.min_aspect and aspect < self.min_aspect - 1e-9:
            return (
                f"is {_ratio(aspect)} (width:height), taller than the {_ratio(self.min_aspect)} it accepts; "
                "crop it to a wider frame"
            )
        if self.max_aspect and aspect > self.max_aspect + 1e-9:
            return (
                f"is {_ratio(aspect)} (width:height), wider than the {_ratio(self.max_aspect)} it accepts; "
                "crop it to a narrower frame"
            )
        if self.min_side and min(width, height) < self.min_side:
            return f"needs at least {self.min_side} px on each side; use a larger portrait"
        return None


def _ratio(aspect: float) -> str:
    """An aspect as people write it: ``2.5:1``, ``1:2.5``."""
    return f"{aspect:.3g}:1" if aspect >= 1 else f"1:{1 / aspect:.3g}"


@dataclass(frozen=True)
class EndpointSpec:
    """One fal endpoint. Everything endpoint-specific is here; see the module docstring."""

    node_id: str
    endpoint_id: str
    display_name: str
    description: str
    family: str  # one of FAMILIES
    media: tuple[MediaSlot, ...]
    params: tuple[Param, ...]
    price: PriceRule
    length_rule: str  # one of LENGTH_RULES
    # Most seconds one fal job renders, per resolution (ANY_RESOLUTION when it does not matter); ``None`` =
    # unknown: fal's own refusal (a free 422) then names the limit, and long runs plan with planning_max_s.
    max_seconds: Mapping[str, float | None]
    fps: float | None  # nominal output fps for estimates (None = unknown); the real one is read from the file
    length_from: str = "audio"  # what an automatic length is measured from: "audio" | "text" | "video"
    frames: FrameRule | None = None  # the num_frames rule (length_rule "num_frames")
    segments: SegmentRule | None = None  # the num_segments rule (length_rule "num_segments")
    planning_max_s: float | None = None  # the per-job length long runs plan with where max_seconds is unknown
    status: str = "live"  # one of STATUSES
    status_note: str = ""
    strict: bool = False  # fal refuses unknown fields (422): nothing beyond the row's own fields is sent
    min_audio_s: float = 1.0
    max_text_chars: int | None = None  # one job's text
    max_image_side: int = 1280  # the pack's downscale (FAL_AVATAR_MAX_IMAGE_SIDE overrides it)
    image_limits: ImageLimits | None = None  # what the model accepts (None: nothing stated)
    output_has_seed: bool = True
    output_extras: tuple[str, ...] = ()  # output fields beside ``video`` and ``seed`` (OUTPUT_EXTRAS)
    source: str = ""  # where the row's facts come from, and what is unknown
    search_aliases: tuple[str, ...] = field(default=())
    short_name: str = ""  # the command line's short name (``fal-avatar compare --models omnihuman,fabric``)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def has_param(self, name: str) -> bool:
        return any(p.name == name for p in self.params)

    def slot(self, name: str) -> MediaSlot:
        for s in self.media:
            if s.name == name:
                return s
        raise KeyError(name)

    def has_slot(self, name: str) -> bool:
        return any(s.name == name for s in self.media)

    def role_param(self, role: str) -> Param | None:
        """The widget holding the text of ``role`` ("text" | "text2"), whatever fal calls it."""
        return next((p for p in self.params if p.role == role), None)

    def image_side(self, override: int | None = None) -> int:
        """The longest image side uploaded: the run's ``override``, else the row's own, within its limit."""
        side = override or self.max_image_side
        limit = self.image_limits.max_side if self.image_limits else None
        return min(side, limit) if limit else side

    @property
    def seed_param(self) -> Param | None:
        return next((p for p in self.params if p.seed), None)

    @property
    def new_generation_hint(self) -> str:
        """How a user asks for a new paid generation of the same inputs (identical requests are one job)."""
        if self.seed_param is not None:
            return "change the seed"
        return "change an input or a setting (this model has no seed)"

    @property
    def resolutions(self) -> tuple[str, ...]:
        return self.param("resolution").options if self.has_param("resolution") else ()

    @property
    def default_resolution(self) -> str | None:
        """The resolution fal uses when none is sent (``None``: there is none, or the user must choose)."""
        return self.param("resolution").default if self.has_param("resolution") else None

    def max_seconds_at(self, resolution: str | None) -> float | None:
        """Most seconds per job at ``resolution`` (``None``: unknown). Without a resolution, the strictest
        limit of any resolution (never promise more than every resolution allows)."""
        if ANY_RESOLUTION in self.max_seconds:
            return self.max_seconds[ANY_RESOLUTION]
        if resolution in self.max_seconds:
            return self.max_seconds[resolution]
        known = list(self.max_seconds.values())
        return None if not known or None in known else min(known)

    def job_seconds(self, resolution: str | None) -> float | None:
        """The most seconds a long run gives one job: the known limit, else the row's planning limit."""
        limit = self.max_seconds_at(resolution)
        return limit if limit is not None else self.planning_max_s

    @property
    def max_audio_s(self) -> float | None:
        """Audio beyond this is not rendered by one job (at the default resolution); ``None``: text rows."""
        if self.length_from == "text":
            return None
        return self.max_seconds_at(self.default_resolution)
