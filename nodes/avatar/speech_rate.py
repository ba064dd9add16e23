"""How long a text takes to speak, by the script of each character.

Speech-rate figures: Pellegrino, Coupé & Marsico (2011), "A cross-language perspective on speech
information rate", Language 87(3): 539-558, measured syllables per second of read speech: Mandarin 5.18,
Japanese 7.84, English 6.19 (French 7.18, German 5.97, Italian 6.99, Spanish 7.82).

- Latin, Cyrillic, Greek and every script not listed below: 14 characters per second, what the built-in
  voices speak in English (about 150 words a minute; 6.19 syllables/s at about 2.3 characters each).
- Han characters: one character is one syllable in Mandarin, so 5.18 per second.
- Kana: one kana is about one Japanese syllable (mora), so 7.84 per second. Approximation: a kanji read
  in Japanese often has two or more morae but is counted as one Han character (5.18/s); the 15 % slack
  each piece gets (``TEXT_SLACK``) absorbs part of that.
- Hangul syllable blocks: one block is one syllable. Korean is not in that study; Mandarin's 5.18, the
  slowest of its rates, stands in, so a Korean piece gets more time rather than less.

Abjads and abugidas (Arabic, Hebrew, Devanagari, Thai, ...) keep 14 per second: no published rate per
written character was at hand for them, so that is an approximation too.
"""

from __future__ import annotations

import unicodedata

LATIN_CHARS_PER_SECOND = 14.0
HAN_PER_SECOND = 5.18  # Mandarin syllables/s (Pellegrino et al. 2011)
KANA_PER_SECOND = 7.84  # Japanese syllables/s (Pellegrino et al. 2011)
HANGUL_PER_SECOND = HAN_PER_SECOND  # stand-in, see the module doc

# (first, last code point, characters per second), from the Unicode blocks of each script
_RATES = (
    (0x3040, 0x30FF, KANA_PER_SECOND),  # Hiragana, Katakana
    (0x31F0, 0x31FF, KANA_PER_SECOND),  # Katakana Phonetic Extensions
    (0xFF66, 0xFF9D, KANA_PER_SECOND),  # halfwidth Katakana
    (0x3400, 0x4DBF, HAN_PER_SECOND),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF, HAN_PER_SECOND),  # CJK Unified Ideographs
    (0xF900, 0xFAFF, HAN_PER_SECOND),  # CJK Compatibility Ideographs
    (0x20000, 0x3FFFF, HAN_PER_SECOND),  # Supplementary and Tertiary Ideographic Planes
    (0xAC00, 0xD7AF, HANGUL_PER_SECOND),  # Hangul Syllables
)


def has_words(text: str) -> bool:
    """Whether ``text`` has anything a voice can say: a letter or a digit, in any script (a text of only
    punctuation, symbols or emoji would be billed for silence)."""
    return any(unicodedata.category(char)[0] in "LN" for char in text)


def char_weight(char: str) -> float:
    """How many Latin characters' worth of speaking time ``char`` takes (1.0 outside the listed scripts)."""
    code = ord(char)
    if code < 0x3040:
        return 1.0
    for first, last, rate in _RATES:
        if first <= code <= last:
            return LATIN_CHARS_PER_SECOND / rate
    return 1.0


def speech_units(text: str) -> float:
    """The text's length in Latin characters' worth of speech: each non-space character by its weight, each
    run of whitespace between two of them as one."""
    units, gap = 0.0, False
    for char in text:
        if char.isspace():
            gap = units > 0
        else:
            units += char_weight(char) + (1.0 if gap else 0.0)
            gap = False
    return units
