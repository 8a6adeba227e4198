"""The one text normaliser and the error rates every test and benchmark uses.

Normalisation (documented in docs/benchmarks.md):

- English: OpenAI Whisper's ``EnglishTextNormalizer`` (via ``whisper-normalizer``):
  lower case, punctuation removed, spellings and number words standardised
  ("Mr." → "mister", "twenty five" → "25").
- Other languages: Whisper's ``BasicTextNormalizer``: lower case, punctuation and
  bracketed text removed, white space folded.
- Chinese (zh, yue): Traditional characters converted to Simplified with OpenCC
  (``t2s``) first, because Whisper writes either for the same speech; then numbers
  written in characters become digits (``cn2an``: "九点" → "9点", "一千二百九十九元" →
  "1299元"), because Whisper writes either, as the English normaliser does for
  "twenty five".
- Chinese, Japanese, Korean are scored by character error rate (CER) on the
  normalised text with spaces removed; every other language by word error rate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jiwer

CER_LANGUAGES = frozenset({"zh", "yue", "ja", "ko"})


@functools.cache
def _english() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()  # type: ignore[no-any-return]


@functools.cache
def _basic() -> Callable[[str], str]:
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()  # type: ignore[no-any-return]


@functools.cache
def _chinese_digits() -> Callable[[str], str]:
    import warnings

    import cn2an

    def convert(text: str) -> str:
        with warnings.catch_warnings():  # it warns about each run of numerals it leaves as is
            warnings.simplefilter("ignore")
            return str(cn2an.transform(text, "cn2an"))

    return convert


@functools.cache
def _t2s() -> Callable[[str], str]:
    import opencc

    converter: Callable[[str], str] = opencc.OpenCC("t2s").convert
    return converter


def base_language(lang: str) -> str:
    """'zh-CN' → 'zh', 'en_US' → 'en'."""
    return lang.replace("_", "-").split("-")[0].lower()


def normalize(text: str, lang: str) -> str:
    """Normalise ``text`` of language ``lang`` for scoring (see module docstring)."""
    lang = base_language(lang)
    if lang in ("zh", "yue"):
        text = _chinese_digits()(_t2s()(text))
    normalized = _english()(text) if lang == "en" else _basic()(text)
    normalized = " ".join(normalized.split())
    if lang in CER_LANGUAGES:
        normalized = normalized.replace(" ", "")
    return normalized


def uses_cer(lang: str) -> bool:
    return base_language(lang) in CER_LANGUAGES


def error_rate(reference: str, hypothesis: str, lang: str) -> float:
    """WER (or CER for zh/ja/ko) of ``hypothesis`` against ``reference``, after normalising both.

    An empty reference scores 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    ref = normalize(reference, lang)
    hyp = normalize(hypothesis, lang)
    if not ref:
        return 0.0 if not hyp else 1.0
    if uses_cer(lang):
        return float(jiwer.cer(ref, hyp))
    return float(jiwer.wer(ref, hyp))


def word_count(text: str, lang: str) -> int:
    """Words (characters for CER languages) in ``text`` after normalising."""
    normalized = normalize(text, lang)
    return len(normalized) if uses_cer(lang) else len(normalized.split())
