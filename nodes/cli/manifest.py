"""A batch manifest: one `fal-avatar generate` per row of a CSV or JSONL file, checked before anything is
paid.

Columns are the options of ``generate``: ``endpoint``, ``image``, ``audio``, ``audio2``, ``video``, ``mask``,
``text``, ``text2``, ``voice``, ``voice2``, ``prompt``, ``num_frames``, ``resolution``, ``acceleration``,
``seed``, ``param.NAME`` for any other field of the endpoint, and ``out`` (``cli/fields.py`` says which
field of the row each sets). An empty cell (or a JSON ``null``) means "not given". Input paths are relative to
the manifest's folder; ``out`` is relative to the output folder (``--out-dir``, default the manifest's folder)
and defaults to ``<manifest name>-<line>.mp4`` there. An ``out`` stays inside the output folder (missing
folders are made when the video is delivered), is never one of the batch's input files (or the manifest),
and replaces an existing file only if the batch wrote it before or with ``overwrite``.

:func:`read_manifest` does every check that needs no decoding (columns, values, files, outputs) and returns
the rows with every problem found, each with its line number. A row's media are decoded only when its
request is loaded (:class:`MediaLoader`), so a batch holds the inputs of the rows in flight, not of all rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..avatar.endpoints import BY_ENDPOINT_ID, EndpointSpec, endpoint
from ..errors import InputError
from ..pipeline.inputs import GenerationRequest
from .fields import MEDIA_OPTIONS, coerce_param, field_of
from .files import load_audio, load_image, load_mask
from .output import InputFiles, check_creatable

COLUMNS = (
    "endpoint", "image", "audio", "audio2", "video", "mask", "text", "text2", "voice", "voice2", "prompt",
    "num_frames", "resolution", "acceleration", "seed", "out",
)  # fmt: skip
PARAM_PREFIX = "param."
MEDIA_COLUMNS = MEDIA_OPTIONS
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class Problem:
    """What is wrong with one line of the manifest (line 0: the file as a whole)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class ManifestError(InputError):
    """The manifest has bad rows; nothing was uploaded or submitted. Lists every problem with its line."""

    def __init__(self, manifest: Path, problems: list[Problem]) -> None:
        lines = "\n".join(f"  {p}" for p in problems)
        rows = len({p.line for p in problems})
        what = "a problem" if len(problems) == 1 else f"{len(problems)} problems"
        where = "" if rows <= 1 else f" in {rows} places"
        super().__init__(f"{manifest}: {what}{where}; nothing was uploaded or submitted:\n{lines}")
        self.problems = problems


@dataclass(frozen=True)
class ManifestRow:
    """One checked row: its endpoint, field values, input files and output path (no media decoded yet)."""

    line: int
    spec: EndpointSpec
    values: dict
    image: Path | None
    audio: Path | None
    video: Path | None
    out: Path
    audio2: Path | None = None
    mask: Path | None = None

    def request(self, media: MediaLoader) -> GenerationRequest:
        """The row's request with its media decoded (CPU work: run in a thread). Raises InputError."""
        return GenerationRequest(
            spec=self.spec,
            values=dict(self.values),
            image=media.image(self.image) if self.image is not None else None,
            audio=media.audio(self.audio) if self.audio is not None else None,
            audio2=media.audio(self.audio2) if self.audio2 is not None else None,
            mask=load_mask(self.mask) if self.mask is not None else None,
            video_path=self.video,
            want_frames=False,
        )


class MediaLoader:
    """Decodes image and audio files as ``fal-avatar generate`` does, once per file while any row still holds
    the result (rows sharing a portrait share one array; a file nobody holds any more is decoded again when
    needed)."""

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self._warn = warn
        self._lock = threading.Lock()  # guards the tables; each file has its own lock while it is read
        self._reading: dict[tuple, threading.Lock] = {}
        self._images: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._audio: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._rates: dict[tuple, int] = {}
        self._warned: set[tuple] = set()

    def image(self, path: Path) -> np.ndarray:
        key = ("image", *_file_key(path))
        with self._file_lock(key):
            pixels = self._images.get(key)
            if pixels is None:
                pixels = load_image(path, warn=self._warn_once(key))
                self._images[key] = pixels
        return pixels

    def audio(self, path: Path) -> dict:
        key = ("audio", *_file_key(path))
        with self._file_lock(key):
            waveform = self._audio.get(key)
            if waveform is None:
                loaded = load_audio(path)
                waveform = self._audio[key] = loaded["waveform"]
                with self._lock:
                    self._rates[key] = loaded["sample_rate"]
        return {"waveform": waveform, "sample_rate": self._rates[key]}

    def _file_lock(self, key: tuple) -> threading.Lock:
        with self._lock:
            return self._reading.setdefault(key, threading.Lock())

    def _warn_once(self, key: tuple) -> Callable[[str], None] | None:
        with self._lock:
            if self._warn is None or key in self._warned:
                return None
            self._warned.add(key)
        return self._warn


