"""Split a text for the text-to-speech endpoint into pieces that one job can speak.

Pieces end at sentence ends (``. ! ? …`` before a space, and anything Unicode marks Sentence_Terminal:
``。！？ ؟ ।`` ..., with their closing quotes and brackets); a sentence too long for one piece is split at
clause ends (``, ; :`` before a space, ``— –``, and the rest of Unicode's Terminal_Punctuation: ``، ؛ 、 ，``
...; see :mod:`.unicode_terminals`), a clause still too long between words (or between CJK characters),
and a word too long between characters. The fewest pieces are used and, among those splits,
:mod:`.partition` minimises

    sum over pieces   4 × ((length − mean length) / mean length)²
  + sum over joins    0 at a sentence end, 1 at a clause end, 3 between words, 5 inside a word

with lengths as :func:`.frames.speech_seconds` counts them (a whitespace run is one; a character of a
slower-spoken script counts more, see :mod:`.speech_rate`).
Each piece is the text between two joins with the whitespace at the joins removed, nothing else:
joined back with that whitespace, the pieces give the stripped text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from .frames import CHARS_PER_SECOND, frames_covering, round_up_4n1, speech_seconds
from .partition import Line, best_joins
from .speech_rate import char_weight
from .unicode_terminals import CLAUSE_ENDS, SENTENCE_ENDS

# A piece of text gets frames for its estimated speech × TEXT_SLACK plus TEXT_TAIL_S: the voice's real
# pace is only known once fal has spoken it, and a job renders exactly num_frames.
TEXT_SLACK = 1.15
TEXT_TAIL_S = 0.6

SENTENCE, CLAUSE, WORD, CHARACTER = range(4)
_JOIN_COST = (0.0, 1.0, 3.0, 5.0)
_BALANCE_WEIGHT = 4.0
_OPENERS = ("Ps", "Pi")  # opening brackets and quotes stay with what follows them
_CLOSERS = "\"'”’»)\\]}」』）】〉》"
_SPACED = ".!?,;:"  # ASCII ends count only before a space: "3.14", "e.g.x", "10:30" are not ends


def _char_class(chars) -> str:
    return "".join(re.escape(c) for c in sorted(chars))


_ENDS = {
    SENTENCE: re.compile(
        rf"[.!?…]+[{_CLOSERS}]*(?=\s|$)|[{_char_class(SENTENCE_ENDS - set(_SPACED))}]+[{_CLOSERS}]*"
    ),
    CLAUSE: re.compile(
        rf"[,;:–][{_CLOSERS}]*(?=\s)|—+[{_CLOSERS}]*|"
        rf"[{_char_class(CLAUSE_ENDS - set(_SPACED))}、][{_CLOSERS}]*"
    ),
}


@dataclass(frozen=True)
class TextPlan:
    pieces: tuple[str, ...]
    notes: tuple[str, ...]


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
    )


class _Text:
    """The text with its normalised-length coordinates: ``length(a, b)`` of a stripped span is what
    :func:`.frames.speech_seconds` counts (× the characters per second)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.x = [0.0] * (len(text) + 1)
        self.weight = [0.0] * len(text)
        count, gap = 0.0, False
        for i, char in enumerate(text):
            if char.isspace():
                gap = count > 0
            else:
                self.weight[i] = char_weight(char)
                count += self.weight[i] + (1.0 if gap else 0.0)
                gap = False
            self.x[i + 1] = count

    def first(self, start: int) -> float:
        """The coordinate where a stripped span starting at ``start`` begins (its gap before not counted)."""
        return self.x[start + 1] - self.weight[start]

    def length(self, start: int, end: int) -> float:
        return self.x[end] - self.first(start)

    def strip(self, start: int, end: int) -> tuple[int, int]:
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        return start, end

    def breaks(self, start: int, end: int, level: int) -> list[int]:
        """Positions inside [start, end) where a piece may end at ``level``."""
        text = self.text
        if level in _ENDS:
            return [m.end() for m in _ENDS[level].finditer(text, start, end)]
        if level == WORD:  # a space, or a CJK character after anything but a space or an opening mark
            return [
                i
                for i in range(start + 1, end)
                if text[i].isspace()
                and not text[i - 1].isspace()
                or _is_cjk(text[i])
                and not text[i - 1].isspace()
                and unicodedata.category(text[i - 1]) not in _OPENERS
            ]
        return [i for i in range(start + 1, end) if not unicodedata.combining(text[i])]

    def atoms(self, start: int, end: int, level: int, max_chars: int) -> list[list[int]]:
        """``[start, end, level of the join after it]`` for the pieces of [start, end) at ``level`` and
        deeper where they do not fit; the last atom's join level is left to the caller."""
        out: list[list[int]] = []
        cuts = [start, *self.breaks(start, end, level), end]
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            a, b = self.strip(a, b)
            if a == b:
                continue
            if out:
                out[-1][2] = level
            if self.length(a, b) <= max_chars:
                out.append([a, b, level])
            else:
                out.extend(self.atoms(a, b, level + 1, max_chars))
        return out


