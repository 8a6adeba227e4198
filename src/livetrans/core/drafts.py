"""The open sentence as a viewer sees it, for translation drafts (pure).

A sentence is translated when it ends; a viewer of a translation would otherwise
read nothing of it until then (half a sentence's length plus the time to close and
translate it: about 3.7 s a word on 2 cores). So, live, the sentence so far (its
final words and the recogniser's partial tail) is also translated while it is being
spoken, as a *draft* that the next draft or the final translation replaces.

:class:`DraftTracker` follows the recogniser's events and says what the current
draft is, once it has grown by a word since the last one was taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import CaptionEvent, Event, SentenceEvent, Word
from .segmenter import SegmenterOptions, capitalised, closes_sentence
from .stabilizer import join_words
from .text import has_cjk


@dataclass(frozen=True)
class DraftOptions:
    min_words: int = 3  # a draft of fewer words (CJK: ×2 characters) is not worth translating


class DraftTracker:
    """The open sentence: its final words, then the partial tail up to where the
    segmenter would end the sentence (the rest of the tail starts the next one), so
    that a draft made on the whole sentence is the text its final will have."""

    def __init__(self, segmenter: SegmenterOptions | None = None, options: DraftOptions | None = None) -> None:
        self.segmenter = segmenter or SegmenterOptions()
        self.options = options or DraftOptions()
        self._id = ""  # the open sentence's id
        self._finals: list[Word] = []
        self._tail: tuple[Word, ...] = ()
        self._lang = ""
        self._taken_words = 0  # the length in words of the last draft taken for the open sentence

    def push(self, event: Event) -> None:
        if isinstance(event, SentenceEvent):
            if event.id == self._id:
                self._open("")
        elif isinstance(event, CaptionEvent):
            if event.sentence_id != self._id:
                self._open(event.sentence_id)
            self._lang = event.lang
            if event.kind == "final":
                self._finals.extend(event.words)
                self._tail = ()
            else:
                self._tail = event.words

    def is_open(self, sentence_id: str) -> bool:
        """False once the sentence has ended (a draft of it must no longer be shown)."""
        return bool(sentence_id) and sentence_id == self._id

    def take(self) -> SentenceEvent | None:
        """The open sentence so far, if it has more words than the last draft and is
        long enough; None otherwise. (A word respelt in place waits for the next word:
        the translator stays free sooner for new words, and the final fixes the text.)"""
        words = list(self._finals)
        for word in self._tail:
            words.append(word)
            if closes_sentence(words, self.segmenter):
                break
        if words:
            words[0] = capitalised(words[0])  # as the segmenter will
        text = join_words(words)
        if not self._id or not text or len(words) <= self._taken_words:
            return None  # nothing new to translate (a respelt word waits for the next one)
        size = len(text) // 2 if has_cjk(text) else len(words)
        if size < self.options.min_words:
            return None
        self._taken_words = len(words)
        return SentenceEvent(
            id=self._id, start=words[0].start, end=words[-1].end, text=text, lang=self._lang, words=tuple(words)
        )

    def retry(self, draft: SentenceEvent) -> None:
        """The draft was not shown (its translation was stopped): offer it again."""
        if draft.id == self._id and len(draft.words) == self._taken_words:
            self._taken_words = 0

    def _open(self, sentence_id: str) -> None:
        self._id = sentence_id
        self._finals = []
        self._tail = ()
        self._taken_words = 0
