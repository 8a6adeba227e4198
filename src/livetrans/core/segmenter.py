"""Final words → final caption events and whole sentences.

A sentence ends at sentence-final punctuation (``. ! ? 。 ！ ？ …``, abbreviations
such as "Mr." excepted), when it grows past a length limit (then it is cut at
the word that crosses the limit), or when the recogniser closes it: a long pause, a
change of language, or the end of the stream.

Live, a long sentence is also cut at a clause boundary (``, ; : ， 、 ；``) once
the part so far has ``clause_min_words`` words: a viewer of a translation would
otherwise wait for the end of the whole sentence to read any of it. Offline
transcription keeps whole sentences (``clause_min_words=None``), which translate
better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..types import CaptionEvent, SentenceEvent, Word
from .stabilizer import join_words
from .text import ends_clause_mark, ends_sentence_mark, has_cjk

_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e u.s u.k no sra sr srta dra".split()
)


@dataclass(frozen=True)
class SegmenterOptions:
    max_words: int = 40  # a sentence with more words than this is cut
    max_chars_cjk: int = 80  # the same for scripts written without spaces
    max_duration: float = 20.0  # seconds; a sentence longer than this is cut
    clause_min_words: int | None = 5  # cut at a clause boundary past this many words (CJK: ×2 chars)


def ends_sentence(word: Word) -> bool:
    text = word.text.strip()
    if not ends_sentence_mark(text):
        return False
    bare = text.rstrip(".").casefold()
    return not (text.endswith(".") and bare in _ABBREVIATIONS)


def capitalised(word: Word) -> Word:
    """A sentence starts with a capital (Whisper sometimes drops it on a partial window)."""
    text = word.text
    for i, ch in enumerate(text):
        if ch.isalpha():
            if ch.islower() and ch.upper() != ch:
                return replace(word, text=text[:i] + ch.upper() + text[i + 1 :])
            return word
    return word


def closes_sentence(words: Sequence[Word], options: SegmenterOptions) -> bool:
    """Whether a sentence whose words so far are ``words`` ends after the last one:
    sentence-final punctuation, too long, or (live) a clause boundary past
    ``clause_min_words``."""
    return ends_sentence(words[-1]) or _too_long(words, options) or _clause_done(words, options)


def _clause_done(words: Sequence[Word], options: SegmenterOptions) -> bool:
    minimum = options.clause_min_words
    if minimum is None or not ends_clause_mark(words[-1].text):
        return False
    text = join_words(words)
    size = len(text) // 2 if has_cjk(text) else len(words)
    return size >= minimum


def _too_long(words: Sequence[Word], options: SegmenterOptions) -> bool:
    text = join_words(words)
    too_long = len(text) > options.max_chars_cjk if has_cjk(text) else len(words) > options.max_words
    return too_long or words[-1].end - words[0].start > options.max_duration


class SentenceSegmenter:
    """Stage: runs of final words in → final CaptionEvents and SentenceEvents out."""

    def __init__(self, options: SegmenterOptions | None = None) -> None:
        self.options = options or SegmenterOptions()
        self._words: list[Word] = []
        self._caption_ids: list[str] = []
        self._lang = ""
        self._next_caption = 1
        self._next_sentence = 1

    @property
    def next_caption_id(self) -> str:
        """The id the next final will carry (partials announce it)."""
        return f"c{self._next_caption}"

    @property
    def open_sentence_id(self) -> str:
        return f"s{self._next_sentence}"

    @property
    def has_open_sentence(self) -> bool:
        return bool(self._words)

    @property
    def last_word_end(self) -> float | None:
        return self._words[-1].end if self._words else None

    def push(self, words: Sequence[Word], lang: str) -> list[CaptionEvent | SentenceEvent]:
        """Take newly final words (in order); return their finals and any closed sentences."""
        events: list[CaptionEvent | SentenceEvent] = []
        if self._words and lang != self._lang:
            events.extend(self.close())
        self._lang = lang
        run: list[Word] = []
        for word in words:
            if not self._words:
                word = capitalised(word)
            run.append(word)
            self._words.append(word)
            if closes_sentence(self._words, self.options):
                events.append(self._final(run))
                run = []
                events.extend(self._close_sentence())
        if run:
            events.append(self._final(run))
        return events

    def close(self) -> list[CaptionEvent | SentenceEvent]:
        """Close the open sentence, if any (a pause, a language change, the end)."""
        return self._close_sentence() if self._words else []

    def flush(self) -> list[CaptionEvent | SentenceEvent]:
        return self.close()


    def _final(self, run: list[Word]) -> CaptionEvent:
        caption_id = self.next_caption_id
        self._next_caption += 1
        self._caption_ids.append(caption_id)
        return CaptionEvent(
            kind="final",
            id=caption_id,
            start=run[0].start,
            end=run[-1].end,
            text=join_words(run),
            lang=self._lang,
            words=tuple(run),
            sentence_id=self.open_sentence_id,
        )

    def _close_sentence(self) -> list[CaptionEvent | SentenceEvent]:
        words, self._words = self._words, []
        caption_ids, self._caption_ids = self._caption_ids, []
        sentence = SentenceEvent(
            id=self.open_sentence_id,
            start=words[0].start,
            end=words[-1].end,
            text=join_words(words),
            lang=self._lang,
            words=tuple(words),
            caption_ids=tuple(caption_ids),
        )
        self._next_sentence += 1
        return [sentence]
