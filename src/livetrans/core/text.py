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


HAN_RANGES = (
    "\u3400-\u4dbf"  # Han extension A
    "\u4e00-\u9fff"  # Han
    "\uf900-\ufaff"  # Han compatibility
    "\U00020000-\U0003ffff"  # Han extensions B and later
)
# Scripts written without spaces: a line may break between any two of these.
HAN_OR_KANA_RANGES = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u31f0-\u31ff"  # katakana phonetic extensions
    "\uff66-\uff9f"  # half-width katakana
    + HAN_RANGES
)
HAN_RE = re.compile(f"[{HAN_RANGES}]+")  # Chinese characters only
HANGUL_RANGES = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"  # syllables and jamo
HAN_OR_KANA_RE = re.compile(f"[{HAN_OR_KANA_RANGES}]")
CJK_RE = re.compile(f"[{HAN_OR_KANA_RANGES}{HANGUL_RANGES}]")
_LETTER_RUN_RE = re.compile(r"[^\W\d_]+")  # a word of letters


def is_han_or_kana(ch: str) -> bool:
    """Scripts written without spaces: a line may break between any two of these."""
    return HAN_OR_KANA_RE.fullmatch(ch) is not None


def is_han(text: str) -> bool:
    """True when ``text`` is Chinese characters only (Han, no kana)."""
    return HAN_RE.fullmatch(text) is not None


def is_cjk_char(ch: str) -> bool:
    """A Han, kana or Hangul character."""
    return CJK_RE.fullmatch(ch) is not None


def has_cjk(text: str) -> bool:
    """True when ``text`` holds any Han, kana or Hangul character.

    Sizes are then counted in characters rather than words, since such text has
    few or no spaces.
    """
    return CJK_RE.search(text) is not None


def is_cjk_text(text: str) -> bool:
    """True when Han, kana and Hangul characters are at least half the text's units.

    A unit is one such character or one run of other letters (a word), so a
    Latin brand name inside Chinese counts as one, like a Chinese character.
    """
    cjk = len(CJK_RE.findall(text))
    other = len(_LETTER_RUN_RE.findall(CJK_RE.sub(" ", text)))
    return cjk > 0 and cjk >= other


def is_cjk_language(language: str | None) -> bool:
    """True for a language code (``zh``, ``zh-TW``, ``ja``...) of a CJK language."""
    return (language or "").split("-")[0].lower() in CJK_LANGUAGES
