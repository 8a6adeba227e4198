"""The shared text rules: sentence and clause ends, CJK scripts and languages."""

from __future__ import annotations

import pytest

from livetrans.core.text import (
    ends_clause_mark,
    ends_sentence_mark,
    has_cjk,
    is_cjk_char,
    is_cjk_language,
    is_cjk_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("done.", True),
        ("really?!", True),
        ("wait…", True),
        ("好。", True),
        ("什么？", True),
        ('"Stop!"', True),  # a closing quote may follow the mark
        ("结束。」", True),  # so may a CJK closing bracket
        ("(see above.)", True),
        ("well,", False),
        ("hello", False),
        ("3.5 kg", False),
        ("", False),
        ("done. ", True),  # trailing space is ignored
    ],
)
def test_sentence_end(text: str, expected: bool) -> None:
    """A sentence ends with . ! ? … or their CJK forms, closing quotes allowed after."""
    assert ends_sentence_mark(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("well,", True), ("so;", True), ("note:", True), ("然后，", True), ("一、", True),
     ("and—", True), ("done.", False), ("word", False)],
)
def test_clause_end(text: str, expected: bool) -> None:
    """A clause ends with a comma, semicolon, colon or dash, Latin or CJK."""
    assert ends_clause_mark(text) is expected


def test_cjk_characters() -> None:
    """Han, kana and Hangul are CJK; Latin, Cyrillic and CJK punctuation are not."""
    assert all(is_cjk_char(ch) for ch in "漢かカ한𠀀")
    assert not any(is_cjk_char(ch) for ch in "aЖ。，1 ")


def test_has_cjk_is_any_character() -> None:
    """One CJK character makes a text count its size in characters."""
    assert has_cjk("I said 你好 to them today")
    assert not has_cjk("Привет, мир")


def test_cjk_text_is_mostly_cjk() -> None:
    """A text is CJK when CJK characters are at least half its units (a Latin word is one)."""
    assert is_cjk_text("我用iPhone拍照")
    assert is_cjk_text("안녕하세요 여러분")
    assert not is_cjk_text("I said 你好 to them today")
    assert not is_cjk_text("")


@pytest.mark.parametrize(
    ("code", "expected"),
    [("zh", True), ("zh-TW", True), ("yue", True), ("ja", True), ("ko", True), ("en", False),
     ("es", False), (None, False), ("", False)],
)
def test_cjk_language(code: str | None, expected: bool) -> None:
    """Chinese, Cantonese, Japanese and Korean are the languages sized in characters."""
    assert is_cjk_language(code) is expected
