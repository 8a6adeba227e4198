"""TranslationStage on a recording translator: fan-out, skipping, cache, glossary."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from livetrans.errors import LanguageError
from livetrans.mt.base import ModelInfo, check_pairs
from livetrans.mt.glossary import Glossary, GlossaryTerm
from livetrans.mt.stage import TranslationStage
from livetrans.types import SentenceEvent

INFO = ModelInfo("rec", "nllb", frozenset({"eng_Latn", "spa_Latn", "fra_Latn", "zho_Hans", "zho_Hant"}))


class RecordingTranslator:
    """Tags each text with its target; records every call it gets."""

    info = INFO

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str, list[str]]] = []

    def check_pairs(self, source: str | None, targets: Sequence[str]) -> None:
        check_pairs(self.info, source, targets)

    def translate_batch(
        self, texts: Sequence[str], source: str, targets: Sequence[str], cancel: Callable[[], bool] | None = None
    ) -> dict[str, list[str]]:
        self.calls.append((list(texts), source, list(targets)))
        return {t: [f"<{t}> {text}" for text in texts] for t in targets}


def sentence(text: str, lang: str = "en", sid: str = "s1") -> SentenceEvent:
    return SentenceEvent(id=sid, start=1.0, end=2.5, text=text, lang=lang)


def test_one_call_for_all_targets_and_one_event_each() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es", "fr", "zh-TW"])
    events = stage.push(sentence("Hello there"))
    assert tr.calls == [(["Hello there"], "en", ["es", "fr", "zh-TW"])]
    assert [(e.lang, e.text) for e in events] == [
        ("es", "<es> Hello there"), ("fr", "<fr> Hello there"), ("zh-TW", "<zh-TW> Hello there")
    ]
    for e in events:
        assert (e.type, e.id, e.source_lang, e.start, e.end) == ("translation", "s1", "en", 1.0, 2.5)
    assert stage.flush() == []


def test_target_in_the_source_language_is_skipped() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["en", "es", "zh-CN"])
    events = stage.push(sentence("你好", lang="zh"))
    assert tr.calls == [(["你好"], "zh", ["en", "es"])]
    assert [e.lang for e in events] == ["en", "es"]
    assert [e.lang for e in stage.push(sentence("only English", lang="en"))] == ["es", "zh-CN"]


def test_all_targets_equal_source_makes_no_call() -> None:
    tr = RecordingTranslator()
    assert TranslationStage(tr, ["es"]).push(sentence("Hola", lang="es")) == []
    assert tr.calls == []


def test_repeated_sentence_comes_from_the_cache() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es", "fr"])
    first = stage.push(sentence("Buy now, only $5!", sid="a"))
    again = stage.push(sentence("  Buy now,   only $5! ", sid="b"))  # same words, other spacing
    assert len(tr.calls) == 1
    assert (stage.cache_hits, stage.cache_misses) == (2, 2)
    assert [e.text for e in again] == [e.text for e in first]
    assert [e.id for e in again] == ["b", "b"]


def test_cache_is_per_source_language_and_target() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es", "fr"])
    stage.push(sentence("OK", lang="en"))
    stage.push(sentence("OK", lang="zh"))
    assert len(tr.calls) == 2
    stage2 = TranslationStage(tr, ["es", "fr"])
    stage2.push(sentence("OK"))
    stage2._cache.pop(("eng_Latn", "OK", "fra_Latn", stage2.glossary.key))
    stage2.push(sentence("OK"))
    assert tr.calls[-1] == (["OK"], "en", ["fr"])  # only the missing target is translated


def test_lru_evicts_the_oldest() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es"], cache_size=2)
    for text in ("one", "two", "three", "one"):
        stage.push(sentence(text))
    assert len(tr.calls) == 4 and stage.cache_hits == 0
    stage.push(sentence("one"))
    assert stage.cache_hits == 1


def test_glossary_and_numbers_through_the_stage() -> None:
    tr = RecordingTranslator()
    glossary = Glossary([GlossaryTerm("flash sale", {"spa_Latn": "oferta relámpago"})])
    stage = TranslationStage(tr, ["es", "fr"], glossary=glossary)
    events = stage.push(sentence("The flash sale: ¥199 and 50% off @shop 🎉"))
    assert tr.calls[0][0] == ["The [1]: [2] and [3] off [4] [5]"]
    assert events[0].text == "<es> The oferta relámpago: ¥199 and 50% off @shop 🎉"
    assert events[1].text == "<fr> The flash sale: ¥199 and 50% off @shop 🎉"


def test_a_streams_live_vocabulary_stands_for_the_glossary_in_its_calls_only() -> None:
    from livetrans.core.vocabulary import vocabulary_from_json

    tr = RecordingTranslator()
    glossary = Glossary([GlossaryTerm("flash sale", {"spa_Latn": "oferta relámpago"})])
    stage = TranslationStage(tr, ["es"], glossary=glossary)
    live = vocabulary_from_json('{"terms": [{"term": "flash sale", "translations": {"es": "venta flash"}}]}')
    assert stage.push(sentence("The flash sale"), live)[0].text == "<es> The venta flash"
    assert stage.push(sentence("The flash sale"))[0].text == "<es> The oferta relámpago"  # not from the cache
    assert stage.push(sentence("The flash sale"), live)[0].text == "<es> The venta flash"
    assert len(tr.calls) == 2  # each glossary's translation cached apart


def test_unsupported_detected_source_is_skipped_not_fatal() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es"])
    assert stage.push(sentence("Привет", lang="ru")) == []
    assert stage.push(sentence("??", lang="xx")) == []
    assert stage.skipped == 2 and tr.calls == []
    assert len(stage.push(sentence("Hi"))) == 1


def test_check_refuses_at_start() -> None:
    stage = TranslationStage(RecordingTranslator(), ["es", "ja"])
    with pytest.raises(LanguageError, match="en→ja"):
        stage.check("en")


def test_empty_text_and_no_targets() -> None:
    assert TranslationStage(RecordingTranslator(), ["es"]).push(sentence("   ")) == []
    with pytest.raises(LanguageError):
        TranslationStage(RecordingTranslator(), [])
    with pytest.raises(LanguageError):
        TranslationStage(RecordingTranslator(), ["qq"])


def test_backlog_is_translated_in_one_call_per_source_language() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es", "fr"])
    stage.push(sentence("cached", sid="c0"))
    batch = [
        sentence("one", sid="a"), sentence("你好", lang="zh", sid="b"),
        sentence("two", sid="c"), sentence("one", sid="d"), sentence("cached", sid="e"),
    ]
    events = stage.push_many(batch)
    assert tr.calls[1:] == [(["one", "two"], "en", ["es", "fr"]), (["你好"], "zh", ["es", "fr"])]
    assert [(e.id, e.lang) for e in events] == [
        (sid, lang) for sid in "abcde" for lang in ("es", "fr")
    ]
    assert events[6].text == "<es> one" and events[8].text == "<es> cached"
    assert stage.calls == 3


def test_a_draft_is_partial_and_primes_the_cache() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es", "fr"])
    events = stage.push_draft(sentence("Second so", sid="s2"))
    assert [(e.id, e.lang, e.kind, e.text) for e in events] == [
        ("s2", "es", "partial", "<es> Second so"), ("s2", "fr", "partial", "<fr> Second so"),
    ]
    # The sentence ends with the very text of its last draft: no second call.
    final = stage.push(sentence("Second so", sid="s2"))
    assert len(tr.calls) == 1 and [(e.kind, e.text) for e in final] == [
        ("final", "<es> Second so"), ("final", "<fr> Second so"),
    ]


def test_a_cancelled_draft_gives_nothing_and_caches_nothing() -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es"])
    assert stage.push_draft(sentence("Half a sent"), cancel=lambda: True) is None
    assert stage.cancelled == 1
    assert stage.push(sentence("Half a sent"))[0].text == "<es> Half a sent"
    assert len(tr.calls) == 2  # the final was translated afresh


def test_a_draft_in_a_language_the_model_lacks_is_dropped_quietly(caplog: pytest.LogCaptureFixture) -> None:
    tr = RecordingTranslator()
    stage = TranslationStage(tr, ["es"])
    assert stage.push_draft(sentence("Guten Morgen allerseits", lang="de")) == []
    assert stage.skipped == 0 and not caplog.records and not tr.calls