def _file_key(path: Path) -> tuple:
    """A file's identity: a changed file is read anew."""
    try:
        stat = path.stat()
    except OSError:
        return (str(path),)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def read_manifest(
    path: Path,
    *,
    out_dir: Path | None = None,
    overwrite: bool = False,
    is_ours: Callable[[Path], bool] = lambda out: False,
) -> tuple[list[ManifestRow], list[Problem]]:
    """Every row that passed the checks, and every problem found (rows with problems are left out).

    ``is_ours(out)``: whether an existing ``out`` is this batch's own earlier output (it may be replaced)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path} does not exist", field="MANIFEST") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", field="MANIFEST") from None
    records, problems = _jsonl(text) if _is_jsonl(path, text) else _csv(text)
    base = path.resolve().parent
    outputs = (out_dir if out_dir is not None else base).resolve()
    if outputs.exists() and not outputs.is_dir():
        raise InputError(f"{outputs} is not a folder", field="--out-dir")
    check_creatable(outputs / "out.mp4", flag="--out-dir")
    checked = [(line, *_check_row(line, cells, base, outputs, path.stem)) for line, cells in records]
    inputs = InputFiles()
    inputs.add(path, "the manifest")
    for line, row, _ in checked:
        for column in MEDIA_COLUMNS:
            if getattr(row, column, None) is not None:
                inputs.add(getattr(row, column), f"the {column} of line {line}")
    rows: list[ManifestRow] = []
    seen_out: dict[Path, int] = {}
    for line, row, errors in checked:
        if row is not None:
            first = seen_out.setdefault(row.out, line)
            if first != line:
                errors.append(f"out: {row.out} is also the output of line {first}")
            errors.extend(_output_problems(row.out, inputs, overwrite, is_ours))
        problems.extend(Problem(line, e) for e in errors)
        if row is not None and not errors:
            rows.append(row)
    if not records and not problems:
        problems.append(Problem(0, "the manifest has no rows"))
    problems.sort(key=lambda p: p.line)
    return rows, problems


def _is_jsonl(path: Path, text: str) -> bool:
    if path.suffix.lower() in JSONL_SUFFIXES:
        return True
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        return False
    return text.lstrip().startswith("{")


def _jsonl(text: str) -> tuple[list[tuple[int, dict]], list[Problem]]:
    records, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError as exc:
            problems.append(Problem(number, f"not valid JSON ({exc})"))
            continue
        if not isinstance(data, dict):
            problems.append(
                Problem(number, f"expected a JSON object with the row's columns, got {type(data).__name__}")
            )
            continue
        unknown = [k for k in data if not _known_column(k)]
        if unknown:
            problems.append(Problem(number, _unknown_columns(unknown)))
            continue
        records.append((number, {k: v for k, v in data.items() if not _blank(v)}))
    return records, problems


def _csv(text: str) -> tuple[list[tuple[int, dict]], list[Problem]]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(CSV_DELIMITERS, key=lambda d: len(first.split(d)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    records, problems = [], []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(start, f"cannot read this CSV line ({exc})"))
            break
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header, header_line = [cell.strip() for cell in cells], start
            unknown = [name for name in header if not _known_column(name)]
            repeated = sorted({name for name in header if header.count(name) > 1})
            if unknown:
                problems.append(Problem(start, _unknown_columns(unknown)))
            if repeated:
                problems.append(Problem(start, f"column(s) given twice: {', '.join(repeated)}"))
            if unknown or repeated:
                return [], problems
            continue
        if len(cells) > len(header):
            problems.append(
                Problem(start, f"{len(cells)} cells but the header (line {header_line}) names {len(header)}")
            )
            continue
        records.append(
            (start, {name: cell for name, cell in zip(header, cells, strict=False) if not _blank(cell)})
        )
    return records, problems


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _known_column(name: str) -> bool:
    return name in COLUMNS or (name.startswith(PARAM_PREFIX) and len(name) > len(PARAM_PREFIX))


def _unknown_columns(names: list[str]) -> str:
    return (
        f"unknown column(s) {', '.join(repr(n) for n in names)}; the columns are {', '.join(COLUMNS)} "
        f"and {PARAM_PREFIX}NAME for any other field of the endpoint"
    )


def _check_row(
    line: int, cells: dict, base: Path, outputs: Path, stem: str
) -> tuple[ManifestRow | None, list[str]]:
    """The row, and what is wrong with it (every problem, not just the first)."""
    raw_endpoint = cells.get("endpoint")
    if raw_endpoint is None:
        return None, [f"endpoint: missing; one of {', '.join(BY_ENDPOINT_ID)}"]
    try:
        spec = endpoint(str(raw_endpoint))
    except KeyError as exc:
        return None, [f"endpoint: {exc.args[0]}"]
    errors: list[str] = []
    values: dict = {}
    for column, raw in cells.items():
        if column in ("endpoint", "out", *MEDIA_COLUMNS):
            continue
        name = column[len(PARAM_PREFIX) :] if column.startswith(PARAM_PREFIX) else field_of(spec, column)
        if name is None or not spec.has_param(name):
            errors.append(_not_taken(spec, column))
            continue
        if name in values:
            errors.append(f"{column}: {name} is given twice")
            continue
        try:
            values[name] = _value(spec, name, raw)
        except InputError as exc:
            errors.append(f"{column}: {exc.message.removeprefix(f'{name}: ')}")
    files: dict[str, Path | None] = {}
    slots = {slot.name for slot in spec.media}
    for column in MEDIA_COLUMNS:
        raw = cells.get(column)
        if raw is None:
            files[column] = None
            if column in slots and (column == "video" or not spec.slot(column).optional):
                errors.append(f"{column}: missing; {spec.endpoint_id} needs {_needs(spec)}")
            continue
        if column not in slots:
            errors.append(_not_taken(spec, column))
            continue
        file = (base / Path(str(raw)).expanduser()).resolve()
        if not file.is_file():
            errors.append(f"{column}: {file} {'is not a file' if file.exists() else 'does not exist'}")
        files[column] = file
    out = _out_path(cells.get("out"), outputs, stem, line)
    if not out.is_relative_to(outputs):
        errors.append(
            f"out: {out} is outside the output folder {outputs}; name a path inside it (or choose "
            "another folder with --out-dir)"
        )
    else:
        try:
            check_creatable(out, flag="out")
        except InputError as exc:
            errors.append(exc.message)
    row = ManifestRow(
        line,
        spec,
        values,
        files["image"],
        files["audio"],
        files["video"],
        out,
        files["audio2"],
        files["mask"],
    )
    return row, errors


def _output_problems(
    out: Path, inputs: InputFiles, overwrite: bool, is_ours: Callable[[Path], bool]
) -> list[str]:
    what = inputs.named_by(out)
    if what is not None:
        return [f"out: {out} is {what}: the result would replace that input; choose another output path"]
    if out.is_file() and not overwrite and not is_ours(out):
        return [
            f"out: {out} exists and is not an earlier output of this batch; remove it, choose another path, "
            "or pass --overwrite to replace it"
        ]
    return []


def _value(spec: EndpointSpec, name: str, raw):
    if name == "num_frames" and isinstance(raw, str) and raw.strip().lower() == "auto":
        return 0
    kind = spec.param(name).kind
    if isinstance(raw, bool) or (kind in ("text", "enum") and not isinstance(raw, str)):
        raise InputError(
            f"expected {'text' if kind == 'text' else 'one of the options'}, got {raw!r}", field=name
        )
    if isinstance(raw, float) and not math.isfinite(raw):  # JSON's NaN / Infinity, which Python reads
        raise InputError(f"{raw!r} is not a finite number", field=name)
    if isinstance(raw, int | float) and kind in ("int", "float"):
        if kind == "int" and float(raw) != int(raw):
            raise InputError(f"{raw!r} is not a whole number", field=name)
        return int(raw) if kind == "int" else float(raw)
    if not isinstance(raw, str):
        raise InputError(f"expected a {kind}, got {raw!r}", field=name)
    return coerce_param(spec, name, raw.strip() if kind != "text" else raw)


def _not_taken(spec: EndpointSpec, column: str) -> str:
    media = [slot.name for slot in spec.media if slot.name in MEDIA_COLUMNS]
    named = [c for c in COLUMNS if c not in ("endpoint", "out", *MEDIA_COLUMNS) and field_of(spec, c)]
    others = [PARAM_PREFIX + p.name for p in spec.params if p.name not in {field_of(spec, c) for c in named}]
    return f"{column}: {spec.endpoint_id} does not take this (it takes {', '.join(media + named + others)})"


def _needs(spec: EndpointSpec) -> str:
    needed = [
        slot.name
        for slot in spec.media
        if slot.name in MEDIA_COLUMNS and (slot.name == "video" or not slot.optional)
    ]
    return " and ".join(needed)


def _out_path(raw, outputs: Path, stem: str, line: int) -> Path:
    if raw is None:
        return outputs / f"{stem}-{line}.mp4"
    return (outputs / Path(str(raw)).expanduser()).resolve()
