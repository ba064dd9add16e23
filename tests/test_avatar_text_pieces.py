"""Splitting a text for the text-to-speech endpoint: sentence, clause and word joins, balance, no loss."""

from __future__ import annotations

import random
import re

import pytest

from comfyui_fal_avatar.nodes.avatar.frames import speech_seconds
from comfyui_fal_avatar.nodes.avatar.speech_rate import HAN_PER_SECOND, KANA_PER_SECOND
from comfyui_fal_avatar.nodes.avatar.text_pieces import split_text


def _assert_lossless(text: str, pieces: tuple[str, ...]) -> None:
    """The pieces are consecutive stretches of the text, stripped, with only whitespace between them."""
    at = 0
    for piece in pieces:
        assert piece and piece == piece.strip()
        found = text.index(piece, at)
        assert text[at:found].strip() == ""
        at = found + len(piece)
    assert text[at:].strip() == ""


def _sentence(rng: random.Random, chars: int, end: str = ".") -> str:
    words = []
    while len(" ".join(words)) < chars - 1:
        words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))))
    body = " ".join(words)[: chars - 1]
    return (body[:-1] + "a" if body.endswith(" ") else body).capitalize() + end


def test_short_text_is_one_piece_without_the_outer_whitespace():
    assert split_text("  Hello there.\n", 10.0).pieces == ("Hello there.",)
    assert split_text(" \n\t ", 10.0).pieces == ()
    with pytest.raises(ValueError):
        split_text("Hello", 0.01)


def test_2500_characters_of_sentences_split_at_sentence_ends_and_balanced():
    rng = random.Random(1)
    sentences = [_sentence(rng, 124, rng.choice(".!?")) for _ in range(20)]
    text = " ".join(sentences)  # 2,499 characters; 390 fit in 27.88 s, so three sentences a piece
    assert len(text) == 2499
    plan = split_text(text, 27.88)
    _assert_lossless(text, plan.pieces)
    assert plan.notes == ()
    counts = [sum(s in piece for s in sentences) for piece in plan.pieces]
    assert sorted(counts) == [2, 3, 3, 3, 3, 3, 3] and sum(counts) == 20
    assert all(speech_seconds(p) <= 27.88 for p in plan.pieces)


def test_balance_prefers_equal_pieces_over_filling_the_first():
    text = "Aaaa aaaa. Bbbb bbbb. Cccc cccc. Dddd dddd."  # four sentences of 10 characters
    assert split_text(text, 32 / 14).pieces == ("Aaaa aaaa. Bbbb bbbb.", "Cccc cccc. Dddd dddd.")


def test_quotes_and_brackets_stay_with_their_sentence():
    text = 'He said "Stop." She left (quietly.) Then «all went home!» The end…'
    plan = split_text(text, 21 / 14)
    assert plan.pieces == ('He said "Stop."', "She left (quietly.)", "Then «all went home!»", "The end…")
    assert plan.notes == ()


def test_a_long_sentence_splits_at_clause_ends():
    text = "First part here, second part there; third part: fourth part — fifth part, last one. Next."
    plan = split_text(text, 1.8)  # 25 characters
    _assert_lossless(text, plan.pieces)
    assert plan.notes == ()
    assert all(p[-1] in ",;:—." for p in plan.pieces), plan.pieces
    assert all(speech_seconds(p) <= 1.8 for p in plan.pieces)
    assert (
        "1,000" in split_text("It cost 1,000 dollars and 12:30 was the time of it all. " * 3, 3.0).pieces[0]
    )


def test_cjk_sentences_and_clauses():
    text = "我们今天去公园。天气很好！你去吗？「好的。」我不去，因为我很忙，还有很多事情要做。"
    plan = split_text(text, speech_seconds("还有很多事情要做。"))  # the longest sentence is one piece
    _assert_lossless(text, plan.pieces)
    assert plan.pieces == (
        "我们今天去公园。",
        "天气很好！你去吗？",
        "「好的。」我不去，",
        "因为我很忙，",
        "还有很多事情要做。",
    )
    assert plan.notes == ()
    long = "我" * 100  # no punctuation at all: between characters, with notes
    cjk = split_text(long, 25 / HAN_PER_SECOND)  # 25 characters at Mandarin's 5.18 syllables/s
    assert [len(p) for p in cjk.pieces] == [25, 25, 25, 25]
    assert len(cjk.notes) == 3 and "between words" in cjk.notes[0]


