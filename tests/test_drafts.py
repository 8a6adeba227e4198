"""DraftTracker: what the open sentence looks like to a viewer, for translation drafts."""

from __future__ import annotations

from scripted import sentence_words

from livetrans.core.drafts import DraftTracker
from livetrans.core.segmenter import SegmenterOptions
from livetrans.types import CaptionEvent, SentenceEvent, Word


def final(words: list[Word], sid: str = "s1", cid: str = "c1", lang: str = "en") -> CaptionEvent:
    return CaptionEvent(kind="final", id=cid, start=words[0].start, end=words[-1].end,
                        text="".join(w.text for w in words).strip(), lang=lang, words=tuple(words),
                        sentence_id=sid)


def partial(words: list[Word], sid: str = "s1", cid: str = "c2", lang: str = "en") -> CaptionEvent:
    return CaptionEvent(kind="partial", id=cid, start=words[0].start if words else 0.0,
                        end=words[-1].end if words else 0.0,
                        text="".join(w.text for w in words).strip(), lang=lang, words=tuple(words),
                        sentence_id=sid)


def test_a_draft_is_the_final_words_and_the_partial_tail_once_per_change() -> None:
    tracker = DraftTracker()
    words = sentence_words("the sale starts at nine tonight", 0.0)
    tracker.push(final(words[:2]))
    assert tracker.take() is None  # two words: not worth a translation yet
    tracker.push(partial(words[2:4]))
    draft = tracker.take()
    assert draft is not None and draft.id == "s1" and draft.lang == "en"
    assert draft.text == "The sale starts at"  # capitalised as the sentence will be
    assert (draft.start, draft.end) == (words[0].start, words[3].end)
    assert tracker.take() is None  # nothing changed since
    tracker.push(partial(words[2:6]))
    assert tracker.take().text == "The sale starts at nine tonight"  # type: ignore[union-attr]


def test_the_tail_past_the_sentence_end_is_left_for_the_next_sentence() -> None:
    tracker = DraftTracker()
    first = sentence_words("prices drop tonight.", 0.0)
    tail = sentence_words("prices drop tonight. Stay tuned", 0.0)
    tracker.push(final(first[:1]))
    tracker.push(partial(tail[1:]))
    draft = tracker.take()
    assert draft is not None and draft.text == "Prices drop tonight."


def test_a_clause_boundary_ends_the_draft_where_the_live_segmenter_cuts() -> None:
    tracker = DraftTracker(SegmenterOptions(clause_min_words=5))
    words = sentence_words("one two three four five, six seven", 0.0)
    tracker.push(partial(words))
    assert tracker.take().text == "One two three four five,"  # type: ignore[union-attr]


def test_a_sentence_that_ended_is_no_longer_open() -> None:
    tracker = DraftTracker()
    words = sentence_words("we ship to every country.", 0.0)
    tracker.push(final(words))
    assert tracker.take() is not None and tracker.is_open("s1")
    tracker.push(SentenceEvent(id="s1", start=0.0, end=2.0, text="We ship to every country.", lang="en"))
    assert not tracker.is_open("s1") and tracker.take() is None
    nxt = sentence_words("and the next one", 3.0)
    tracker.push(partial(nxt, sid="s2", cid="c2"))
    draft = tracker.take()
    assert draft is not None and draft.id == "s2" and draft.text == "And the next one"
    assert not tracker.is_open("s1") and tracker.is_open("s2")


def test_chinese_drafts_count_characters_and_join_without_spaces() -> None:
    tracker = DraftTracker()
    words = [Word(0.0, 0.4, "今天"), Word(0.4, 0.8, "晚上"), Word(0.8, 1.2, "八点")]
    tracker.push(partial(words[:2], lang="zh"))
    assert tracker.take() is None  # 4 characters count as 2 words
    tracker.push(partial(words, lang="zh"))
    draft = tracker.take()
    assert draft is not None and draft.text == "今天晚上八点" and draft.lang == "zh"


def test_a_draft_that_was_stopped_is_offered_again() -> None:
    tracker = DraftTracker()
    tracker.push(partial(sentence_words("limited stock left today", 0.0)))
    draft = tracker.take()
    assert draft is not None and tracker.take() is None
    tracker.retry(draft)
    assert tracker.take() == draft


def test_a_respelt_word_waits_for_the_next_word_before_a_new_draft() -> None:
    tracker = DraftTracker()
    words = sentence_words("the sale starts at nine", 0.0)
    tracker.push(partial(words[:3]))
    assert tracker.take() is not None
    respelt = [*words[:2], Word(words[2].start, words[2].end, " start")]
    tracker.push(partial(respelt))
    assert tracker.take() is None  # same length: the translator stays free for new words
    tracker.push(partial([*respelt, words[3]]))
    assert tracker.take().text == "The sale start at"  # type: ignore[union-attr]
