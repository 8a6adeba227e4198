"""The live captions of a stream: the words the commit policy decided, as events.

Newly final words go to the segmenter (segmenter.py: final captions, and sentences
as they close) and join the decode window's final words, forced from then on; the
tentative words after them are the partial caption (:class:`PartialCaption`), sent
again only when it changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..types import CaptionEvent, SentenceEvent, Word
from .segmenter import SentenceSegmenter
from .stabilizer import join_words
from .window import DecodeWindow

__all__ = ["LiveCaptions", "PartialCaption"]


class PartialCaption:
    """The tentative words shown after the last final: a partial caption event each
    time its text, or the caption it belongs to, changes."""

    def __init__(self) -> None:
        self._text = ""
        self._caption_id = ""

    def update(
        self, tentative: Sequence[Word], *, caption_id: str, sentence_id: str, language: str, cleared_at: float
    ) -> list[CaptionEvent]:
        """The partial event for ``tentative`` (none if nothing changed); an empty one
        clears the tentative text, placed at ``cleared_at`` (where the last final ended)."""
        text = join_words(tentative)
        if text == self._text and (caption_id == self._caption_id or not text):
            return []
        self._text, self._caption_id = text, caption_id
        start, end = (tentative[0].start, tentative[-1].end) if tentative else (cleared_at, cleared_at)
        return [
            CaptionEvent(
                kind="partial",
                id=caption_id,
                start=start,
                end=end,
                text=text,
                lang=language,
                words=tuple(tentative),
                sentence_id=sentence_id,
            )
        ]


class LiveCaptions:
    """The commit policy's newly final and tentative words in, caption and sentence
    events out: through ``segmenter``, the finals into ``window``."""

    def __init__(self, segmenter: SentenceSegmenter, window: DecodeWindow) -> None:
        self._segmenter = segmenter
        self._window = window
        self._shown = PartialCaption()

    def take(
        self, newly_final: Sequence[Word], tentative: Sequence[Word], language: str
    ) -> list[CaptionEvent | SentenceEvent]:
        """The events of one decision in ``language``: the finals and the sentences
        they close, then the partial."""
        events = self._segmenter.push(newly_final, language)
        self._window.commit(newly_final)
        return events + self.partial(tentative, language)

    def partial(self, tentative: Sequence[Word], language: str) -> list[CaptionEvent]:
        """The partial caption of ``tentative`` (none if unchanged), announcing the
        caption and sentence the next final goes in; with no words it is cleared
        where the window's final words end."""
        return self._shown.update(
            tentative,
            caption_id=self._segmenter.next_caption_id,
            sentence_id=self._segmenter.open_sentence_id,
            language=language,
            cleared_at=self._window.final_end,
        )