def test_600_characters_without_punctuation_split_between_words_with_notes():
    rng = random.Random(3)
    text = _sentence(rng, 601, "")
    assert len(text) == 600 and not re.search(r"[.,;:!?]", text)
    plan = split_text(text, 15.0)  # 210 characters: three pieces of about 200
    _assert_lossless(text, plan.pieces)
    lengths = [len(p) for p in plan.pieces]
    assert len(lengths) == 3 and max(lengths) - min(lengths) <= 12, lengths
    assert all(speech_seconds(p) <= 15.0 for p in plan.pieces)
    assert len(plan.notes) == 2
    assert plan.notes[0].startswith("piece 1 of 3 ends mid-sentence, between words (after “…")
    assert plan.notes[0].endswith("”): no sentence or clause end within 15.00 s of speech")
    assert plan.pieces[0].endswith(plan.notes[0].split("“…")[1].split("”")[0])


def test_a_word_longer_than_a_piece_splits_inside_it():
    plan = split_text("x" * 100, 2.0)
    assert [len(p) for p in plan.pieces] == [25, 25, 25, 25]
    assert "inside a word" in plan.notes[0]


def test_whitespace_inside_pieces_is_kept_and_only_join_whitespace_goes():
    text = "\n  One  two\tthree.\n\nFour\n five.   Six   seven eight nine.  "
    plan = split_text(text, 21 / 14)
    assert plan.pieces == ("One  two\tthree.", "Four\n five.", "Six   seven eight nine.")
    assert speech_seconds("Six   seven eight nine.") == 21 / 14  # whitespace runs count once
    assert speech_seconds(plan.pieces[0]) == 14 / 14


def test_another_speaking_rate():
    text = "Aaaa aaaa. Bbbb bbbb. Cccc cccc. Dddd dddd."
    plan = split_text(text, 1.05, chars_per_second=20.0)  # 21 characters
    assert plan.pieces == ("Aaaa aaaa. Bbbb bbbb.", "Cccc cccc. Dddd dddd.")
    assert all(speech_seconds(p, 20.0) <= 1.05 for p in plan.pieces)


def test_random_texts_keep_every_character_and_the_limit():
    rng = random.Random(5)
    marks = [". ", "! ", "? ", ", ", "; ", ": ", " — ", " ", " ", " ", "\n", "。", "，", "  "]
    for _ in range(150):
        parts = []
        for _ in range(rng.randint(1, 120)):
            parts.append("".join(rng.choice("abcxyz我你éü'\"(") for _ in range(rng.randint(1, 14))))
            parts.append(rng.choice(marks))
        text = "".join(parts)
        seconds = rng.choice([0.5, 1.0, 3.0, 10.0, 27.88])
        plan = split_text(text, seconds)
        _assert_lossless(text, plan.pieces)
        assert all(speech_seconds(p) <= seconds for p in plan.pieces)
        assert re.sub(r"\s", "", "".join(plan.pieces)) == re.sub(r"\s", "", text)


def test_arabic_and_devanagari_sentence_and_clause_ends():
    arabic = "هل ذهبت إلى السوق اليوم؟ نعم، ذهبت صباحا؛ واشتريت الخبز والحليب والفاكهة الطازجة."
    plan = split_text(arabic, speech_seconds("واشتريت الخبز والحليب والفاكهة الطازجة."))
    _assert_lossless(arabic, plan.pieces)
    assert plan.pieces[0] == "هل ذهبت إلى السوق اليوم؟" and len(plan.pieces) == 3
    assert all(p[-1] in "؟،؛." for p in plan.pieces) and plan.notes == ()
    hindi = "मैं आज बाजार गया। वहाँ बहुत भीड़ थी। मैंने फल और सब्जियाँ खरीदीं।"
    plan = split_text(hindi, speech_seconds("मैंने फल और सब्जियाँ खरीदीं।"))
    _assert_lossless(hindi, plan.pieces)
    assert len(plan.pieces) == 3 and all(p.endswith("।") for p in plan.pieces) and plan.notes == ()


def test_every_unicode_sentence_terminal_ends_a_sentence():
    for end in ("።", "။", "᙮", "꓿", "𑁇"):  # Ethiopic, Myanmar, Canadian Syllabics, Lisu, Brahmi
        text = f"abc def{end} ghi jkl{end}"
        assert split_text(text, 8 / 14).pieces == (f"abc def{end}", f"ghi jkl{end}"), end


def test_cjk_speech_is_timed_per_syllable_not_at_latin_speed():
    assert speech_seconds("我" * 518) == pytest.approx(100.0)  # Mandarin: 5.18 syllables/s, a character each
    assert speech_seconds("か" * 784) == pytest.approx(100.0)  # Japanese kana: 7.84/s
    assert speech_seconds("한" * 518) == pytest.approx(100.0)  # Hangul blocks: Mandarin's rate stands in
    assert speech_seconds("a" * 1400) == pytest.approx(100.0)  # Latin letters: 14/s as before
    mixed = "我爱 Python"
    assert speech_seconds(mixed) == pytest.approx((2 / HAN_PER_SECOND * 14 + 1 + 6) / 14)
    assert KANA_PER_SECOND > HAN_PER_SECOND
