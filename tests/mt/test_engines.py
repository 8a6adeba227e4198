"""Both engines on tiny random checkpoints of the real architectures.

The outputs are gibberish (random weights); the tests pin down plumbing: the forced
target-language token, one batched call for all targets, identical greedy output from
CTranslate2 (float32) and transformers, spans restored through a real model, and the
user's loading + conversion path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from livetrans.errors import LanguageError
from livetrans.mt import DecodeOptions, Translator, load_translator
from livetrans.mt.ct2_engine import CTranslate2Translator
from livetrans.mt.glossary import Glossary, GlossaryTerm
from livetrans.mt.hf_engine import TransformersTranslator
from livetrans.mt.stage import TranslationStage
from livetrans.types import SentenceEvent

OPTIONS = DecodeOptions(max_new_tokens=16)
EN = ["Hello everyone, welcome to the live stream!", "The price is $19.99 today.", "Buy now"]
ZH = ["大家好，欢迎来到直播间！", "今天的价格是199元。"]
TARGETS = ["es", "zh-TW", "de", "yue"]


@pytest.fixture(scope="session")
def nllb_ct2(nllb_dir: Path) -> CTranslate2Translator:
    tr = load_translator(nllb_dir, quantization="float32", compute_type="float32", options=OPTIONS)
    assert isinstance(tr, CTranslate2Translator)
    return tr


@pytest.fixture(scope="session")
def nllb_hf(nllb_dir: Path) -> TransformersTranslator:
    tr = load_translator(nllb_dir, engine="transformers", options=OPTIONS)
    assert isinstance(tr, TransformersTranslator)
    return tr


@pytest.fixture(scope="session")
def marian_ct2(marian_dir: Path) -> CTranslate2Translator:
    tr = load_translator(marian_dir, quantization="float32", compute_type="float32", options=OPTIONS)
    assert isinstance(tr, CTranslate2Translator)
    return tr


@pytest.fixture(scope="session")
def marian_hf(marian_dir: Path) -> TransformersTranslator:
    tr = load_translator(marian_dir, engine="transformers", options=OPTIONS)
    assert isinstance(tr, TransformersTranslator)
    return tr


def test_engines_satisfy_the_protocol(nllb_ct2: Any, nllb_hf: Any, marian_ct2: Any) -> None:
    for tr in (nllb_ct2, nllb_hf, marian_ct2):
        assert isinstance(tr, Translator)


@pytest.mark.parametrize("engine", ["nllb_ct2", "nllb_hf"])
def test_first_token_is_the_target_language(engine: str, request: pytest.FixtureRequest) -> None:
    tr = request.getfixturevalue(engine)
    out = tr.translate_tokens(EN, "en", TARGETS)
    assert list(out) == TARGETS
    expected = {"es": "spa_Latn", "zh-TW": "zho_Hant", "de": "deu_Latn", "yue": "yue_Hant"}
    for target, rows in out.items():
        assert len(rows) == len(EN)
        assert all(row[0] == expected[target] and len(row) > 1 for row in rows)


def test_ct2_translates_all_targets_in_one_call(nllb_ct2: CTranslate2Translator) -> None:
    inner = nllb_ct2._translator
    calls: list[dict[str, Any]] = []

    class Spy:
        def translate_batch(self, rows: list[list[str]], **kwargs: Any) -> Any:
            calls.append({"rows": rows, **kwargs})
            return inner.translate_batch(rows, **kwargs)

    nllb_ct2._translator = Spy()
    try:
        out = nllb_ct2.translate_batch(EN, "en", TARGETS)
    finally:
        nllb_ct2._translator = inner
    assert len(calls) == 1
    assert len(calls[0]["rows"]) == len(EN) * len(TARGETS)
    assert calls[0]["rows"][0][0] == "eng_Latn" and calls[0]["rows"][0][-1] == "</s>"
    assert [p[0] for p in calls[0]["target_prefix"]] == [
        code for code in ("spa_Latn", "zho_Hant", "deu_Latn", "yue_Hant") for _ in EN
    ]
    assert {k: len(v) for k, v in out.items()} == {t: len(EN) for t in TARGETS}


def test_hf_translates_all_targets_in_one_generate(nllb_hf: TransformersTranslator) -> None:
    model = nllb_hf._model
    original = model.generate
    shapes: list[tuple[int, ...]] = []

    def spy(**kwargs: Any) -> Any:
        shapes.append(tuple(kwargs["decoder_input_ids"].shape))
        return original(**kwargs)

    model.generate = spy
    try:
        nllb_hf.translate_batch(EN, "en", TARGETS)
    finally:
        del model.generate
    assert shapes == [(len(EN) * len(TARGETS), 2)]


def test_source_tokenization_matches_transformers(
    nllb_ct2: CTranslate2Translator, nllb_hf: TransformersTranslator
) -> None:
    """The CT2 engine's SentencePiece tokens are the transformers tokenizer's tokens."""
    for text, lang in [(EN[0], "en"), (EN[1], "en"), (ZH[0], "zh")]:
        ours = nllb_ct2._source_tokens(text, nllb_ct2._lang_token(lang))
        ids = nllb_hf._encode([text], lang)["input_ids"][0].tolist()
        assert ours == nllb_hf._tokenizer.convert_ids_to_tokens(ids)


def test_nllb_engines_agree(nllb_ct2: CTranslate2Translator, nllb_hf: TransformersTranslator) -> None:
    """Same checkpoint, greedy, float32: the same tokens and the same text."""
    for texts, source in [(EN, "en"), (ZH, "zh")]:
        targets = [t for t in TARGETS if t != source]
        assert nllb_ct2.translate_tokens(texts, source, targets) == nllb_hf.translate_tokens(
            texts, source, targets
        )
        assert nllb_ct2.translate_batch(texts, source, targets) == nllb_hf.translate_batch(
            texts, source, targets
        )


def test_marian_engines_agree(marian_ct2: CTranslate2Translator, marian_hf: TransformersTranslator) -> None:
    a, b = marian_ct2.translate_tokens(ZH, "zh", ["en"]), marian_hf.translate_tokens(ZH, "zh", ["en"])
    assert a == b and len(a["en"]) == len(ZH) and all(a["en"])
    assert marian_ct2.translate_batch(ZH, "zh", ["en"]) == marian_hf.translate_batch(ZH, "zh", ["en"])


def test_marian_refuses_another_pair(marian_ct2: CTranslate2Translator, marian_hf: TransformersTranslator) -> None:
    for tr in (marian_ct2, marian_hf):
        with pytest.raises(LanguageError, match="cannot translate zh→es: it only translates zh → en"):
            tr.translate_batch(ZH, "zh", ["en", "es"])


def test_int8_engine_and_cached_conversion(nllb_dir: Path, mt_cache: Path) -> None:
    """The default path (int8) converts once into the cache and reuses the conversion."""
    first = load_translator(nllb_dir, options=OPTIONS)
    assert isinstance(first, CTranslate2Translator) and first.compute_type == "int8"
    converted = sorted((mt_cache / "mt" / "ct2").glob("local-nllb-tiny-*-int8"))
    assert len(converted) == 1
    stamp = (converted[0] / "model.bin").stat().st_mtime_ns
    second = load_translator(nllb_dir, options=OPTIONS)
    assert (converted[0] / "model.bin").stat().st_mtime_ns == stamp
    out = second.translate_batch(EN, "en", ["es", "fr"])
    assert [len(v) for v in out.values()] == [3, 3]


def test_transformers_engine_needs_the_checkpoint(nllb_ct2: CTranslate2Translator) -> None:
    from livetrans.errors import ModelError

    assert nllb_ct2.info.path == nllb_ct2.model_dir
    with pytest.raises(ModelError, match="needs the Hugging Face checkpoint"):
        load_translator(nllb_ct2.model_dir, engine="transformers")


@pytest.mark.parametrize("engine", ["nllb_ct2", "nllb_hf"])
def test_spans_survive_a_real_model(engine: str, request: pytest.FixtureRequest) -> None:
    """Through a real (random) model every protected span and glossary term comes out
    exactly, in every target language."""
    tr = request.getfixturevalue(engine)
    glossary = Glossary([GlossaryTerm("Livetrans"), GlossaryTerm("flash sale", {"spa_Latn": "oferta relámpago"})])
    stage = TranslationStage(tr, ["es", "de", "zh-TW"], glossary=glossary)
    text = "Livetrans flash sale: ¥199, $19.99 or 19,99 € – 50% off at https://x.io/s @shop 🎉"
    events = stage.push(SentenceEvent(id="s1", start=0.0, end=3.0, text=text, lang="en"))
    assert [e.lang for e in events] == ["es", "de", "zh-TW"]
    for event in events:
        for span in ("Livetrans", "¥199", "$19.99", "19,99 €", "50%", "https://x.io/s", "@shop", "🎉"):
            assert span in event.text, (event.lang, span, event.text)
        assert ("oferta relámpago" in event.text) == (event.lang == "es")
        assert not re.search(r"\[\d+\]", event.text)
    assert stage.calls == 1
    again = stage.push(SentenceEvent(id="s2", start=5.0, end=8.0, text=text, lang="en"))
    assert stage.calls == 1 and stage.cache_hits == 3
    assert [e.text for e in again] == [e.text for e in events]


def test_m2m100_checkpoint_on_both_engines(m2m_dir: Path) -> None:
    """M2M-100: __xx__ language tokens forced per row, converted with its language tokens
    (CTranslate2 4.8.5 alone misses them under transformers 5), engines agree."""
    ct2 = load_translator(m2m_dir, quantization="float32", compute_type="float32", options=OPTIONS)
    hf = load_translator(m2m_dir, engine="transformers", options=OPTIONS)
    assert isinstance(ct2, CTranslate2Translator) and isinstance(hf, TransformersTranslator)
    assert ct2.info.family == "m2m100"
    tokens = ct2.translate_tokens(EN, "en", ["es", "de"])
    assert [row[0] for rows in tokens.values() for row in rows] == ["__es__"] * 3 + ["__de__"] * 3
    assert tokens == hf.translate_tokens(EN, "en", ["es", "de"])
    assert ct2.translate_batch(ZH, "zh", ["en"]) == hf.translate_batch(ZH, "zh", ["en"])
    assert ct2._source_tokens(EN[0], "__en__") == hf._tokenizer.convert_ids_to_tokens(
        hf._encode([EN[0]], "en")["input_ids"][0].tolist()
    )
    with pytest.raises(LanguageError, match="cannot translate en→zh-TW"):
        ct2.check_pairs("en", ["zh-TW"])


def test_both_engines_stop_early_when_cancelled(
    nllb_ct2: CTranslate2Translator, nllb_hf: TransformersTranslator
) -> None:
    full_ct2 = nllb_ct2.translate_tokens(EN, "en", ["es"])["es"]
    cut_ct2 = nllb_ct2.translate_tokens(EN, "en", ["es"], cancel=lambda: True)["es"]
    full_hf = nllb_hf.translate_ids(EN, "en", ["es"])["es"]
    cut_hf = nllb_hf.translate_ids(EN, "en", ["es"], cancel=lambda: True)["es"]
    # Stopped after the first generated token (the forced language token aside).
    assert all(len(row) <= 2 for row in cut_ct2) and max(map(len, full_ct2)) > 3
    assert all(len(row) <= 3 for row in cut_hf) and max(map(len, full_hf)) > 3
