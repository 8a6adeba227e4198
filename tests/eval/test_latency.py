"""The translated-caption latency the benchmark reports: to the final translation,
and to the first translation (draft or final) that showed each word."""

from __future__ import annotations

from livetrans.evaluation.latency import translation_latencies
from livetrans.types import SentenceEvent, TranslationEvent, Word

WORDS = (Word(0.0, 0.5, " Big"), Word(0.5, 1.0, " sale"), Word(1.0, 1.5, " tonight."))
SENTENCE = SentenceEvent(id="s1", start=0.0, end=1.5, text="Big sale tonight.", lang="en", words=WORDS,
                         emitted_at=2.5)


def tr(kind: str, end: float, emitted_at: float, lang: str = "es") -> TranslationEvent:
    return TranslationEvent(id="s1", lang=lang, source_lang="en", text="x", start=0.0, end=end,
                            kind=kind, emitted_at=emitted_at)  # type: ignore[arg-type]


def test_final_latency_counts_from_each_word_end_to_the_final_translation() -> None:
    events = [tr("partial", 1.0, 2.0), SENTENCE, tr("final", 1.5, 4.0)]
    assert translation_latencies(events) == {"es": [3.5, 3.0, 2.5]}


def test_first_shown_takes_the_first_draft_that_covered_the_word() -> None:
    # The draft emitted at 2.0 s covered "Big sale" (its source ended at 1.0 s); "tonight." came
    # with the second draft at 3.5 s, before the final.
    events = [tr("partial", 1.0, 2.0), tr("partial", 1.5, 3.5), SENTENCE, tr("final", 1.5, 4.0)]
    assert translation_latencies(events, first_shown=True) == {"es": [1.5, 1.0, 2.0]}


def test_a_sentence_without_a_final_translation_is_not_counted() -> None:
    assert translation_latencies([tr("partial", 1.5, 2.0), SENTENCE]) == {}
