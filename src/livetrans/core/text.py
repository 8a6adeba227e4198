"""Text rules every stage shares: where a sentence or clause ends, what is CJK.

One home for them, so the stabiliser, the sentence segmenter, the draft
translator, the vocabulary and the subtitle line breaker agree on what a
sentence end is and on which scripts are written without spaces.
"""

from __future__ import annotations

import re

# Marks that end a sentence, in Latin and CJK punctuation.
SENTENCE_END_MARKS = ".!?。！？…‼⁇"
# Marks that end a clause: a good place to cut a long sentence or break a line.
CLAUSE_END_MARKS = ",;:，、；：—–"
# Quotes and brackets that may follow a sentence's last mark ("Stop!" he said).
CLOSING_MARKS = "\"'”’»」』)）]》〉"

SENTENCE_END_RE = re.compile(
    f"[{re.escape(SENTENCE_END_MARKS)}]+[{re.escape(CLOSING_MARKS)}]*$"
)
CLAUSE_END_RE = re.compile(f"[{re.escape(CLAUSE_END_MARKS)}]$")

# Languages written without spaces between words (Korean has spaces, but its
# syllable blocks carry as much as a Han character, so it is counted the same way).
CJK_LANGUAGES = frozenset({"zh", "yue", "ja", "ko"})


def ends_sentence_mark(text: str) -> bool:
    """True when ``text`` ends with a sentence mark, closing quotes allowed after it."""
    return SENTENCE_END_RE.search(text.strip()) is not None


def ends_clause_mark(text: str) -> bool:
    """True when ``text`` ends with a clause mark (comma, semicolon, colon, dash)."""
    return CLAUSE_END_RE.search(text.strip()) is not None


def is_han_or_kana(ch: str) -> bool:
    """Scripts written without spaces: a line may break between any two of these."""
    cp = ord(ch)
    return (
        0x3040 <= cp <= 0x30FF  # hiragana, katakana
        or 0x31F0 <= cp <= 0x31FF  # katakana phonetic extensions
        or 0x3400 <= cp <= 0x4DBF  # Han extension A
        or 0x4E00 <= cp <= 0x9FFF  # Han
        or 0xF900 <= cp <= 0xFAFF  # Han compatibility
        or 0xFF66 <= cp <= 0xFF9F  # half-width katakana
        or 0x20000 <= cp <= 0x3FFFF  # Han extensions B and later
    )


def is_hangul(ch: str) -> bool:
    """A Hangul syllable or jamo."""
    cp = ord(ch)
    return 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F


def is_cjk_char(ch: str) -> bool:
    """A Han, kana or Hangul character."""
    return is_han_or_kana(ch) or is_hangul(ch)


def has_cjk(text: str) -> bool:
    """True when ``text`` holds any Han, kana or Hangul character.

    Sizes are then counted in characters rather than words, since such text has
    few or no spaces.
    """
    return any(is_cjk_char(ch) for ch in text)


def is_cjk_text(text: str) -> bool:
    """True when Han, kana and Hangul characters are at least half the text's units.

    A unit is one such character or one run of other letters (a word), so a
    Latin brand name inside Chinese counts as one, like a Chinese character.
    """
    cjk = other = 0
    in_word = False
    for ch in text:
        if is_cjk_char(ch):
            cjk, in_word = cjk + 1, False
        elif ch.isalpha():
            other, in_word = other + (not in_word), True
        else:
            in_word = False
    return cjk > 0 and cjk >= other


def is_cjk_language(language: str | None) -> bool:
    """True for a language code (``zh``, ``zh-TW``, ``ja``...) of a CJK language."""
    return (language or "").split("-")[0].lower() in CJK_LANGUAGES