def _fewest_pieces(line: Line) -> int:
    """The fewest pieces: greedily, each piece takes as many atoms as fit."""
    count, begin = 1, line.begin
    atom_ends = [*line.ends, line.end]
    for j in range(len(line.ends)):
        if atom_ends[j + 1] - begin > line.max_len:
            count, begin = count + 1, line.starts[j]
    return count


def text_frames(text: str) -> int:
    """Frames a job gets to speak ``text``: its estimated speech × TEXT_SLACK + TEXT_TAIL_S, as 4n+1."""
    return round_up_4n1(frames_covering(speech_seconds(text) * TEXT_SLACK + TEXT_TAIL_S))


def split_text(text: str, max_seconds: float, *, chars_per_second: float = CHARS_PER_SECOND) -> TextPlan:
    """Pieces of ``text`` whose estimated speech is at most ``max_seconds`` each (see the module)."""
    max_chars = max_seconds * chars_per_second + 1e-9  # in Latin characters' worth of speech
    if max_chars < 1:
        raise ValueError(f"{max_seconds} s at {chars_per_second} characters per second is not one character")
    source = _Text(text)
    start, end = source.strip(0, len(text))
    if start == end:
        return TextPlan((), ())
    if source.length(start, end) <= max_chars:
        return TextPlan((text[start:end],), ())
    atoms = source.atoms(start, end, SENTENCE, max_chars)
    x = source.x
    line = Line(
        starts=np.array([source.first(a[0]) for a in atoms[1:]], np.float64),
        ends=np.array([x[a[1]] for a in atoms[:-1]], np.float64),
        join_cost=np.array([_JOIN_COST[a[2]] for a in atoms[:-1]]),
        begin=0,
        end=x[end],
        min_len=1,
        max_len=max_chars,
        last_min_len=1,
        balance_weight=_BALANCE_WEIGHT,
    )
    count = _fewest_pieces(line)
    joins = best_joins(line, count, x[end] / count)
    assert joins is not None  # every atom fits, so the greedy count always has a split
    firsts = [atoms[0][0], *(atoms[j + 1][0] for j in joins)]
    lasts = [*(atoms[j][1] for j in joins), atoms[-1][1]]
    pieces = tuple(text[a:b] for a, b in zip(firsts, lasts, strict=True))
    notes = []
    for number, j in enumerate(joins, 1):
        if atoms[j][2] >= WORD:
            where = "between words" if atoms[j][2] == WORD else "inside a word"
            tail = text[max(atoms[0][0], atoms[j][1] - 30) : atoms[j][1]]
            notes.append(
                f"piece {number} of {len(pieces)} ends mid-sentence, {where} (after “…{tail}”): "
                f"no sentence or clause end within {max_seconds:.2f} s of speech"
            )
    return TextPlan(pieces, tuple(notes))
