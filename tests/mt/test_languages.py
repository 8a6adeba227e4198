"""The language table: Whisper, FLORES-200 and M2M-100 codes, Chinese variants, pairs."""

from __future__ import annotations

import pytest

from livetrans.errors import LanguageError
from livetrans.mt.base import ModelInfo, check_pairs
from livetrans.mt.languages import LANGUAGES, resolve_language, same_language


@pytest.mark.parametrize(
    ("code", "flores"),
    [
        ("zh", "zho_Hans"), ("zh-CN", "zho_Hans"), ("zh-Hans", "zho_Hans"), ("zh_cn", "zho_Hans"),
        ("cmn", "zho_Hans"), ("zh-TW", "zho_Hant"), ("zh-HK", "zho_Hant"), ("zh-Hant", "zho_Hant"),
        ("yue", "yue_Hant"), ("en", "eng_Latn"), ("EN", "eng_Latn"), ("eng", "eng_Latn"),
        ("pt-BR", "por_Latn"), ("es", "spa_Latn"), ("ja", "jpn_Jpan"), ("ko", "kor_Hang"),
        ("ru", "rus_Cyrl"), ("ar", "arb_Arab"), ("spa_Latn", "spa_Latn"), ("ace_Arab", "ace_Arab"),
    ],
)
def test_codes_resolve_to_flores(code: str, flores: str) -> None:
    assert resolve_language(code).flores == flores


def test_whisper_zh_and_yue_are_deliberate() -> None:
    """Whisper's zh is Simplified Mandarin, yue is written Cantonese; M2M-100 has neither
    Traditional Chinese nor Cantonese."""
    zh, yue, hant = resolve_language("zh"), resolve_language("yue"), resolve_language("zh-TW")
    assert (zh.whisper, zh.m2m) == ("zh", "zh")
    assert (yue.whisper, yue.m2m) == ("yue", None)
    assert hant.m2m is None


@pytest.mark.parametrize("code", ["xx", "", "zh-XX", "klingon", "eng_latn_x"])
def test_unknown_code_is_a_language_error(code: str) -> None:
    with pytest.raises(LanguageError, match="unknown language code"):
        resolve_language(code)


def test_table_is_consistent() -> None:
    """One row per language: codes and FLORES codes unique, about 40+ common languages."""
    assert len(LANGUAGES) >= 40
    assert len({lang.flores for lang in LANGUAGES}) == len(LANGUAGES)
    assert len({lang.code for lang in LANGUAGES}) == len(LANGUAGES)
    for lang in LANGUAGES:
        assert resolve_language(lang.code) == lang
        if lang.whisper:
            assert resolve_language(lang.whisper) == lang


def test_same_language() -> None:
    assert same_language("zh", "zh-CN")
    assert not same_language("zh", "zh-TW")
    assert not same_language("zh", "yue")
    assert same_language("en", "eng_Latn")


NLLB = ModelInfo("nllb", "nllb", frozenset({"eng_Latn", "spa_Latn", "zho_Hans", "zho_Hant"}))
M2M = ModelInfo("m2m", "m2m100", frozenset({"eng_Latn", "spa_Latn", "zho_Hans"}))
OPUS = ModelInfo("opus-mt-zh-en", "marian", frozenset({"zho_Hans", "eng_Latn"}),
                 source="zho_Hans", target="eng_Latn")


def test_marian_refuses_a_pair_it_cannot_do() -> None:
    check_pairs(OPUS, "zh", ["en"])
    with pytest.raises(LanguageError, match=r"opus-mt-zh-en cannot translate zh→es: it only translates zh → en"):
        check_pairs(OPUS, "zh", ["en", "es"])
    with pytest.raises(LanguageError, match="cannot translate en→zh"):
        check_pairs(OPUS, "en", ["zh"])


def test_pairs_with_detected_source_check_targets_only() -> None:
    check_pairs(OPUS, None, ["en"])
    with pytest.raises(LanguageError, match="into es"):
        check_pairs(OPUS, None, ["es"])
    check_pairs(NLLB, None, ["es", "zh-TW"])
    with pytest.raises(LanguageError, match="into ja"):
        check_pairs(NLLB, None, ["ja"])


def test_m2m_refuses_traditional_chinese() -> None:
    check_pairs(M2M, "en", ["es", "zh"])
    with pytest.raises(LanguageError, match="en→zh-TW"):
        check_pairs(M2M, "en", ["zh-TW"])


def test_target_equal_to_source_needs_no_model_support() -> None:
    """A zh→en model serving an en viewer of a zh stream and a zh viewer (who reads the source)."""
    check_pairs(OPUS, "zh", ["en", "zh-CN"])


def test_no_targets_or_unknown_target() -> None:
    with pytest.raises(LanguageError, match="no target language"):
        check_pairs(NLLB, "en", [])
    with pytest.raises(LanguageError, match="unknown language code 'qq'"):
        check_pairs(NLLB, "en", ["qq"])


def test_output_cap_follows_the_input_length() -> None:
    from livetrans.mt.base import DecodeOptions

    options = DecodeOptions()
    assert options.max_new_for(5) == 25
    assert options.max_new_for(200) == 256
    fixed = DecodeOptions(max_new_tokens=20, min_new_tokens=20)
    assert fixed.max_new_for(1) == 20 and fixed.max_new_for(100) == 20


def test_non_commercial_license_is_announced() -> None:
    nc = ModelInfo("nllb-200-distilled-600M", "nllb", frozenset(), license="CC-BY-NC-4.0")
    assert nc.license_notice == "nllb-200-distilled-600M is licensed CC-BY-NC-4.0: non-commercial use only"
    assert ModelInfo("m2m100_418M", "m2m100", frozenset(), license="MIT").license_notice is None
